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
import { FLAT_STATE, ObservationBuilder } from './observation.js';
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

/**
 * A position-aware MLP's first layer split in two (src/adapters/onnx/split.ts): the trunk maps an
 * observation [n, size] to the part of the first layer that depends on the decision bar alone [n, hidden];
 * the head maps the state column groups [n, G] (ObservationBuilder.stateColumns().groupFirst order, one
 * value per group) and that row to the model's outputs.
 */
export interface FirstLayerSplit {
  /** The direct trunk (observation → first layer's bar part); null when the convolution (`conv`) stands in for it. */
  trunk: ModelRunner | null;
  head: ModelRunner;
  /** Width of each first layer (several when the observation feeds several, e.g. a policy's and a value function's). */
  hidden: number[];
  /** The trunk's input and outputs (one per first layer), the head's state input and trunk inputs (in the same order). */
  names: { trunkInput: string; trunkOutputs: string[]; headState: string; headTrunks: string[] };
  /** Observations the full and the split model are compared on before the split is used (golden vectors). */
  samples?: readonly Float32Array[];
  /**
   * The trunk as a convolution over time (src/adapters/onnx/conv-trunk.ts), for runs of consecutive
   * decision bars: blocks of `block` bars [blocks, F_c, block] (column features, channel-major) and the
   * window-relative values [blocks · perBlock, W · F_w] → the trunk rows of perBlock decision bars per block.
   */
  conv?: { runner: ModelRunner; block: number; perBlock: number; columnsInput: string; windowedInput: string | null; outputs: string[] };
}

/** Which path inferred a model's decisions, for the report. */
export interface InferencePath {
  path: 'split' | 'full';
  /** Why the full model ran (null when split). */
  reason: string | null;
  /** The first layer that was split, e.g. `Gemm "fc1" [5900 × 256]`. */
  firstLayer?: string;
  /** Decisions inferred by the head. */
  rows: number;
  /** Of them, those recomputed with the full model: a near tie (top-two gap below the guard), or a non-finite output. */
  recomputed: number;
  /** The guard: decisions whose top-two gap (or distance to min_confidence) is below it are recomputed. */
  guard?: number;
  /** The self-check's largest difference between the split and the full model's outputs. */
  selfCheckError?: number;
  /**
   * How the trunk was computed: 'convolution' (over runs of consecutive decision bars, with the discrete
   * Fourier transform) or 'direct' (each decision bar's observation times the weights).
   */
  trunk?: 'convolution' | 'direct';
}

/** Bar-dependent rows the self-check compares (spread over the evaluated bars), with these states. */
const SELF_CHECK_BARS = 32;
const SELF_CHECK_STATES = [
  { position: 0, unrealizedReturn: 0 },
  { position: 1, unrealizedReturn: 0.013 },
  { position: -1, unrealizedReturn: -0.021 },
  { position: 0.5, unrealizedReturn: 0.047 },
];
/** The self-check refuses a split that differs from the full model by more than this, relative to max(1, |output|). */
const SELF_CHECK_TOLERANCE = 1e-3;
/**
 * The guard, relative to max(1, |output|): at least this, and at least 64 times the self-check's error.
 * float32 sums in another order differ by about 1e-6 relative here (3.8e-6 measured on 5 900 × 256), so a
 * decision whose two best outputs are further apart than this cannot change.
 */
const GUARD_FLOOR = 1e-4;
const GUARD_FACTOR = 64;

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
    throw inputError(`${label}: ${what} input "${info.name}" has shape ${showShape(info)} with ${symbolic.length} dynamic axes; say which one is the batch with "batch_axis" in ${file}`, file);
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
      throw inputError(`${label}: input "${input}" has shape [${shape.join(', ')}], but ${card.file} describes a window of ${W} rows × ${F} features`, label);
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
      throw inputError(`${card.file}: action.output "${action.output}" is not an output of ${label}; its outputs:\n${describeOutputs(model, card)}`, card.file);
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
    notes.push(`output "${output}" ${showShape(outInfo)} is ${outInfo.type}: read as the action index (stable-baselines3's export returns the deterministic action); set action.output_kind to say so`);
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
        throw inputError(
          `${card.file}: action.log_prob_output "${logProbOutput}" ${showShape(lp)} has ${w} values per decision; it must hold the chosen action's log-probability (one value)`,
          card.file,
        );
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
        throw inputError(
          `${label}: state output "${s.output}" ${showShape(outInfoS)} does not fit state input "${s.input}" ${showShape(sInfo)}; pair each state output with the input it feeds`,
          card.file,
        );
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

/** The first and last decision bar of any simulation (lo > hi when there is none). */
function decisionSpan(sims: readonly Simulation[]): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of sims) {
    lo = Math.min(lo, s.decisionIndex);
    hi = Math.max(hi, s.decisionIndex + s.length - 1);
  }
  return { lo, hi };
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
  split: { runner: FirstLayerSplit; result: InferencePath } | null = null,
): Promise<void> {
  card = boundCard(card, b);
  const size = builder.size;
  // An episode-start flag depends on the decision's place in its window: such inputs go step by step.
  const stepwise = builder.usesState || b.state.length > 0 || !b.batchable || b.extra.some((x) => x.value === 'episode_start');

  if (!stepwise) {
    // Every decision bar any simulation will ask about, inferred once.
    const { lo, hi } = decisionSpan(sims);
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
        stepOn(sims, i, outputs!, (tau - lo) * width, s.state().target, card, label, logProbs?.[tau - lo], record);
      }
    }
    return;
  }

  if (split !== null) {
    const why = splitRefusal(b, card, builder.usesState);
    if (why !== null) split.result.reason = why;
    else if (await lockstepSplit(sims, model, b, card, builder, label, record, split.runner, split.result)) return;
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
        stepOn(sims, i, out, k * width, targets[k]!, card, label, logProb?.[k], record);
      }
    }
  }
}

/**
 * Decides simulation i's action from the output at `offset`, records its target and action code (driveJob's
 * record: the targets of each simulation, then their codes), and steps it.
 */
function stepOn(sims: Simulation[], i: number, out: Float32Array, offset: number, current: number, card: PolicyCard, label: string, logProb: number | undefined, record: Float64Array[] | null): void {
  const s = sims[i]!;
  const { target, action } = decideTarget(out, offset, card, current, label, logProb);
  const code = action === null ? 0 : actionCode(action.index, action.belowMinConfidence);
  if (record) {
    record[i]![s.stepsTaken] = target;
    if (record.length > sims.length) record[sims.length + i]![s.stepsTaken] = code;
  }
  s.recordAction(code);
  s.step(target, card.action.type);
}

/** Why the first-layer split does not apply to this model and card (null: it may). */
export function splitRefusal(b: Binding, card: PolicyCard, usesState: boolean): string | null {
  if (!usesState) return 'the observation has no state features: each decision bar is inferred once already';
  if (b.state.length > 0) return 'a recurrent policy: its state input changes every step';
  if (b.extra.length > 0) return 'the model takes extra inputs';
  if (!b.batchable) return 'the model takes a fixed batch of one';
  if (card.action.type !== 'discrete') return 'a continuous policy: there is no margin between actions to guard a decision';
  if (b.outputKind === 'action_index') return 'the action output is an index chosen inside the model: there is no margin to guard a decision';
  return null;
}

/** Whether a decision could change with a last-bits difference: a near tie, near min_confidence, or a non-finite value. */
function nearTie(out: Float32Array, offset: number, width: number, kind: OutputKind | 'continuous', minConfidence: number, guard: number): boolean {
  let top = -Infinity;
  let second = -Infinity;
  for (let i = offset; i < offset + width; i++) {
    const v = out[i]!;
    if (!Number.isFinite(v)) return true;
    if (v > top) {
      second = top;
      top = v;
    } else if (v > second) second = v;
  }
  if (top - second < guard) return true;
  if (minConfidence > 0) {
    let confidence: number;
    if (kind === 'probs') confidence = top;
    else if (kind === 'log_probs') confidence = Math.exp(top);
    else {
      let sum = 0;
      for (let i = offset; i < offset + width; i++) sum += Math.exp(out[i]! - top);
      confidence = 1 / sum;
    }
    if (Math.abs(confidence - minConfidence) < guard) return true;
  }
  return false;
}

/**
 * The lockstep loop with the first layer split: the trunk once per decision bar, then per step only the
 * head on the state columns. Checked first against the full model; false (nothing stepped) when the
 * check fails or the trunk cannot be computed, and the caller runs the full model instead.
 */
async function lockstepSplit(
  sims: Simulation[],
  model: ModelRunner,
  b: Binding,
  card: PolicyCard,
  builder: ObservationBuilder,
  label: string,
  record: Float64Array[] | null,
  split: FirstLayerSplit,
  result: InferencePath,
): Promise<boolean> {
  const size = builder.size;
  const Hs = split.hidden;
  const K = Hs.length;
  // One value per group of state columns (the columns of a group hold the same value).
  const stateFirst = builder.stateColumns().groupFirst;
  const S = stateFirst.length;
  const minConfidence = card.action.type === 'discrete' ? card.action.minConfidence : 0;
  const { trunkInput, trunkOutputs, headState, headTrunks } = split.names;
  const runTrunk = async (obs: Float32Array, n: number): Promise<Float32Array[]> => {
    if (split.trunk === null) throw new Error(`${label}: the split has no direct trunk`);
    const res = await split.trunk.run({ [trunkInput]: { data: obs.length === n * size ? obs : obs.subarray(0, n * size), dims: [n, size] } }, trunkOutputs);
    return trunkOutputs.map((name, k) => {
      const out = res[name]!.data;
      if (out.length !== n * Hs[k]!) throw new Error(`${label}: the split's trunk gave ${out.length} values for ${n} rows of ${Hs[k]}`);
      return out;
    });
  };
  const runHead = async (state: Float32Array, trunk: readonly Float32Array[], n: number): Promise<Float32Array> => {
    const feeds: Record<string, FloatTensor> = { [headState]: { data: state.subarray(0, n * S), dims: [n, S] } };
    for (let k = 0; k < K; k++) feeds[headTrunks[k]!] = { data: trunk[k]!.subarray(0, n * Hs[k]!), dims: [n, Hs[k]!] };
    return (await split.head.run(feeds, [b.output]))[b.output]!.data;
  };

  // ---- the decision bars: each simulation's window, every bar it decides at.
  const { lo, hi } = decisionSpan(sims);
  if (!(hi >= lo)) return false;
  const rowOf = new Int32Array(hi - lo + 1).fill(-1);
  for (const s of sims) for (let t = s.decisionIndex; t < s.decisionIndex + s.length; t++) rowOf[t - lo] = 0;
  const bars: number[] = [];
  for (let t = lo; t <= hi; t++) if (rowOf[t - lo] === 0) rowOf[t - lo] = bars.push(t) - 1;

  // ---- the trunk as a convolution over the span of decision bars, when the model has one and the
  // decision bars fill at least half of their span; checked below with the rest.
  let convRows = split.conv && 2 * bars.length >= hi - lo + 1 ? await convTrunkRows(split.conv, builder, lo, hi, rowOf, bars.length, Hs) : null;

  // ---- the self-check: the golden vectors and bars spread over the windows, with several states.
  {
    // A golden vector whose state columns of one group differ is not an observation this card builds: left out.
    const { indices: stateIdx, groupOf } = builder.stateColumns();
    const grouped = (o: Float32Array): boolean => stateIdx.every((e, j) => Object.is(o[e], o[stateFirst[groupOf[j]!]!]));
    const rows: Float32Array[] = [...(split.samples ?? [])].filter((o) => o.length === size && grouped(o));
    const goldens = rows.length;
    const sampled: number[] = [];
    const stride = Math.max(1, Math.floor(bars.length / SELF_CHECK_BARS));
    try {
      for (let k = 0, j = 0; k < bars.length && j < SELF_CHECK_BARS; k += stride, j++) {
        rows.push(builder.build(bars[k]!, SELF_CHECK_STATES[j % SELF_CHECK_STATES.length]!, new Float32Array(size)));
        sampled.push(k);
      }
    } catch {
      result.reason = 'the self-check could not build its observations: the full model runs and reports the problem';
      return false;
    }
    const n = rows.length;
    const obs = new Float32Array(n * size);
    const state = new Float32Array(n * S);
    rows.forEach((r, k) => {
      obs.set(r, k * size);
      for (let g = 0; g < S; g++) state[k * S + g] = r[stateFirst[g]!]!;
    });
    const full = (await infer(model, b, card, obs, n, null)).out;
    let scale = 1;
    for (let i = 0; i < full.length; i++) if (Number.isFinite(full[i]!)) scale = Math.max(scale, Math.abs(full[i]!));
    let err = 0;
    if (split.trunk !== null) {
      const mine = await runHead(state, await runTrunk(obs, n), n);
      if (mine.length !== full.length) {
        result.reason = `self-check: the split gives ${mine.length} output values for ${n} rows, the full model ${full.length}`;
        return false;
      }
      err = largestDifference(mine, full, 0);
    }
    if (convRows !== null) {
      // The sampled bars again, with the convolution's trunk rows: its error joins the split's, or the
      // trunk is computed directly when it is above the tolerance.
      const m = sampled.length;
      const trunk = Hs.map((H, k) => {
        const t = new Float32Array(m * H);
        for (let j = 0; j < m; j++) t.set(convRows![k]!.subarray(sampled[j]! * H, (sampled[j]! + 1) * H), j * H);
        return t;
      });
      const width = full.length / n;
      const viaConv = await runHead(state.subarray(goldens * S), trunk, m);
      const convErr = viaConv.length === m * width ? largestDifference(viaConv, full, goldens * width) : Infinity;
      if (convErr <= SELF_CHECK_TOLERANCE * scale) err = Math.max(err, convErr);
      else convRows = null;
    }
    if (convRows === null && split.trunk === null) {
      result.reason = 'the trunk as a convolution could not read the decision bars, or differed from the full model in the self-check: the full model runs';
      return false;
    }
    result.selfCheckError = err;
    if (!(err <= SELF_CHECK_TOLERANCE * scale)) {
      result.reason = `self-check: the split differs from the full model by ${err.toPrecision(3)} on ${n} rows (more than ${SELF_CHECK_TOLERANCE} × ${scale.toPrecision(3)})`;
      delete result.selfCheckError;
      return false;
    }
    result.guard = Math.max(GUARD_FLOOR * scale, GUARD_FACTOR * err);
  }
  const guard = result.guard!;

  // ---- the trunk, once per decision bar, in large batches (unless the convolution gave it).
  result.trunk = convRows === null ? 'direct' : 'convolution';
  const trunkRows = convRows ?? Hs.map((H) => new Float32Array(bars.length * H));
  if (convRows === null) {
    const chunk = Math.max(1, Math.min(bars.length, Math.floor(MAX_BATCH_VALUES / size)));
    const obs = new Float32Array(chunk * size);
    for (let first = 0; first < bars.length; first += chunk) {
      const n = Math.min(chunk, bars.length - first);
      try {
        for (let k = 0; k < n; k++) builder.build(bars[first + k]!, FLAT_STATE, obs, k * size);
      } catch {
        // A bar the observation cannot be built at: the full model's loop meets it in its own order
        // and reports it the same way as without the split.
        result.reason = 'an observation could not be built: the full model runs and reports the problem';
        delete result.guard;
        delete result.selfCheckError;
        delete result.trunk;
        return false;
      }
      const rows = await runTrunk(obs, n);
      for (let k = 0; k < K; k++) trunkRows[k]!.set(rows[k]!, first * Hs[k]!);
    }
  }

  // ---- lockstep over the head; near ties go to the full model.
  result.path = 'split';
  result.reason = null;
  const n0 = sims.length;
  const state = new Float32Array(n0 * S);
  const trunk = Hs.map((H) => new Float32Array(n0 * H));
  const full = new Float32Array(n0 * size);
  const redo = new Int32Array(n0);
  const active = new Int32Array(n0);
  const targets = new Float64Array(n0);
  const decisionState = { position: 0, unrealizedReturn: 0 };
  let width = 0;
  for (;;) {
    let n = 0;
    for (let i = 0; i < n0; i++) if (!sims[i]!.done) active[n++] = i;
    if (n === 0) break;
    for (let k = 0; k < n; k++) {
      const s = sims[active[k]!]!;
      const st = s.state();
      targets[k] = st.target;
      decisionState.position = st.exposure;
      decisionState.unrealizedReturn = st.unrealizedReturn;
      builder.buildState(s.decisionIndex, decisionState, state, k * S);
      const r = rowOf[s.decisionIndex - lo]!;
      for (let j = 0; j < K; j++) {
        const H = Hs[j]!;
        trunk[j]!.set(trunkRows[j]!.subarray(r * H, (r + 1) * H), k * H);
      }
    }
    const out = await runHead(state, trunk, n);
    if (width === 0) width = outputWidth(card, out.length, n, label);
    let m = 0;
    for (let k = 0; k < n; k++) if (nearTie(out, k * width, width, b.outputKind, minConfidence, guard)) redo[m++] = k;
    if (m > 0) {
      for (let j = 0; j < m; j++) {
        const k = redo[j]!;
        const s = sims[active[k]!]!;
        const st = s.state();
        decisionState.position = st.exposure;
        decisionState.unrealizedReturn = st.unrealizedReturn;
        builder.build(s.decisionIndex, decisionState, full, j * size);
      }
      const exact = (await infer(model, b, card, full, m, null)).out;
      for (let j = 0; j < m; j++) out.set(exact.subarray(j * width, (j + 1) * width), redo[j]! * width);
      result.recomputed += m;
    }
    result.rows += n;
    for (let k = 0; k < n; k++) stepOn(sims, active[k]!, out, k * width, targets[k]!, card, label, undefined, record);
  }
  return true;
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
  /**
   * Decision bars whose observation (at FLAT_STATE) comes back with the targets: the look-ahead audit
   * compares them, built from the whole series, with the same bars' observations built without the
   * future, so policy-gate's own process never computes the features of every bar.
   */
  observe?: readonly number[];
}

/** What driveJob returns: the recorded targets, and the observations `job.observe` asked for (bar-major), or null. */
export interface DrivenJob {
  targets: Float64Array[];
  observations: Float32Array | null;
}

/**
 * Rebuilds the job's observation builder and simulations and drives them to the end: the target each
 * simulation stepped to at each of its decisions, in order. Replaying those targets on simulations
 * made from the same bars, windows and costs reproduces them exactly (replayTargets).
 */
export async function driveJob(job: SimulationJob, model: ModelRunner, split: { runner: FirstLayerSplit; result: InferencePath } | null = null): Promise<DrivenJob> {
  const { card, bars } = job;
  const builder = new ObservationBuilder(card, bars);
  const sims = job.simulations.map((s) => new Simulation(bars, { start: s.start, end: s.end }, s.costs, { periodsPerYear: job.periodsPerYear }));
  // The targets of each simulation, then its action codes (for the action histogram; see actionCode).
  const record = [...sims, ...sims].map((s) => new Float64Array(s.length));
  await runSimulations(sims, model, job.binding, card, builder, job.label, record, split);
  const observe = job.observe ?? [];
  if (observe.length === 0) return { targets: record, observations: null };
  const observations = new Float32Array(observe.length * builder.size);
  for (let k = 0; k < observe.length; k++) builder.build(observe[k]!, FLAT_STATE, observations, k * builder.size);
  return { targets: record, observations };
}

/** Steps each simulation through the targets driveJob recorded for it. */
export function replayTargets(sims: readonly Simulation[], recorded: readonly Float64Array[], card: PolicyCard, label: string): void {
  // driveJob's record: the targets of each simulation, then (optionally) its action codes.
  const targets = recorded.slice(0, sims.length);
  const codes = recorded.length === 2 * sims.length ? recorded.slice(sims.length) : null;
  if ((recorded.length !== sims.length && codes === null) || sims.some((s, i) => s.length !== targets[i]!.length || (codes !== null && codes[i]!.length !== s.length))) {
    throw new Error(
      `${label}: the onnxruntime process returned decisions for ${targets.length} simulations of ${targets.map((t) => t.length).join('/')} steps; expected ${sims.length} of ${sims.map((s) => s.length).join('/')}`,
    );
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

/**
 * The largest |a[i] − b[offset + i]| over a; Infinity when a value of a is NaN where b's is finite.
 */
function largestDifference(a: Float32Array, b: Float32Array, offset: number): number {
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[offset + i]!);
    if (!(d <= err)) err = Number.isNaN(d) && Number.isFinite(b[offset + i]!) ? Infinity : Number.isNaN(d) ? err : d;
  }
  return err;
}

/**
 * The trunk rows of the decision bars (rowOf: bar − lo → row, −1 for a bar no simulation decides at)
 * from the trunk as a convolution (FirstLayerSplit.conv), in chunks of blocks; null when a bar in the
 * span cannot be read that way (a non-finite value, per-element normalisation): the direct trunk then
 * meets it as before.
 */
async function convTrunkRows(
  conv: NonNullable<FirstLayerSplit['conv']>,
  builder: ObservationBuilder,
  lo: number,
  hi: number,
  rowOf: Int32Array,
  rows: number,
  Hs: readonly number[],
): Promise<Float32Array[] | null> {
  const W = builder.window;
  const { block: B, perBlock: M } = conv;
  const Fc = conv.runner.inputs.find((i) => i.name === conv.columnsInput)?.shape[1];
  if (typeof Fc !== 'number' || !(M >= 1)) return null;
  const Fw = builder.windowedCount;
  const span = hi - lo + 1;
  const total = Math.ceil(span / M);
  const chunk = Math.max(1, Math.min(total, Math.floor(MAX_BATCH_VALUES / Math.max(Fc * B, M * W * Fw))));
  const out = Hs.map((H) => new Float32Array(rows * H));
  const X = new Float32Array(chunk * Fc * B);
  const R = conv.windowedInput === null ? null : new Float32Array(chunk * M * W * Fw);
  for (let b0 = 0; b0 < total; b0 += chunk) {
    const nb = Math.min(chunk, total - b0);
    X.fill(0);
    R?.fill(0);
    for (let b = 0; b < nb; b++) {
      const start = lo - W + 1 + (b0 + b) * M;
      const count = Math.min(B, hi - start + 1);
      if (!builder.writeColumnChannels(start, count, X, b * Fc * B, B)) return null;
    }
    const first = lo + b0 * M;
    const last = Math.min(hi, first + nb * M - 1);
    if (R !== null) for (let t = first; t <= last; t++) if (rowOf[t - lo]! >= 0 && !builder.buildWindowed(t, R, (t - first) * W * Fw)) return null;
    const feeds: Record<string, FloatTensor> = { [conv.columnsInput]: { data: nb === chunk ? X : X.subarray(0, nb * Fc * B), dims: [nb, Fc, B] } };
    if (R !== null) feeds[conv.windowedInput!] = { data: nb === chunk ? R : R.subarray(0, nb * M * W * Fw), dims: [nb * M, W * Fw] };
    const res = await conv.runner.run(feeds, conv.outputs);
    for (let k = 0; k < Hs.length; k++) {
      const H = Hs[k]!;
      const data = res[conv.outputs[k]!]?.data;
      if (!data || data.length !== nb * M * H) return null;
      for (let t = first; t <= last; t++) {
        const r = rowOf[t - lo]!;
        if (r >= 0) out[k]!.set(data.subarray((t - first) * H, (t - first + 1) * H), r * H);
      }
    }
  }
  return out;
}
