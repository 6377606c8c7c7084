/**
 * A zero-dependency ONNX writer for tests, examples and benchmarks.
 *
 * It hand-encodes the protobuf messages of onnx.proto (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, ValueInfoProto, TypeProto, OperatorSetIdProto, FunctionProto,
 * StringStringEntryProto) — IR version 8, default opset 17 — which is all that small policy
 * networks need. Field numbers were checked against onnx 1.12's generated descriptors, and the
 * models it writes pass `onnx.checker.check_model(full_check=True)`.
 *
 * Builders:
 *   - buildMlp:       Gemm layers + Tanh/Relu, optional Softmax output, optional continuous (Tanh) head,
 *                     input [batch, D] or [batch, W, F] (+ Flatten or Reshape);
 *   - buildRecurrent: one Elman cell, h_out = tanh(obs·Wx + h_in·Wh + b), logits = h_out·Wo + bo;
 *   - encodeModel:    any graph from plain data (nodes, initializers, inputs, outputs).
 * Each builder has a float64 reference forward pass (mlpForward, rnnForward) that uses exactly the
 * float32 weights written into the model, so ONNX Runtime and the reference agree to ~1e-6.
 *
 * Nothing here is used at run time by the CLI; it lives in src/ so examples can be generated from a clone.
 */

import { PbWriter } from '../adapters/onnx/protobuf.js';

// ------------------------------------------------------------------ model description (plain data)

export type ElemType = 'float32' | 'float64' | 'int64' | 'int32';

const ELEM_TYPE_CODE: Record<ElemType, number> = { float32: 1, int32: 6, int64: 7, float64: 11 };

export interface ExternalDataRef {
  /** File name relative to the model, as torch.onnx.export writes it. */
  location: string;
  offset?: number;
  length?: number;
}

export interface TensorSpec {
  name: string;
  dims: number[];
  dataType: ElemType;
  /** Values in row-major order; int64 values may be bigint. Ignored when `external` is set. */
  data: ArrayLike<number> | readonly bigint[];
  /** Write the tensor as external data (data_location = EXTERNAL, no raw_data): for tests of loaders that must refuse it. */
  external?: ExternalDataRef;
}

export interface ValueInfoSpec {
  name: string;
  elemType: ElemType;
  /** A number is a fixed dimension, a string a symbolic one (dim_param), e.g. 'batch'. */
  shape: (number | string)[];
}

export type AttributeSpec =
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'ints'; value: number[] }
  | { name: string; type: 'floats'; value: number[] }
  | { name: string; type: 'tensor'; value: TensorSpec }
  /** Inside a function body: the value of the calling node's attribute `ref` (or the function's default for it). */
  | { name: string; type: 'ref'; ref: string; refType: 'tensor' | 'int' | 'float' };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: AttributeSpec[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers: TensorSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
}

/** A model-local function (FunctionProto, IR ≥ 8): called by a node whose op_type and domain name it. */
export interface FunctionSpec {
  name: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Attributes without a default (FunctionProto.attribute). */
  attributes?: string[];
  /** Attributes with a default value (FunctionProto.attribute_proto). */
  attributeDefaults?: AttributeSpec[];
  nodes: NodeSpec[];
}

export interface ModelSpec {
  graph: GraphSpec;
  /** ModelProto.functions; each function's domain is imported at version 1. */
  functions?: FunctionSpec[];
  /** Default 8. */
  irVersion?: number;
  /** Default 17 (the ai.onnx domain). */
  opset?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** ModelProto.metadata_props. */
  metadata?: Record<string, string>;
}

function encodeTensor(t: TensorSpec): Uint8Array {
  const w = new PbWriter();
  for (const d of t.dims) w.int(1, d); // dims (repeated int64, unpacked)
  w.int(2, ELEM_TYPE_CODE[t.dataType]); // data_type
  w.string(8, t.name); // name
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (t.external) {
    const entries: [string, string][] = [['location', t.external.location]];
    if (t.external.offset !== undefined) entries.push(['offset', String(t.external.offset)]);
    entries.push(['length', String(t.external.length ?? count * elemSize(t.dataType))]);
    for (const [k, v] of entries) w.message(13, encodeStringEntry(k, v)); // external_data
    w.int(14, 1); // data_location = EXTERNAL
    return w.finish();
  }
  if (t.data.length !== count) {
    throw new Error(`tensor ${t.name}: dims [${t.dims.join(',')}] need ${count} values, got ${t.data.length}`);
  }
  w.bytes(9, tensorRawData(t)); // raw_data, little-endian
  return w.finish();
}

function elemSize(type: ElemType): number {
  return type === 'float32' || type === 'int32' ? 4 : 8;
}

function tensorRawData(t: TensorSpec): Uint8Array {
  const n = t.data.length;
  const raw = new Uint8Array(n * elemSize(t.dataType));
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) {
    const v = t.data[i] as number | bigint;
    switch (t.dataType) {
      case 'float32':
        view.setFloat32(i * 4, Number(v), true);
        break;
      case 'float64':
        view.setFloat64(i * 8, Number(v), true);
        break;
      case 'int32':
        view.setInt32(i * 4, Number(v), true);
        break;
      case 'int64':
        view.setBigInt64(i * 8, typeof v === 'bigint' ? v : BigInt(v), true);
        break;
    }
  }
  return raw;
}

function encodeStringEntry(key: string, value: string): Uint8Array {
  const w = new PbWriter();
  w.string(1, key);
  w.string(2, value);
  return w.finish();
}

function encodeValueInfo(v: ValueInfoSpec): Uint8Array {
  const shape = new PbWriter();
  for (const d of v.shape) {
    const dim = new PbWriter();
    if (typeof d === 'number')
      dim.int(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim.finish());
  }
  const tensorType = new PbWriter();
  tensorType.int(1, ELEM_TYPE_CODE[v.elemType]); // elem_type
  tensorType.message(2, shape.finish()); // shape
  const type = new PbWriter();
  type.message(1, tensorType.finish()); // tensor_type
  const w = new PbWriter();
  w.string(1, v.name);
  w.message(2, type.finish());
  return w.finish();
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

function encodeAttribute(a: AttributeSpec): Uint8Array {
  const w = new PbWriter();
  w.string(1, a.name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      w.int(20, ATTR_FLOAT);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, ATTR_INT);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, ATTR_STRING);
      break;
    case 'tensor':
      w.message(5, encodeTensor(a.value));
      w.int(20, ATTR_TENSOR);
      break;
    case 'floats':
      for (const f of a.value) w.float(7, f);
      w.int(20, ATTR_FLOATS);
      break;
    case 'ints':
      for (const i of a.value) w.int(8, i);
      w.int(20, ATTR_INTS);
      break;
    case 'ref':
      w.string(21, a.ref); // ref_attr_name
      w.int(20, a.refType === 'tensor' ? ATTR_TENSOR : a.refType === 'int' ? ATTR_INT : ATTR_FLOAT);
      break;
  }
  return w.finish();
}

function encodeNode(n: NodeSpec, index: number): Uint8Array {
  const w = new PbWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name ?? `${n.opType}_${index}`);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, encodeAttribute(a));
  if (n.domain) w.string(7, n.domain);
  return w.finish();
}

function encodeGraph(g: GraphSpec): Uint8Array {
  const w = new PbWriter();
  g.nodes.forEach((n, i) => {
    w.message(1, encodeNode(n, i));
  });
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  for (const v of g.inputs) w.message(11, encodeValueInfo(v));
  for (const v of g.outputs) w.message(12, encodeValueInfo(v));
  return w.finish();
}

function encodeFunction(f: FunctionSpec): Uint8Array {
  const w = new PbWriter();
  w.string(1, f.name);
  for (const i of f.inputs) w.string(4, i);
  for (const o of f.outputs) w.string(5, o);
  for (const a of f.attributes ?? []) w.string(6, a);
  f.nodes.forEach((n, i) => {
    w.message(7, encodeNode(n, i));
  });
  const opset = new PbWriter();
  opset.string(1, '');
  opset.int(2, 17);
  w.message(9, opset.finish()); // opset_import of the body
  w.string(10, f.domain);
  for (const a of f.attributeDefaults ?? []) w.message(11, encodeAttribute(a)); // attribute_proto
  return w.finish();
}

/** Encode a ModelProto. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const w = new PbWriter();
  w.int(1, spec.irVersion ?? 8); // ir_version
  w.string(2, spec.producerName ?? 'policy-gate onnx-writer'); // producer_name
  w.string(3, spec.producerVersion ?? '1'); // producer_version
  if (spec.docString) w.string(6, spec.docString);
  w.message(7, encodeGraph(spec.graph)); // graph
  const opset = new PbWriter();
  opset.string(1, '');
  opset.int(2, spec.opset ?? 17);
  w.message(8, opset.finish()); // opset_import
  for (const domain of new Set((spec.functions ?? []).map((f) => f.domain))) {
    const fnOpset = new PbWriter();
    fnOpset.string(1, domain);
    fnOpset.int(2, 1);
    w.message(8, fnOpset.finish());
  }
  for (const [k, v] of Object.entries(spec.metadata ?? {})) w.message(14, encodeStringEntry(k, v)); // metadata_props
  for (const f of spec.functions ?? []) w.message(25, encodeFunction(f)); // functions
  return w.finish();
}

// ------------------------------------------------------------------ deterministic weights

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A dense layer y = x·W + b with W given as [inputs][outputs] (note: PyTorch's Linear stores [out][in]). */
export interface DenseLayer {
  W: number[][];
  b: number[];
}

function randomMatrix(rand: () => number, rows: number, cols: number, scale: number): number[][] {
  const m: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row: number[] = [];
    for (let c = 0; c < cols; c++) row.push(Math.fround((rand() * 2 - 1) * scale));
    m.push(row);
  }
  return m;
}

function randomVector(rand: () => number, n: number, scale: number): number[] {
  const v: number[] = [];
  for (let i = 0; i < n; i++) v.push(Math.fround((rand() * 2 - 1) * scale));
  return v;
}

/** Xavier-uniform weights, small uniform biases, all rounded to float32. */
function randomDense(rand: () => number, inputs: number, outputs: number): DenseLayer {
  const scale = Math.sqrt(6 / (inputs + outputs));
  return { W: randomMatrix(rand, inputs, outputs, scale), b: randomVector(rand, outputs, 0.1) };
}

function fround32Matrix(m: number[][]): number[][] {
  return m.map((row) => row.map((v) => Math.fround(v)));
}

function checkMatrix(what: string, m: number[][], rows: number, cols: number): void {
  if (!Array.isArray(m) || m.length !== rows || m.some((r) => !Array.isArray(r) || r.length !== cols)) {
    throw new Error(`${what} must be a ${rows}×${cols} matrix ([inputs][outputs])`);
  }
  for (const r of m) for (const v of r) if (!Number.isFinite(v)) throw new Error(`${what} contains a non-finite value`);
}

function checkVector(what: string, v: number[], n: number): void {
  if (!Array.isArray(v) || v.length !== n) throw new Error(`${what} must have ${n} values`);
  for (const x of v) if (!Number.isFinite(x)) throw new Error(`${what} contains a non-finite value`);
}

function flatten(m: number[][]): number[] {
  const out: number[] = [];
  for (const row of m) for (const v of row) out.push(v);
  return out;
}

// ------------------------------------------------------------------ MLP policy

export type Activation = 'tanh' | 'relu';

export interface MlpOptions {
  /** ONNX input name; default 'obs'. */
  inputName?: string;
  /** Observation size D (for rank3: W·F, which is the default). */
  inputDim?: number;
  hidden: number[];
  /** Size of the final layer (number of actions, or 1 for a continuous policy). */
  outputs: number;
  /** Hidden-layer activation; default 'tanh'. */
  activation?: Activation;
  /** Name of the final output; default 'logits' (or 'action' when continuous). */
  outputName?: string;
  /** Also output Softmax(axis=-1) of the logits under this name. */
  softmaxOutputName?: string;
  /** Continuous head: a final Tanh so the output lies in [-1, 1]. */
  continuous?: boolean;
  /** Explicit layers ([inputs][outputs] matrices), first to last; overrides `seed`. */
  weights?: DenseLayer[];
  /** Seed of the deterministic weights; default 1. */
  seed?: number;
  /** Rank-3 input [batch, window, features], flattened (time-major) to [batch, window·features]. */
  rank3?: { window: number; features: number; op?: 'flatten' | 'reshape' };
  /** Name of the symbolic batch dimension, or a fixed batch size; default 'batch'. */
  batchDim?: string | number;
  metadata?: Record<string, string>;
  /** Store every weight tensor as external data (tests of loaders that must refuse such models). */
  externalData?: ExternalDataRef;
  opset?: number;
}

/** What mlpForward needs: the float32-rounded weights actually written into the model. */
export interface MlpNet {
  inputDim: number;
  layers: DenseLayer[];
  activation: Activation;
  continuous: boolean;
}

export interface BuiltMlp {
  bytes: Uint8Array;
  net: MlpNet;
  inputName: string;
  inputShape: (number | string)[];
  outputName: string;
  softmaxOutputName?: string;
}

export function buildMlp(opts: MlpOptions): BuiltMlp {
  const inputName = opts.inputName ?? 'obs';
  const activation = opts.activation ?? 'tanh';
  const continuous = opts.continuous ?? false;
  const outputName = opts.outputName ?? (continuous ? 'action' : 'logits');
  const batchDim = opts.batchDim ?? 'batch';
  if (continuous && opts.softmaxOutputName) throw new Error('a continuous head cannot also have a softmax output');
  let inputDim = opts.inputDim;
  if (opts.rank3) {
    const flat = opts.rank3.window * opts.rank3.features;
    if (inputDim !== undefined && inputDim !== flat) {
      throw new Error(`inputDim ${inputDim} != window·features ${flat}`);
    }
    inputDim = flat;
  }
  if (inputDim === undefined || !Number.isInteger(inputDim) || inputDim < 1) throw new Error('inputDim must be a positive integer');
  if (!Number.isInteger(opts.outputs) || opts.outputs < 1) throw new Error('outputs must be a positive integer');

  const sizes = [inputDim, ...opts.hidden, opts.outputs];
  let layers: DenseLayer[];
  if (opts.weights) {
    if (opts.weights.length !== sizes.length - 1) {
      throw new Error(`weights: expected ${sizes.length - 1} layers for sizes ${sizes.join('→')}, got ${opts.weights.length}`);
    }
    layers = opts.weights.map((l, i) => {
      checkMatrix(`weights[${i}].W`, l.W, sizes[i]!, sizes[i + 1]!);
      checkVector(`weights[${i}].b`, l.b, sizes[i + 1]!);
      return { W: fround32Matrix(l.W), b: l.b.map((v) => Math.fround(v)) };
    });
  } else {
    const rand = mulberry32(opts.seed ?? 1);
    layers = [];
    for (let i = 0; i + 1 < sizes.length; i++) layers.push(randomDense(rand, sizes[i]!, sizes[i + 1]!));
  }

  const nodes: NodeSpec[] = [];
  const initializers: TensorSpec[] = [];
  const ext = opts.externalData;
  let cur = inputName;
  let inputShape: (number | string)[] = [batchDim, inputDim];
  if (opts.rank3) {
    inputShape = [batchDim, opts.rank3.window, opts.rank3.features];
    if ((opts.rank3.op ?? 'flatten') === 'flatten') {
      nodes.push({ opType: 'Flatten', inputs: [cur], outputs: ['flat'], attributes: [{ name: 'axis', type: 'int', value: 1 }] });
    } else {
      initializers.push({ name: 'flat_shape', dims: [2], dataType: 'int64', data: [0, -1] });
      nodes.push({ opType: 'Reshape', inputs: [cur, 'flat_shape'], outputs: ['flat'] });
    }
    cur = 'flat';
  }
  layers.forEach((layer, i) => {
    const last = i === layers.length - 1;
    const W = `W${i}`;
    const b = `b${i}`;
    initializers.push({ name: W, dims: [sizes[i]!, sizes[i + 1]!], dataType: 'float32', data: flatten(layer.W), external: ext });
    initializers.push({ name: b, dims: [sizes[i + 1]!], dataType: 'float32', data: layer.b, external: ext });
    const gemmOut = last ? (continuous ? 'pre_tanh' : outputName) : `gemm${i}`;
    nodes.push({ opType: 'Gemm', inputs: [cur, W, b], outputs: [gemmOut], name: `gemm${i}` });
    cur = gemmOut;
    if (!last) {
      const actOut = `act${i}`;
      nodes.push({ opType: activation === 'tanh' ? 'Tanh' : 'Relu', inputs: [cur], outputs: [actOut], name: `act${i}` });
      cur = actOut;
    }
  });
  const outputs: ValueInfoSpec[] = [];
  if (continuous) {
    nodes.push({ opType: 'Tanh', inputs: [cur], outputs: [outputName], name: 'head_tanh' });
  }
  outputs.push({ name: outputName, elemType: 'float32', shape: [batchDim, opts.outputs] });
  if (opts.softmaxOutputName) {
    nodes.push({
      opType: 'Softmax',
      inputs: [outputName],
      outputs: [opts.softmaxOutputName],
      name: 'softmax',
      attributes: [{ name: 'axis', type: 'int', value: -1 }],
    });
    outputs.push({ name: opts.softmaxOutputName, elemType: 'float32', shape: [batchDim, opts.outputs] });
  }

  const bytes = encodeModel({
    graph: {
      name: 'policy_mlp',
      nodes,
      initializers,
      inputs: [{ name: inputName, elemType: 'float32', shape: inputShape }],
      outputs,
    },
    opset: opts.opset,
    metadata: opts.metadata,
  });
  const built: BuiltMlp = { bytes, net: { inputDim, layers, activation, continuous }, inputName, inputShape, outputName };
  if (opts.softmaxOutputName) built.softmaxOutputName = opts.softmaxOutputName;
  return built;
}

/** Row-wise softmax of a [rows, width] matrix, in float64. */
export function softmaxRows(x: ArrayLike<number>, width: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r * width < x.length; r++) {
    let max = -Infinity;
    for (let j = 0; j < width; j++) max = Math.max(max, x[r * width + j]!);
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const e = Math.exp(x[r * width + j]! - max);
      out[r * width + j] = e;
      sum += e;
    }
    for (let j = 0; j < width; j++) out[r * width + j] /= sum;
  }
  return out;
}

/**
 * The float64 reference of buildMlp's network on `batch` rows of `x` (row-major [batch, inputDim];
 * a rank-3 input flattens time-major, so the same layout works).
 * Returns the final output (after the continuous Tanh head, if any) and its softmax.
 */
export function mlpForward(net: MlpNet, x: ArrayLike<number>, batch = 1): { output: Float64Array; probs: Float64Array } {
  if (x.length !== batch * net.inputDim) throw new Error(`mlpForward: expected ${batch}×${net.inputDim} values, got ${x.length}`);
  let cur = Float64Array.from(x);
  let width = net.inputDim;
  net.layers.forEach((layer, li) => {
    const outW = layer.b.length;
    const next = new Float64Array(batch * outW);
    const last = li === net.layers.length - 1;
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < outW; j++) {
        let s = layer.b[j]!;
        for (let i = 0; i < width; i++) s += cur[r * width + i]! * layer.W[i]![j]!;
        if (!last) s = net.activation === 'tanh' ? Math.tanh(s) : Math.max(0, s);
        else if (net.continuous) s = Math.tanh(s);
        next[r * outW + j] = s;
      }
    }
    cur = next;
    width = outW;
  });
  return { output: cur, probs: softmaxRows(cur, width) };
}

// ------------------------------------------------------------------ recurrent policy

/** Matrices are [inputs][outputs]: Wx [F][H], Wh [H][H], Wo [H][A]. */
export interface RnnWeights {
  Wx: number[][];
  Wh: number[][];
  b: number[];
  Wo: number[][];
  bo: number[];
}

export interface RecurrentOptions {
  /** Default 'obs'. */
  obsName?: string;
  /** Default 'h_in'. */
  stateInName?: string;
  /** Default 'h_out'. */
  stateOutName?: string;
  /** Default 'logits'. */
  outputName?: string;
  features: number;
  hidden: number;
  actions: number;
  weights?: RnnWeights;
  seed?: number;
  batchDim?: string | number;
  metadata?: Record<string, string>;
  opset?: number;
}

export interface BuiltRecurrent {
  bytes: Uint8Array;
  weights: RnnWeights;
  obsName: string;
  stateInName: string;
  stateOutName: string;
  outputName: string;
}

export function buildRecurrent(opts: RecurrentOptions): BuiltRecurrent {
  const obsName = opts.obsName ?? 'obs';
  const stateInName = opts.stateInName ?? 'h_in';
  const stateOutName = opts.stateOutName ?? 'h_out';
  const outputName = opts.outputName ?? 'logits';
  const batchDim = opts.batchDim ?? 'batch';
  const { features: F, hidden: H, actions: A } = opts;
  for (const [k, v] of [
    ['features', F],
    ['hidden', H],
    ['actions', A],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer`);
  }
  let w: RnnWeights;
  if (opts.weights) {
    const g = opts.weights;
    checkMatrix('weights.Wx', g.Wx, F, H);
    checkMatrix('weights.Wh', g.Wh, H, H);
    checkVector('weights.b', g.b, H);
    checkMatrix('weights.Wo', g.Wo, H, A);
    checkVector('weights.bo', g.bo, A);
    w = {
      Wx: fround32Matrix(g.Wx),
      Wh: fround32Matrix(g.Wh),
      b: g.b.map((v) => Math.fround(v)),
      Wo: fround32Matrix(g.Wo),
      bo: g.bo.map((v) => Math.fround(v)),
    };
  } else {
    const rand = mulberry32(opts.seed ?? 1);
    const sx = Math.sqrt(6 / (F + H));
    const sh = Math.sqrt(6 / (H + H)) * 0.5; // a contracting recurrence, so states stay well inside tanh's range
    const so = Math.sqrt(6 / (H + A));
    w = {
      Wx: randomMatrix(rand, F, H, sx),
      Wh: randomMatrix(rand, H, H, sh),
      b: randomVector(rand, H, 0.1),
      Wo: randomMatrix(rand, H, A, so),
      bo: randomVector(rand, A, 0.1),
    };
  }
  const nodes: NodeSpec[] = [
    { opType: 'MatMul', inputs: [obsName, 'Wx'], outputs: ['xw'], name: 'matmul_x' },
    { opType: 'MatMul', inputs: [stateInName, 'Wh'], outputs: ['hw'], name: 'matmul_h' },
    { opType: 'Add', inputs: ['xw', 'hw'], outputs: ['pre_sum'], name: 'add_xh' },
    { opType: 'Add', inputs: ['pre_sum', 'b'], outputs: ['pre_act'], name: 'add_b' },
    { opType: 'Tanh', inputs: ['pre_act'], outputs: [stateOutName], name: 'tanh_h' },
    { opType: 'MatMul', inputs: [stateOutName, 'Wo'], outputs: ['ho'], name: 'matmul_o' },
    { opType: 'Add', inputs: ['ho', 'bo'], outputs: [outputName], name: 'add_bo' },
  ];
  const initializers: TensorSpec[] = [
    { name: 'Wx', dims: [F, H], dataType: 'float32', data: flatten(w.Wx) },
    { name: 'Wh', dims: [H, H], dataType: 'float32', data: flatten(w.Wh) },
    { name: 'b', dims: [H], dataType: 'float32', data: w.b },
    { name: 'Wo', dims: [H, A], dataType: 'float32', data: flatten(w.Wo) },
    { name: 'bo', dims: [A], dataType: 'float32', data: w.bo },
  ];
  const bytes = encodeModel({
    graph: {
      name: 'policy_rnn',
      nodes,
      initializers,
      inputs: [
        { name: obsName, elemType: 'float32', shape: [batchDim, F] },
        { name: stateInName, elemType: 'float32', shape: [batchDim, H] },
      ],
      outputs: [
        { name: outputName, elemType: 'float32', shape: [batchDim, A] },
        { name: stateOutName, elemType: 'float32', shape: [batchDim, H] },
      ],
    },
    opset: opts.opset,
    metadata: opts.metadata,
  });
  return { bytes, weights: w, obsName, stateInName, stateOutName, outputName };
}

/** The float64 reference of one step of buildRecurrent's cell on `batch` rows. */
export function rnnForward(w: RnnWeights, obs: ArrayLike<number>, h: ArrayLike<number>, batch = 1): { logits: Float64Array; h: Float64Array } {
  const F = w.Wx.length;
  const H = w.b.length;
  const A = w.bo.length;
  if (obs.length !== batch * F) throw new Error(`rnnForward: expected ${batch}×${F} obs values, got ${obs.length}`);
  if (h.length !== batch * H) throw new Error(`rnnForward: expected ${batch}×${H} state values, got ${h.length}`);
  const hOut = new Float64Array(batch * H);
  const logits = new Float64Array(batch * A);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < H; j++) {
      let s = w.b[j]!;
      for (let i = 0; i < F; i++) s += obs[r * F + i]! * w.Wx[i]![j]!;
      for (let i = 0; i < H; i++) s += h[r * H + i]! * w.Wh[i]![j]!;
      hOut[r * H + j] = Math.tanh(s);
    }
    for (let k = 0; k < A; k++) {
      let s = w.bo[k]!;
      for (let j = 0; j < H; j++) s += hOut[r * H + j]! * w.Wo[j]![k]!;
      logits[r * A + k] = s;
    }
  }
  return { logits, h: hOut };
}
