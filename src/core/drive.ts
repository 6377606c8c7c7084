/**
 * Driving a policy through its simulations: how a model's inputs and outputs are bound to a policy card,
 * and the loop that feeds observations to the model and its decisions to the simulations, batching
 * inference as the policy allows (docs/performance.md):
 *
 * - when the observation does not depend on the position or a recurrent state, every decision bar of
 *   every window is inferred once, in a few large calls (the folds and the backtest share decision bars);
 * - otherwise all windows advance in lockstep, one batched call per step.
 *
 * Pure: the model is anything that runs feeds (a ModelRunner). policy-gate runs this loop inside the
 * onnxruntime process (src/adapters/onnx/host-main.ts, one request per model instead of one per step), and
 * in its own process when a test replaces the observation builder; both give the same decisions.
 */
import { checkOutputWidth, decideTarget } from './actions.js';
import type { OutputKind, PolicyCard } from './card.js';
import { inputError } from './errors.js';
import { ObservationBuilder } from './observation.js';
import { actionCode, Simulation, type CostModel } from './simulate.js';
import type { BarSeries } from './types.js';

/**
 * Values per inference call on the batched path (2 Mi float32 = 8 MiB, e.g. 355 observations of
 * 100 × 59): bounds memory for wide observations, and keeps the observation buffer in the last-level
 * cache while it is written and read — measured 10 % faster end to end than 32 MiB chunks, while
 * the per-call overhead stays under 1 % of a call (docs/performance.md). Each observation's output
 * does not depend on the batch it is in, so the chunk size does not change any result.
 */
export const MAX_BATCH_VALUES = 2 * 1024 * 1024;

export interface FloatTensor {
  data: Float32Array;
  dims: number[];
}

export interface TensorInfo {
  name: string;
  /** Fixed dimensions as numbers, symbolic ones (e.g. 'batch') as strings. Empty for non-tensors. */
  shape: (number | string)[];
  /** 'float32', 'float64', 'int64', ... or 'non-tensor'. */
  type: string;
}

/** What the loop needs of a model: its inputs and outputs, and running it on a batch. */
export interface ModelRunner {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  run(feeds: Record<string, FloatTensor>, outputNames?: readonly string[]): Promise<Record<string, FloatTensor>>;
}

/** A tensor fed or read per decision: its per-decision size and where its batch axis is. */
export interface BatchedTensor {
  /** The model's input (state and extra inputs) or output name. */
  input: string;
  /** Values per decision (the product of the non-batch dimensions). */
  size: number;
  /** The shape with the batch dimension set to 1. */
  dims: number[];
  /** The axis of the batch. */
  batchAxis: number;
}

/** How a model is fed: its input name and rank, the output it is read from, its recurrent state. */
export interface Binding {
  input: string;
  rank3: boolean;
  /** The output that holds the action. */
  output: string;
  /** How the action output is read: a discrete kind, or 'continuous'. */
  outputKind: OutputKind | 'continuous';
  /** An output with the chosen action's log-probability (min_confidence), or null. */
  logProbOutput: string | null;
  batchable: boolean;
  state: (BatchedTensor & { output: string })[];
  /** Extra inputs fed per decision: 1 at a window's first decision then 0, or a constant. */
  extra: (BatchedTensor & { value: 'episode_start' | number })[];
  /** What was inferred rather than read from the card (e.g. an integer output read as an action index). */
  notes: string[];
}

const INTEGER_TYPES = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64']);
const FLOAT_TYPES = new Set(['float32', 'float64']);

const showShape = (t: TensorInfo): string => `[${t.shape.join(', ')}]`;

/** Values per decision an output declares (its non-batch dimensions), or null when one is symbolic. */
function perDecision(t: TensorInfo): number | null {
  if (t.shape.length <= 1) return 1;
  let n = 1;
  for (const d of t.shape.slice(1)) {
    if (typeof d !== 'number' || d < 0) return null;
    n *= d;
  }
  return n;
}

/** One line per model output: name, shape, element type, and the card setting that would read it. */
export function describeOutputs(model: ModelRunner, card: PolicyCard): string {
  const n = card.action.type === 'discrete' ? card.action.meanings.length : null;
  return model.outputs
    .map((o) => {
      const width = perDecision(o);
      let reads: string;
      if (card.state.some((s) => s.output === o.name)) reads = 'state[].output (recurrent state)';
      else if (o.shape.length === 3 && card.action.type === 'discrete' && width !== n) reads = 'state[].output, if it is a recurrent state';
      else if (INTEGER_TYPES.has(o.type) && width === 1) reads = 'action.output with action.output_kind "action_index"';
      else if (card.action.type === 'discrete' && width === n) reads = 'action.output with action.output_kind "logits", "probs" or "log_probs"';
      else if (card.action.type === 'discrete' && width === 1) reads = 'action.log_prob_output (a log-probability), or nothing (a value estimate)';
      else if (card.action.type === 'continuous') reads = 'action.output (continuous: its first value is the target)';
      else reads = 'no card setting (its width fits neither the meanings nor an index)';
      return `  - "${o.name}" ${showShape(o)} ${o.type}: ${reads}`;
    })
    .join('\n');
}

/** A state or extra input's batch axis: the card's, else the model's one symbolic axis. */
function batchedInput(info: TensorInfo, cardAxis: number | null, label: string, what: string, file: string): BatchedTensor {
  const sh = info.shape;
  if (!FLOAT_TYPES.has(info.type)) {
    throw inputError(`${label}: ${what} input "${info.name}" has element type ${info.type}; policy-gate feeds float32 or float64 values`, label);
  }
  const symbolic = sh.map((d, i) => (typeof d === 'number' && d >= 0 ? -1 : i)).filter((i) => i >= 0);
  let axis: number;
  if (cardAxis !== null) {
    if (cardAxis >= sh.length) {
      throw inputError(`${file}: batch_axis ${cardAxis} of ${what} input "${info.name}" is outside its shape ${showShape(info)}`, file);
    }
    axis = cardAxis;
  } else if (symbolic.length === 1) axis = symbolic[0]!;
  else if (symbolic.length === 0) axis = Math.max(sh.indexOf(1), 0);
  else {
    throw inputError(
      `${label}: ${what} input "${info.name}" has shape ${showShape(info)} with ${symbolic.length} dynamic axes; say which one is the batch with "batch_axis" in ${file}`,
      file,
    );
  }
  const dims = sh.map((d, i) => (i === axis ? 1 : d));
  const size = dims.reduce<number>((a, d) => (typeof d === 'number' && d > 0 ? a * d : NaN), 1);
  if (!Number.isFinite(size)) {
    throw inputError(
      `${label}: ${what} input "${info.name}" has shape ${showShape(info)}; apart from the batch axis ${axis} its dimensions must be fixed (export it with fixed sizes, or set "batch_axis")`,
      label,
    );
  }
  if (sh.length > 0 && typeof sh[axis] === 'number' && sh[axis] !== 1 && (sh[axis] as number) >= 0) {
    throw inputError(`${label}: ${what} input "${info.name}" has shape ${showShape(info)}: its batch axis ${axis} is fixed at ${sh[axis]}; policy-gate feeds one decision per batch row`, label);
  }
  return { input: info.name, size, dims: dims as number[], batchAxis: axis };
}

/** Whether the tensor's batch axis accepts any batch size. */
function dynamicAxis(info: TensorInfo, axis: number): boolean {
  const d = info.shape[axis];
  return d === undefined ? false : typeof d !== 'number' || d < 0;
}

export function bindModel(model: ModelRunner, card: PolicyCard, label: string): Binding {
  const stateInputs = new Set(card.state.map((s) => s.input));
  const stateOutputs = new Set(card.state.map((s) => s.output));
  const extraInputs = new Set(card.extraInputs.map((x) => x.name));
  const inputList = (): string => model.inputs.map((i) => `${i.name} ${showShape(i)} ${i.type}`).join(', ');
  for (const s of card.state) {
    if (!model.inputs.some((i) => i.name === s.input)) {
      throw inputError(`${card.file}: state.input "${s.input}" is not an input of ${label} (inputs: ${inputList()})`, card.file);
    }
    if (!model.outputs.some((o) => o.name === s.output)) {
      throw inputError(`${card.file}: state.output "${s.output}" is not an output of ${label} (outputs: ${model.outputs.map((o) => o.name).join(', ')})`, card.file);
    }
  }
  for (const x of card.extraInputs) {
    if (!model.inputs.some((i) => i.name === x.name)) {
      throw inputError(`${card.file}: extra_inputs name "${x.name}" is not an input of ${label} (inputs: ${inputList()})`, card.file);
    }
  }
  const dataInputs = model.inputs.filter((i) => !stateInputs.has(i.name) && !extraInputs.has(i.name));
  let input: string;
  if (card.input) {
    if (!model.inputs.some((i) => i.name === card.input)) {
      throw inputError(`${card.file}: input "${card.input}" is not an input of ${label} (inputs: ${inputList()})`, card.file);
    }
    input = card.input;
  } else if (dataInputs.length === 1) {
    input = dataInputs[0]!.name;
  } else {
    throw inputError(
      `${label} has ${dataInputs.length} inputs the card does not feed (${dataInputs.map((i) => `${i.name} ${showShape(i)} ${i.type}`).join(', ')}); name the observation input in ${card.file} ("input"), ` +
        `recurrent states in "state" and any other input in "extra_inputs" (an episode-start flag or a constant)`,
      card.file,
    );
  }
  const unfed = model.inputs.filter((i) => i.name !== input && !stateInputs.has(i.name) && !extraInputs.has(i.name));
  if (unfed.length > 0) {
    throw inputError(
      `${label}: input${unfed.length > 1 ? 's' : ''} ${unfed.map((i) => `"${i.name}" ${showShape(i)} ${i.type}`).join(', ')} ${unfed.length > 1 ? 'are' : 'is'} not fed by ${card.file}: ` +
        `list a recurrent state in "state" ({ "input", "output" }) and any other input in "extra_inputs" ({ "name", "value": "episode_start" or a number })`,
      card.file,
    );
  }
  const info = model.inputs.find((i) => i.name === input)!;
  if (info.type !== 'float32' && info.type !== 'float64') {
    throw inputError(`${label}: input "${input}" is ${info.type}; policy-gate feeds float observations`, label);
  }
  const { window: W, features } = card.observation;
  const F = features.length;
  const shape = info.shape;
  let rank3 = false;
  if (shape.length === 2) {
    if (typeof shape[1] === 'number' && shape[1] !== W * F) {
      throw inputError(
        `${label}: input "${input}" takes ${shape[1]} values per observation, but ${card.file} describes ${W}×${F} = ${W * F} (window × features); the card does not fit the model`,
        label,
      );
    }
  } else if (shape.length === 3) {
    rank3 = true;
    if ((typeof shape[1] === 'number' && shape[1] !== W) || (typeof shape[2] === 'number' && shape[2] !== F)) {
      throw inputError(
        `${label}: input "${input}" has shape [${shape.join(', ')}], but ${card.file} describes a window of ${W} rows × ${F} features`,
        label,
      );
    }
  } else {
    throw inputError(`${label}: input "${input}" has rank ${shape.length}; expected [batch, ${W * F}] or [batch, ${W}, ${F}]`, label);
  }
  let batchable = typeof shape[0] !== 'number' || shape[0] === -1;
  const notes: string[] = [];

  // ------------------------------------------------ the action output and how it is read
  const action = card.action;
  const dataOutputs = model.outputs.filter((o) => !stateOutputs.has(o.name));
  let output: string;
  let outputKind: OutputKind | 'continuous' = action.type === 'continuous' ? 'continuous' : action.outputKind;
  if (action.output !== null) {
    if (!model.outputs.some((o) => o.name === action.output)) {
      throw inputError(
        `${card.file}: action.output "${action.output}" is not an output of ${label}; its outputs:\n${describeOutputs(model, card)}`,
        card.file,
      );
    }
    output = action.output;
  } else if (dataOutputs.length === 1) {
    output = dataOutputs[0]!.name;
  } else if (dataOutputs.length === 0) {
    throw inputError(`${label}: every output is a recurrent state in ${card.file}; which one holds the action? Its outputs:\n${describeOutputs(model, card)}`, card.file);
  } else {
    const first = dataOutputs[0]!;
    const sb3Recipe = action.type === 'discrete' && !action.outputKindGiven && INTEGER_TYPES.has(first.type) && perDecision(first) === 1;
    if (!sb3Recipe) {
      throw inputError(
        `${label} has ${dataOutputs.length} outputs and ${card.file} does not say which one holds the action; set action.output (and action.output_kind). Its outputs:\n${describeOutputs(model, card)}`,
        card.file,
      );
    }
    output = first.name;
  }
  const outInfo = model.outputs.find((o) => o.name === output)!;
  if (action.type === 'discrete' && !action.outputKindGiven && INTEGER_TYPES.has(outInfo.type)) {
    outputKind = 'action_index';
    notes.push(
      `output "${output}" ${showShape(outInfo)} is ${outInfo.type}: read as the action index (stable-baselines3's export returns the deterministic action); set action.output_kind to say so`,
    );
  }
  if (action.type === 'discrete' && INTEGER_TYPES.has(outInfo.type) && outputKind !== 'action_index') {
    throw inputError(
      `${card.file}: action.output_kind is "${outputKind}" but output "${output}" ${showShape(outInfo)} is ${outInfo.type}, an integer tensor: an action index. Set action.output_kind to "action_index", or export the logits`,
      card.file,
    );
  }
  let logProbOutput: string | null = null;
  if (action.type === 'discrete') {
    logProbOutput = action.logProbOutput;
    if (logProbOutput !== null) {
      if (outputKind !== 'action_index') {
        throw inputError(`${card.file}: action.log_prob_output applies to an action index; output "${output}" is read as ${outputKind}, which gives its own confidence`, card.file);
      }
      const lp = model.outputs.find((o) => o.name === logProbOutput);
      if (!lp) {
        throw inputError(`${card.file}: action.log_prob_output "${logProbOutput}" is not an output of ${label}; its outputs:\n${describeOutputs(model, card)}`, card.file);
      }
      const w = perDecision(lp);
      if (w !== null && w !== 1) {
        throw inputError(`${card.file}: action.log_prob_output "${logProbOutput}" ${showShape(lp)} has ${w} values per decision; it must hold the chosen action's log-probability (one value)`, card.file);
      }
    } else if (outputKind === 'action_index' && action.minConfidence > 0) {
      throw inputError(
        `${card.file}: action.min_confidence needs a confidence, but output "${output}" is an action index; name the output with the chosen action's log-probability in action.log_prob_output (stable-baselines3's export has it third)`,
        card.file,
      );
    }
  }

  // ------------------------------------------------ recurrent state and extra inputs
  const state = card.state.map((s) => {
    const sInfo = model.inputs.find((i) => i.name === s.input)!;
    const t = batchedInput(sInfo, s.batchAxis, label, 'recurrent', card.file);
    if (!dynamicAxis(sInfo, t.batchAxis)) batchable = false;
    const outInfoS = model.outputs.find((o) => o.name === s.output)!;
    if (outInfoS.shape.length === sInfo.shape.length) {
      const mismatch = outInfoS.shape.some((d, i) => i !== t.batchAxis && typeof d === 'number' && typeof t.dims[i] === 'number' && d !== t.dims[i]);
      if (mismatch) {
        throw inputError(`${label}: state output "${s.output}" ${showShape(outInfoS)} does not fit state input "${s.input}" ${showShape(sInfo)}; pair each state output with the input it feeds`, card.file);
      }
    }
    return { ...t, output: s.output };
  });
  const extra = card.extraInputs.map((x) => {
    const xInfo = model.inputs.find((i) => i.name === x.name)!;
    const t = batchedInput(xInfo, x.batchAxis, label, 'extra', card.file);
    if (!dynamicAxis(xInfo, t.batchAxis) && xInfo.shape.length > 0) batchable = false;
    return { ...t, value: x.value };
  });
  return { input, rank3, output, outputKind, logProbOutput, batchable, state, extra, notes };
}

/** The card as the binding reads it: the action output's name and kind resolved against the model. */
export function boundCard(card: PolicyCard, b: Binding): PolicyCard {
  if (card.action.type !== 'discrete') return card.action.output === b.output ? card : { ...card, action: { ...card.action, output: b.output } };
  if (card.action.outputKind === b.outputKind && card.action.output === b.output) return card;
  return { ...card, action: { ...card.action, output: b.output, outputKind: b.outputKind as OutputKind } };
}

/** Copies one decision's values into (or out of) row k of a batch of n laid out with the batch on `axis`. */
function stride(t: BatchedTensor): { outer: number; inner: number } {
  let outer = 1;
  for (let i = 0; i < t.batchAxis; i++) outer *= t.dims[i]!;
  return { outer, inner: t.size / outer };
}

export function putRow(t: BatchedTensor, batch: Float32Array, n: number, k: number, row: ArrayLike<number>): void {
  const { outer, inner } = stride(t);
  for (let o = 0; o < outer; o++) {
    const to = o * n * inner + k * inner;
    for (let i = 0; i < inner; i++) batch[to + i] = row[o * inner + i]!;
  }
}

export function takeRow(t: BatchedTensor, batch: Float32Array, n: number, k: number, row: Float32Array): void {
  const { outer, inner } = stride(t);
  for (let o = 0; o < outer; o++) row.set(batch.subarray(o * n * inner + k * inner, o * n * inner + (k + 1) * inner), o * inner);
}

const batchDims = (t: BatchedTensor, n: number): number[] => t.dims.map((d, i) => (i === t.batchAxis ? n : d));

/**
 * Runs the model on `n` observations laid out back to back in `obs`. `states` holds each state input's
 * batch (null: zeros); `starts[k]` is 1 when decision k is its window's first (null: all first).
 */
export async function infer(
  model: ModelRunner,
  b: Binding,
  card: PolicyCard,
  obs: Float32Array,
  n: number,
  states: Float32Array[] | null,
  starts: Uint8Array | null = null,
): Promise<{ out: Float32Array; logProb: Float32Array | null; states: Float32Array[] }> {
  const { window: W, features } = card.observation;
  const F = features.length;
  const feeds: Record<string, FloatTensor> = {
    [b.input]: { data: obs.length === n * W * F ? obs : obs.subarray(0, n * W * F), dims: b.rank3 ? [n, W, F] : [n, W * F] },
  };
  b.state.forEach((s, i) => {
    feeds[s.input] = { data: states?.[i] ?? new Float32Array(n * s.size), dims: batchDims(s, n) };
  });
  for (const x of b.extra) {
    const data = new Float32Array(n * x.size);
    if (x.value === 'episode_start') {
      const ones = new Float32Array(x.size).fill(1);
      for (let k = 0; k < n; k++) if (starts === null || starts[k] === 1) putRow(x, data, n, k, ones);
    } else data.fill(x.value);
    // A rank-0 input (a scalar) takes the value alone.
    feeds[x.input] = { data: x.dims.length === 0 ? data.subarray(0, 1) : data, dims: x.dims.length === 0 ? [] : batchDims(x, n) };
  }
  const wanted = [b.output, ...(b.logProbOutput ? [b.logProbOutput] : []), ...b.state.map((s) => s.output)];
  const res = await model.run(feeds, wanted);
  const out = res[b.output]!;
  for (const s of b.state) {
    const got = res[s.output]!.data.length;
    if (got !== n * s.size) {
      throw inputError(
        `${card.file}: state output "${s.output}" gives ${got / n} values per decision but state input "${s.input}" takes ${s.size}; pair each state output with the input it feeds`,
        card.file,
      );
    }
  }
  return { out: out.data, logProb: b.logProbOutput ? res[b.logProbOutput]!.data : null, states: b.state.map((s) => res[s.output]!.data) };
}

export function outputWidth(card: PolicyCard, total: number, n: number, label: string): number {
  if (total % n !== 0) throw inputError(`${label}: output of ${total} values does not split into ${n} decisions`, label);
  const width = total / n;
  if (card.action.type === 'discrete') checkOutputWidth(width, card, label);
  return width;
}

/** Drives every simulation to the end, batching inference as the policy allows. */
export async function runSimulations(
  sims: Simulation[],
  model: ModelRunner,
  b: Binding,
  card: PolicyCard,
  builder: ObservationBuilder,
  label: string,
  record: Float64Array[] | null = null,
): Promise<void> {
  card = boundCard(card, b);
  const kind = card.action.type;
  const size = builder.size;
  // An episode-start flag depends on the decision's place in its window: such inputs go step by step.
  const stepwise = builder.usesState || b.state.length > 0 || !b.batchable || b.extra.some((x) => x.value === 'episode_start');

  if (!stepwise) {
    // Every decision bar any simulation will ask about, inferred once.
    let lo = Infinity;
    let hi = -Infinity;
    for (const s of sims) {
      lo = Math.min(lo, s.decisionIndex);
      hi = Math.max(hi, s.decisionIndex + s.length - 1);
    }
    const count = hi - lo + 1;
    const chunk = Math.max(1, Math.min(count, Math.floor(MAX_BATCH_VALUES / size)));
    const obs = new Float32Array(chunk * size);
    let outputs: Float32Array | null = null;
    const logProbs = b.logProbOutput ? new Float32Array(count) : null;
    let width = 0;
    for (let first = 0; first < count; first += chunk) {
      const n = Math.min(chunk, count - first);
      const taus = Array.from({ length: n }, (_, i) => lo + first + i);
      builder.buildBatch(taus, obs);
      const { out, logProb } = await infer(model, b, card, obs, n, null);
      if (!outputs) {
        width = outputWidth(card, out.length, n, label);
        outputs = new Float32Array(count * width);
      }
      outputs.set(out.subarray(0, n * width), first * width);
      if (logProbs && logProb) logProbs.set(logProb.subarray(0, n), first);
    }
    for (let i = 0; i < sims.length; i++) {
      const s = sims[i]!;
      while (!s.done) {
        const tau = s.decisionIndex;
        const { target, action } = decideTarget(outputs!, (tau - lo) * width, card, s.state().target, label, logProbs?.[tau - lo]);
        const code = action === null ? 0 : actionCode(action.index, action.belowMinConfidence);
        if (record) {
          record[i]![s.stepsTaken] = target;
          if (record.length > sims.length) record[sims.length + i]![s.stepsTaken] = code;
        }
        s.recordAction(code);
        s.step(target, kind);
      }
    }
    return;
  }

  // Lockstep: one batched call per step across the simulations still running. The loop allocates
  // nothing per step beyond what inference returns (docs/performance.md).
  const perCall = b.batchable ? sims.length : 1;
  const obs = new Float32Array(perCall * size);
  const states: Float32Array[][] = sims.map(() => b.state.map((s) => new Float32Array(s.size)));
  const active = new Int32Array(sims.length);
  const targets = new Float64Array(perCall);
  const starts = new Uint8Array(perCall);
  const decisionState = { position: 0, unrealizedReturn: 0 };
  let width = 0;
  for (;;) {
    let activeCount = 0;
    for (let i = 0; i < sims.length; i++) if (!sims[i]!.done) active[activeCount++] = i;
    if (activeCount === 0) break;
    for (let startAt = 0; startAt < activeCount; startAt += perCall) {
      const n = Math.min(perCall, activeCount - startAt);
      for (let k = 0; k < n; k++) {
        const s = sims[active[startAt + k]!]!;
        const st = s.state();
        targets[k] = st.target;
        decisionState.position = st.exposure;
        decisionState.unrealizedReturn = st.unrealizedReturn;
        starts[k] = s.stepsTaken === 0 ? 1 : 0;
        builder.build(s.decisionIndex, decisionState, obs, k * size);
      }
      let batchStates: Float32Array[] | null = null;
      if (b.state.length > 0) {
        batchStates = b.state.map((st, j) => {
          const buf = new Float32Array(n * st.size);
          for (let k = 0; k < n; k++) putRow(st, buf, n, k, states[active[startAt + k]!]![j]!);
          return buf;
        });
      }
      const { out, logProb, states: next } = await infer(model, b, card, obs, n, batchStates, starts);
      if (width === 0) width = outputWidth(card, out.length, n, label);
      for (let k = 0; k < n; k++) {
        const i = active[startAt + k]!;
        for (let j = 0; j < b.state.length; j++) takeRow(b.state[j]!, next[j]!, n, k, states[i]![j]!);
        const { target, action } = decideTarget(out, k * width, card, targets[k]!, label, logProb?.[k]);
        const code = action === null ? 0 : actionCode(action.index, action.belowMinConfidence);
        if (record) {
          record[i]![sims[i]!.stepsTaken] = target;
          if (record.length > sims.length) record[sims.length + i]![sims[i]!.stepsTaken] = code;
        }
        sims[i]!.recordAction(code);
        sims[i]!.step(target, kind);
      }
    }
  }
}


/**
 * A model's whole evaluation loop as data: everything needed to rebuild its observations and
 * simulations elsewhere (the onnxruntime process) and drive them to the end. Structured-cloneable.
 */
export interface SimulationJob {
  /** The model's file name, for messages. */
  label: string;
  /** The parsed card (golden vectors left out: they are checked before). */
  card: PolicyCard;
  bars: BarSeries;
  binding: Binding;
  /** The simulations, in order: their bar windows and costs. */
  simulations: { start: number; end: number; costs: CostModel }[];
  periodsPerYear: number;
}

/**
 * Rebuilds the job's observation builder and simulations and drives them to the end: the target each
 * simulation stepped to at each of its decisions, in order. Replaying those targets on simulations
 * made from the same bars, windows and costs reproduces them exactly (replayTargets).
 */
export async function driveJob(job: SimulationJob, model: ModelRunner): Promise<Float64Array[]> {
  const { card, bars } = job;
  const builder = new ObservationBuilder(card, bars);
  const sims = job.simulations.map((s) => new Simulation(bars, { start: s.start, end: s.end }, s.costs, { periodsPerYear: job.periodsPerYear }));
  // The targets of each simulation, then its action codes (for the action histogram; see actionCode).
  const record = [...sims, ...sims].map((s) => new Float64Array(s.length));
  await runSimulations(sims, model, job.binding, card, builder, job.label, record);
  return record;
}

/** Steps each simulation through the targets driveJob recorded for it. */
export function replayTargets(sims: readonly Simulation[], recorded: readonly Float64Array[], card: PolicyCard, label: string): void {
  // driveJob's record: the targets of each simulation, then (optionally) its action codes.
  const targets = recorded.slice(0, sims.length);
  const codes = recorded.length === 2 * sims.length ? recorded.slice(sims.length) : null;
  if ((recorded.length !== sims.length && codes === null) || sims.some((s, i) => s.length !== targets[i]!.length || (codes !== null && codes[i]!.length !== s.length))) {
    throw new Error(`${label}: the onnxruntime process returned decisions for ${targets.length} simulations of ${targets.map((t) => t.length).join('/')} steps; expected ${sims.length} of ${sims.map((s) => s.length).join('/')}`);
  }
  const kind = card.action.type;
  for (let i = 0; i < sims.length; i++) {
    const s = sims[i]!;
    const t = targets[i]!;
    const c = codes?.[i];
    for (let k = 0; k < t.length; k++) {
      if (c) s.recordAction(c[k]!);
      s.step(t[k]!, kind);
    }
  }
}
