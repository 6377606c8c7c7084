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
import { decideTarget } from './actions.js';
import type { PolicyCard } from './card.js';
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

/** How a model is fed: its input name and rank, the output it is read from, its recurrent state. */
export interface Binding {
  input: string;
  rank3: boolean;
  output: string;
  batchable: boolean;
  state: { input: string; output: string; size: number }[];
}

export function bindModel(model: ModelRunner, card: PolicyCard, label: string): Binding {
  const stateInputs = new Set(card.state.map((s) => s.input));
  const stateOutputs = new Set(card.state.map((s) => s.output));
  for (const s of card.state) {
    if (!model.inputs.some((i) => i.name === s.input)) {
      throw inputError(`${card.file}: state.input "${s.input}" is not an input of ${label} (inputs: ${model.inputs.map((i) => i.name).join(', ')})`, card.file);
    }
    if (!model.outputs.some((o) => o.name === s.output)) {
      throw inputError(`${card.file}: state.output "${s.output}" is not an output of ${label} (outputs: ${model.outputs.map((o) => o.name).join(', ')})`, card.file);
    }
  }
  const dataInputs = model.inputs.filter((i) => !stateInputs.has(i.name));
  let input: string;
  if (card.input) {
    if (!model.inputs.some((i) => i.name === card.input)) {
      throw inputError(`${card.file}: input "${card.input}" is not an input of ${label} (inputs: ${model.inputs.map((i) => i.name).join(', ')})`, card.file);
    }
    input = card.input;
  } else if (dataInputs.length === 1) {
    input = dataInputs[0]!.name;
  } else {
    throw inputError(
      `${label} has ${dataInputs.length} inputs (${dataInputs.map((i) => i.name).join(', ')}); name the observation input in ${card.file} ("input")`,
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
  const batchable = typeof shape[0] !== 'number' || shape[0] === -1;

  const dataOutputs = model.outputs.filter((o) => !stateOutputs.has(o.name));
  const output = card.action.output ?? dataOutputs[0]?.name;
  if (!output || !model.outputs.some((o) => o.name === output)) {
    throw inputError(
      `${card.file}: action.output "${output}" is not an output of ${label} (outputs: ${model.outputs.map((o) => o.name).join(', ')})`,
      card.file,
    );
  }
  const state = card.state.map((s) => {
    const sh = model.inputs.find((i) => i.name === s.input)!.shape;
    const size = sh.slice(1).reduce<number>((a, d) => (typeof d === 'number' && d > 0 ? a * d : NaN), 1);
    if (!Number.isFinite(size)) {
      throw inputError(`${label}: recurrent input "${s.input}" has shape [${sh.join(', ')}]; its non-batch dimensions must be fixed`, label);
    }
    return { input: s.input, output: s.output, size };
  });
  return { input, rank3, output, batchable: batchable && state.every(() => true), state };
}

/** Runs the model on `n` observations laid out back to back in `obs`. */
export async function infer(
  model: ModelRunner,
  b: Binding,
  card: PolicyCard,
  obs: Float32Array,
  n: number,
  states: Float32Array[] | null,
): Promise<{ out: Float32Array; states: Float32Array[] }> {
  const { window: W, features } = card.observation;
  const F = features.length;
  const feeds: Record<string, FloatTensor> = {
    [b.input]: { data: obs.length === n * W * F ? obs : obs.subarray(0, n * W * F), dims: b.rank3 ? [n, W, F] : [n, W * F] },
  };
  b.state.forEach((s, i) => {
    feeds[s.input] = { data: states?.[i] ?? new Float32Array(n * s.size), dims: [n, s.size] };
  });
  const wanted = [b.output, ...b.state.map((s) => s.output)];
  const res = await model.run(feeds, wanted);
  const out = res[b.output]!;
  return { out: out.data, states: b.state.map((s) => res[s.output]!.data) };
}

export function outputWidth(card: PolicyCard, total: number, n: number, label: string): number {
  if (total % n !== 0) throw inputError(`${label}: output of ${total} values does not split into ${n} decisions`, label);
  const width = total / n;
  if (card.action.type === 'discrete' && width !== card.action.meanings.length) {
    throw inputError(
      `${label}: the output has ${width} values per decision but ${card.file} action.meanings lists ${card.action.meanings.length} (${card.action.meanings.join(', ')})`,
      card.file,
    );
  }
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
  const kind = card.action.type;
  const size = builder.size;
  const stepwise = builder.usesState || b.state.length > 0 || !b.batchable;

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
    let width = 0;
    for (let first = 0; first < count; first += chunk) {
      const n = Math.min(chunk, count - first);
      const taus = Array.from({ length: n }, (_, i) => lo + first + i);
      builder.buildBatch(taus, obs);
      const { out } = await infer(model, b, card, obs, n, null);
      if (!outputs) {
        width = outputWidth(card, out.length, n, label);
        outputs = new Float32Array(count * width);
      }
      outputs.set(out.subarray(0, n * width), first * width);
    }
    for (let i = 0; i < sims.length; i++) {
      const s = sims[i]!;
      while (!s.done) {
        const tau = s.decisionIndex;
        const { target, action } = decideTarget(outputs!, (tau - lo) * width, card, s.state().target, label);
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
        builder.build(s.decisionIndex, decisionState, obs, k * size);
      }
      let batchStates: Float32Array[] | null = null;
      if (b.state.length > 0) {
        batchStates = b.state.map((st, j) => {
          const buf = new Float32Array(n * st.size);
          for (let k = 0; k < n; k++) buf.set(states[active[startAt + k]!]![j]!, k * st.size);
          return buf;
        });
      }
      const { out, states: next } = await infer(model, b, card, obs, n, batchStates);
      if (width === 0) width = outputWidth(card, out.length, n, label);
      for (let k = 0; k < n; k++) {
        const i = active[startAt + k]!;
        for (let j = 0; j < b.state.length; j++) {
          const stateSize = b.state[j]!.size;
          states[i]![j]!.set(next[j]!.subarray(k * stateSize, (k + 1) * stateSize));
        }
        const { target, action } = decideTarget(out, k * width, card, targets[k]!, label);
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
