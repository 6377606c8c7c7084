/**
 * The first-layer split (docs/performance.md, "The first layer, once per bar").
 *
 * A position-aware policy is inferred one step at a time, because its observation holds the position
 * the policy took at the previous step. But in an MLP the first layer is a product of the whole
 * observation with a constant matrix, y = x·W (+ C), and only the state columns of x (position,
 * unrealized return: `stateIndices`) depend on the step; the rest depends on the decision bar alone.
 * So the product splits exactly:
 *
 *   x·W = x_bar·W_bar + x_state·W_state
 *
 * where W_bar is W with the state rows set to zero. The "trunk" model computes x·W_bar once per
 * distinct decision bar, in large batches; the "head" model is the original graph whose first layer
 * takes the trunk's row and the state columns instead of the observation, so each step multiplies
 * the state columns instead of all D. A state feature holds the same value in every row, so its W
 * columns are one group, multiplied once by the sum of their weights: 2 values instead of 5 900 in
 * the benchmark's cards (200 columns in 2 groups).
 *
 * It is only planned where that identity holds as the graph is written: the observation input, flat or
 * through nodes that leave float32 values as they are (Cast to float, Identity, one Flatten(axis 1)),
 * feeds only MatMul or Gemm nodes (transA 0, alpha 1) whose weights are float32 initializers of the right
 * shape that no input overrides — one first layer, or several (stable-baselines3's policy and value
 * function), each split the same way. Everything else (a LayerNorm
 * or a normalisation first, a skip connection that reads the observation again, computed weights,
 * control-flow subgraphs) is refused with the reason, and the full model runs. Floating-point sums
 * in another order differ in their last bits, so the result is checked against the full model before
 * it is used, and decisions close to a tie are recomputed with the full model (src/core/drive.ts).
 *
 * The two models are written by copying the original's protobuf fields, leaving out or replacing
 * the few that change (messages are concatenations of fields), so nothing else of the graph is
 * re-encoded.
 */
import type { StateColumns } from '../../core/observation.js';
import { buildConvTrunk, convCost, type ConvLayout, type ConvTrunkPlan } from './conv-trunk.js';
import { fieldText, floatValueInfo as valueInfo, lenField, PbWriter, readFields, type PbField, type Parts } from './protobuf.js';

/** Names of the split models' tensors (chosen so they cannot clash with an exporter's names). */
export const SPLIT_NAMES = {
  trunkInput: 'policy_gate.split.observation',
  headState: 'policy_gate.split.state',
} as const;

/** The trunk's output k, which is the head's input k: the bar part of first layer k. */
export function splitName(what: 'trunk', k: number): string {
  return `policy_gate.split.${what}.${k}`;
}

export interface SplitPlan {
  /**
   * Observation [batch, D] → the bar part of each first layer, `splitName('trunk', k)` [batch, H_k]: the
   * model's bytes in parts (slices of the original's weights around zeros), so they are copied once, where
   * the model is loaded (`joinParts` joins them).
   */
  trunk: Uint8Array[];
  /** The original graph with the state column groups [batch, G] and the trunk's rows as inputs instead of the observation. */
  head: Uint8Array;
  /** Width of each first layer (H_k). */
  hidden: number[];
  /** E.g. `Gemm "fc1" [5900 × 256]`, for the report. */
  firstLayer: string;
  /**
   * The trunk as a convolution over time (./conv-trunk.ts), for runs of consecutive decision bars; null
   * when no layout was given or it would not save at least half of the trunk's multiply-adds.
   */
  conv: ConvTrunkPlan | null;
}

interface Layer {
  node: Node;
  w: Tensor;
  /** The weights' raw bytes. */
  W: Uint8Array;
  D: number;
  H: number;
  transB: number;
  beta: number;
  /** The bias input's name ('' when none). */
  C: string;
}

/**
 * W (raw float32, in its own layout, so the trunk runs the original's kernel) with the state weights
 * zeroed, as slices of the original bytes around zeros: the megabytes of weights are copied once, when
 * the trunk is assembled.
 */
function weightsWithoutState(W: Uint8Array, D: number, H: number, transB: number, stateIndices: Int32Array): Parts {
  const parts: Parts = [];
  // Zeroed runs, in bytes: a state row of H values ([D, H]), or one value per row of [H, D].
  const run = transB ? 4 : 4 * H;
  const zeros = new Uint8Array(run);
  const rows = transB ? H : 1;
  const rowBytes = transB ? 4 * D : 4 * D * H;
  for (let r = 0; r < rows; r++) {
    let from = r * rowBytes;
    for (const i of stateIndices) {
      const at = r * rowBytes + i * run;
      if (at > from) parts.push(W.subarray(from, at));
      parts.push(zeros);
      from = at + run;
    }
    if (from < (r + 1) * rowBytes) parts.push(W.subarray(from, (r + 1) * rowBytes));
  }
  return parts;
}

export type SplitOutcome = { ok: true; plan: SplitPlan } | { ok: false; reason: string };

const FLOAT = 1;

interface Attr {
  name: string;
  ints: number | null;
  float: number | null;
  hasGraph: boolean;
}

interface Node {
  f: PbField;
  inputs: string[];
  outputs: string[];
  name: string;
  op: string;
  domain: string;
  attrs: Attr[];
}

interface Tensor {
  f: PbField;
  name: string;
  dims: number[];
  dataType: number;
  raw: PbField | null;
  floats: PbField[];
  external: boolean;
}

function readAttr(buf: Uint8Array, a: PbField): Attr {
  const attr: Attr = { name: '', ints: null, float: null, hasGraph: false };
  for (const f of readFields(buf, a.start, a.end)) {
    if (f.field === 1 && f.wire === 2) attr.name = fieldText(buf, f);
    else if (f.field === 3 && f.wire === 0) attr.ints = f.value;
    else if (f.field === 2 && f.wire === 5) attr.float = new DataView(buf.buffer, buf.byteOffset + f.start, 4).getFloat32(0, true);
    else if (f.field === 6 || f.field === 11) attr.hasGraph = true;
  }
  return attr;
}

function readNode(buf: Uint8Array, n: PbField): Node {
  const node: Node = { f: n, inputs: [], outputs: [], name: '', op: '', domain: '', attrs: [] };
  for (const f of readFields(buf, n.start, n.end)) {
    if (f.wire !== 2) continue;
    if (f.field === 1) node.inputs.push(fieldText(buf, f));
    else if (f.field === 2) node.outputs.push(fieldText(buf, f));
    else if (f.field === 3) node.name = fieldText(buf, f);
    else if (f.field === 4) node.op = fieldText(buf, f);
    else if (f.field === 7) node.domain = fieldText(buf, f);
    else if (f.field === 5) node.attrs.push(readAttr(buf, f));
  }
  return node;
}

function readTensor(buf: Uint8Array, t: PbField): Tensor {
  const tensor: Tensor = { f: t, name: '', dims: [], dataType: 0, raw: null, floats: [], external: false };
  for (const f of readFields(buf, t.start, t.end)) {
    if (f.field === 1) {
      if (f.wire === 0) tensor.dims.push(f.value);
      else if (f.wire === 2) for (const d of readPacked(buf, f)) tensor.dims.push(d);
    } else if (f.field === 2 && f.wire === 0) tensor.dataType = f.value;
    else if (f.field === 8 && f.wire === 2) tensor.name = fieldText(buf, f);
    else if (f.field === 9 && f.wire === 2) tensor.raw = f;
    else if (f.field === 4) tensor.floats.push(f);
    else if (f.field === 13 || (f.field === 14 && f.value === 1)) tensor.external = true;
  }
  return tensor;
}

/** The varints of a packed repeated field. */
function readPacked(buf: Uint8Array, f: PbField): number[] {
  const out: number[] = [];
  let pos = f.start;
  while (pos < f.end) {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) break;
      mul *= 128;
    }
    out.push(v);
  }
  return out;
}

/**
 * A float32 tensor's raw little-endian bytes (raw_data, or float_data packed or not), without copying
 * raw_data; null when they do not hold `count` values.
 */
function tensorBytes(buf: Uint8Array, t: Tensor, count: number): Uint8Array | null {
  if (t.raw !== null) return t.raw.end - t.raw.start === count * 4 ? buf.subarray(t.raw.start, t.raw.end) : null;
  const out = new Uint8Array(count * 4);
  let k = 0;
  for (const f of t.floats) {
    const n = f.end - f.start;
    if (n % 4 !== 0 || k + n > out.length) return null;
    out.set(buf.subarray(f.start, f.end), k);
    k += n;
  }
  return k === out.length ? out : null;
}

function intAttr(name: string, value: number): Uint8Array {
  const w = new PbWriter();
  w.string(1, name);
  w.int(3, value);
  w.int(20, 2); // AttributeProto.INT
  return w.finish();
}

function nodeBytes(op: string, inputs: string[], outputs: string[], name: string, attrs: Uint8Array[] = []): Uint8Array {
  const w = new PbWriter();
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  w.string(3, name);
  w.string(4, op);
  for (const a of attrs) w.message(5, a);
  return w.finish();
}

/** Parts of a message as one buffer. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function floatTensor(name: string, dims: number[], data: Float32Array | Parts): Parts {
  const w = new PbWriter();
  for (const d of dims) w.int(1, d);
  w.int(2, FLOAT);
  w.string(8, name);
  return [w.finish(), ...lenField(9, data instanceof Float32Array ? [new Uint8Array(data.buffer, data.byteOffset, data.byteLength)] : data)];
}

/**
 * Plans the split of `bytes` (a model already accepted by loadPolicyModel) for observations of `size`
 * values fed to input `input`, whose state columns are `state.indices` (flat, ascending). The head takes
 * one value per group of state columns (`state.groupFirst`): the columns of a group always hold the same
 * value, so their weights are summed (in float64, rounded once) and multiplied once. Never throws on a
 * model it cannot split: it says why.
 */
export function planFirstLayerSplit(bytes: Uint8Array, input: string, size: number, state: StateColumns, layout: ConvLayout | null = null): SplitOutcome {
  try {
    return plan(bytes, input, size, state, layout);
  } catch (err) {
    return { ok: false, reason: `the model could not be read for the split (${err instanceof Error ? err.message : String(err)})` };
  }
}

function plan(bytes: Uint8Array, input: string, size: number, state: StateColumns, layout: ConvLayout | null): SplitOutcome {
  const refuse = (reason: string): SplitOutcome => ({ ok: false, reason });
  const stateIndices = state.indices;
  if (stateIndices.length === 0) return refuse('the observation has no state columns: each decision bar is inferred once already');
  const model = readFields(bytes);
  const graphFields = model.filter((f) => f.field === 7 && f.wire === 2);
  if (graphFields.length !== 1) return refuse('the model has no single graph');
  const g = graphFields[0]!;
  let defaultOpset = 0;
  for (const f of model) {
    if (f.field !== 8 || f.wire !== 2) continue;
    let domain = '';
    let version = 0;
    for (const o of readFields(bytes, f.start, f.end)) {
      if (o.field === 1 && o.wire === 2) domain = fieldText(bytes, o);
      else if (o.field === 2 && o.wire === 0) version = o.value;
    }
    if (domain === '' || domain === 'ai.onnx') defaultOpset = version;
  }
  if (defaultOpset < 7) return refuse(`the model's default opset is ${defaultOpset}; the split needs opset 7 or later`);

  const graph = readFields(bytes, g.start, g.end);
  const nodes: Node[] = [];
  const inits = new Map<string, Tensor>();
  const inputNames: string[] = [];
  const outputNames = new Set<string>();
  for (const f of graph) {
    if (f.wire !== 2) continue;
    if (f.field === 1) nodes.push(readNode(bytes, f));
    else if (f.field === 5) {
      const t = readTensor(bytes, f);
      inits.set(t.name, t);
    } else if (f.field === 11 || f.field === 12) {
      let name = '';
      for (const v of readFields(bytes, f.start, f.end)) if (v.field === 1 && v.wire === 2) name = fieldText(bytes, v);
      if (f.field === 11) inputNames.push(name);
      else outputNames.add(name);
    } else if (f.field === 15) return refuse('the graph has sparse initializers');
  }
  if (!inputNames.includes(input)) return refuse(`"${input}" is not an input of the graph`);
  if (nodes.some((n) => n.attrs.some((a) => a.hasGraph))) return refuse('the graph has control flow (a subgraph in If, Loop or Scan)');
  const consumers = (name: string): Node[] => nodes.filter((n) => n.inputs.includes(name));
  const describe = (ns: Node[]): string => ns.map((n) => n.op + (n.name ? ` "${n.name}"` : '')).join(', ');

  // The observation may pass through nodes that leave our float32 values as they are: a Cast to float
  // (stable-baselines3's `obs.float()`), an Identity, and one Flatten(axis 1) of a [batch, W, F] input.
  let x = input;
  const passed: Node[] = [];
  let users = consumers(x);
  for (;;) {
    if (outputNames.has(x)) return refuse(`the observation ("${x}") is also a graph output`);
    const only = users.length === 1 ? users[0]! : null;
    if (only === null || only.domain !== '' || only.inputs[0] !== x || only.inputs.length !== 1) break;
    if (only.op === 'Cast') {
      const to = only.attrs.find((a) => a.name === 'to')?.ints;
      if (to !== FLOAT) return refuse(`the observation goes through a Cast to type ${to}, not to float32`);
    } else if (only.op === 'Flatten') {
      const axis = only.attrs.find((a) => a.name === 'axis')?.ints ?? 1;
      if (axis !== 1) return refuse(`the observation goes through Flatten(axis ${axis}), not Flatten(axis 1)`);
      if (passed.some((n) => n.op === 'Flatten')) return refuse('the observation goes through two Flatten nodes');
    } else if (only.op !== 'Identity') break;
    passed.push(only);
    x = only.outputs[0]!;
    users = consumers(x);
  }
  if (users.length === 0) return refuse('the observation feeds no node');

  // Each node reading the observation must be a first layer: a MatMul or Gemm of it with constant weights
  // (stable-baselines3's exports have two: the policy's and the value function's).
  const layers: Layer[] = [];
  for (const first of users) {
    const named = `${first.op}${first.name ? ` "${first.name}"` : ''}`;
    if (first.domain !== '' || (first.op !== 'MatMul' && first.op !== 'Gemm')) {
      return refuse(
        users.length === 1 ? `the observation's first node is ${named}, not a MatMul or Gemm` : `the observation feeds ${users.length} nodes (${describe(users)}) and ${named} is not a MatMul or Gemm`,
      );
    }
    if (first.inputs[0] !== x || first.inputs.slice(1).includes(x)) return refuse(`the observation is not the first operand of ${named}`);
    let transB = 0;
    let beta = 1;
    if (first.op === 'Gemm') {
      const attr = (name: string): Attr | undefined => first.attrs.find((a) => a.name === name);
      if ((attr('transA')?.ints ?? 0) !== 0) return refuse(`${named} has transA 1`);
      const alpha = attr('alpha')?.float ?? 1;
      if (alpha !== 1) return refuse(`${named} has alpha ${alpha}`);
      transB = attr('transB')?.ints ?? 0;
      beta = attr('beta')?.float ?? 1;
    }
    const wName = first.inputs[1]!;
    const w = inits.get(wName);
    if (!w) return refuse(`the weights of ${named} are computed in the graph, not a constant initializer`);
    if (inputNames.includes(wName)) return refuse(`the weights "${wName}" are also a graph input, so a caller could replace them`);
    if (w.external) return refuse(`the weights "${wName}" are stored outside the model`);
    if (w.dataType !== FLOAT) return refuse(`the weights "${wName}" are not float32`);
    if (w.dims.length !== 2) return refuse(`the weights "${wName}" have ${w.dims.length} dimensions`);
    const [d0, d1] = w.dims as [number, number];
    const D = transB ? d1 : d0;
    const H = transB ? d0 : d1;
    if (D !== size) return refuse(`the weights "${wName}" take ${D} values per row, the observation has ${size}`);
    const W = tensorBytes(bytes, w, D * H);
    if (W === null) return refuse(`the weights "${wName}" could not be read`);
    layers.push({ node: first, w, W, D, H, transB, beta, C: first.op === 'Gemm' ? (first.inputs[2] ?? '') : '' });
  }
  for (const i of stateIndices) if (!(i >= 0 && i < size)) return refuse(`state column ${i} is outside the observation of ${size}`);
  const G = state.groupFirst.length;
  if (state.groupOf.length !== stateIndices.length || state.groupOf.some((g) => !(g >= 0 && g < G))) return refuse('the state column groups do not match the state columns');

  // Copied from the original: ir_version, opsets, producer and the rest of ModelProto but the graph.
  const modelRest: Parts = model.filter((f) => !(f.field === 7 && f.wire === 2)).map((f) => bytes.subarray(f.at, f.end));
  const message = (field: number, m: Uint8Array): Parts => lenField(field, [m]);

  // ---- trunk: observation [batch, D] · W_bar for each first layer
  const trunkGraph: Parts = [...lenField(2, [new TextEncoder().encode('policy_gate_trunk')]), ...message(11, valueInfo(SPLIT_NAMES.trunkInput, ['batch', size]))];
  const headNodes = new Map<Node, Uint8Array[]>();
  const headExtras: Parts = [];
  layers.forEach((l, k) => {
    const { D, H, transB, W } = l;
    const wBarName = `policy_gate.split.w_bar.${k}`;
    const out = splitName('trunk', k);
    trunkGraph.push(...message(1, nodeBytes(transB ? 'Gemm' : 'MatMul', [SPLIT_NAMES.trunkInput, wBarName], [out], out, transB ? [intAttr('transB', 1)] : [])));
    trunkGraph.push(...lenField(5, floatTensor(wBarName, transB ? [H, D] : [D, H], weightsWithoutState(W, D, H, transB, stateIndices))));
    trunkGraph.push(...message(12, valueInfo(out, ['batch', H])));

    // The head: state groups · W_state + the trunk's row (+ beta · C), under the first layer's output name.
    const sums = new Float64Array(G * H);
    const view = new DataView(W.buffer, W.byteOffset, W.byteLength);
    for (let j = 0; j < stateIndices.length; j++) {
      const i = stateIndices[j]!;
      const g = state.groupOf[j]!;
      for (let h = 0; h < H; h++) sums[g * H + h] += view.getFloat32(4 * (transB ? h * D + i : i * H + h), true);
    }
    const wState = Float32Array.from(sums);
    const p = (what: string): string => `policy_gate.split.${what}.${k}`;
    const y = l.node.outputs[0]!;
    const name = l.node.name || p('first_layer');
    // One Gemm: state · W_state + the trunk's row (a kernel fewer per step than MatMul, then Add).
    const nodesK: Uint8Array[] = [];
    if (l.C === '') nodesK.push(nodeBytes('Gemm', [SPLIT_NAMES.headState, p('w_state'), splitName('trunk', k)], [y], name));
    else {
      nodesK.push(nodeBytes('Gemm', [SPLIT_NAMES.headState, p('w_state'), splitName('trunk', k)], [p('product')], p('product')));
      let bias = l.C;
      if (l.beta !== 1) {
        nodesK.push(nodeBytes('Mul', [l.C, p('beta')], [p('bias')], p('bias')));
        headExtras.push(...lenField(5, floatTensor(p('beta'), [], Float32Array.of(l.beta))));
        bias = p('bias');
      }
      nodesK.push(nodeBytes('Add', [p('product'), bias], [y], name));
    }
    headNodes.set(l.node, nodesK);
    headExtras.push(...lenField(5, floatTensor(p('w_state'), [G, H], wState)));
  });
  const trunkParts = [...modelRest, ...lenField(7, trunkGraph)];
  // Hundreds of thousands of slices (weights stored [H, D], zeroed per row) are not worth sending apart.
  const trunk = trunkParts.length > 4096 ? [joinParts(trunkParts)] : trunkParts;

  // ---- head: the original graph, its first layers fed by the state columns and the trunk's rows
  const firstNodes = new Set(layers.map((l) => l.node));
  const droppedWeights = new Set(layers.filter((l) => !nodes.some((n) => !firstNodes.has(n) && n.inputs.includes(l.w.name))).map((l) => l.w.f));
  const passedNodes = new Set(passed);
  const passedNames = new Set(passed.map((n) => n.outputs[0]!));
  const nameOf = (f: PbField): string => {
    let name = '';
    for (const v of readFields(bytes, f.start, f.end)) if (v.field === 1 && v.wire === 2) name = fieldText(bytes, v);
    return name;
  };
  const headGraph: Parts = [];
  for (const f of graph) {
    if (f.wire === 2) {
      if (f.field === 1) {
        const n = nodes.find((m) => m.f === f)!;
        if (passedNodes.has(n)) continue;
        const replaced = headNodes.get(n);
        if (replaced) {
          for (const r of replaced) headGraph.push(...message(1, r));
          continue;
        }
      } else if (f.field === 5 && droppedWeights.has(f)) continue;
      else if (f.field === 11 && nameOf(f) === input) continue;
      else if (f.field === 13 && passedNames.has(nameOf(f))) continue;
    }
    headGraph.push(bytes.subarray(f.at, f.end));
  }
  headGraph.push(...headExtras);
  headGraph.push(...message(11, valueInfo(SPLIT_NAMES.headState, ['batch', G])));
  for (const [k, l] of layers.entries()) headGraph.push(...message(11, valueInfo(splitName('trunk', k), ['batch', l.H])));
  const head = joinParts([...modelRest, ...lenField(7, headGraph)]);

  return {
    ok: true,
    plan: {
      trunk,
      head,
      hidden: layers.map((l) => l.H),
      firstLayer: layers.map((l) => `${l.node.op}${l.node.name ? ` "${l.node.name}"` : ''} [${l.D} × ${l.H}]`).join(', '),
      conv: convPlan(layers, layout, size, modelRest),
    },
  };
}

/** The convolution trunk when the layout matches the weights and it saves at least half of the trunk's work. */
function convPlan(layers: readonly Layer[], layout: ConvLayout | null, size: number, header: Parts): ConvTrunkPlan | null {
  if (layout === null || layout.window * layout.features !== size || layout.column.length === 0) return null;
  const H = Math.max(...layers.map((l) => l.H));
  const cost = convCost(layout, H);
  if (!(cost.conv <= cost.direct / 2)) return null;
  return buildConvTrunk(layers, layout, joinParts(header));
}
