/**
 * Stages 3–5 of the pipeline for one model: load it, check its golden vectors, build observations,
 * run the backtest and the walk-forward folds, and fill in the model's report.
 *
 * Inference is batched: when the observation does not depend on the position or a recurrent state,
 * every decision bar of every window is evaluated in a few large calls (the folds and the backtest
 * share decision bars, so each bar is inferred once). Otherwise all windows advance in lockstep, one
 * batched call per step.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { decideTarget } from '../core/actions.js';
import { parseCard, warmupBars, type PolicyCard } from '../core/card.js';
import { inputError, errorMessage, PolicyGateError } from '../core/errors.js';
import { evaluationWindow, splitFolds, summarizeFolds } from '../core/folds.js';
import { observedBarsPerTradingDay, periodsPerYear } from '../core/metrics.js';
import { ObservationBuilder, FLAT_STATE } from '../core/observation.js';
import type { FoldReport, ModelReport, WindowReport } from '../core/report.js';
import { Simulation, type BacktestResult, type CostModel } from '../core/simulate.js';
import { modelCharts } from '../core/charts.js';
import { timeframeMs, type BarSeries, type DataQualityNote } from '../core/types.js';
import type { PolicyModel, FloatTensor } from '../adapters/onnx/session.js';
import { writeFileAtomic } from './output.js';
import { collectEvidence } from './evidence.js';

/**
 * Values per inference call on the batched path (2 Mi float32 = 8 MiB, e.g. 355 observations of
 * 100 × 59): bounds memory for wide observations, and keeps the observation buffer in the last-level
 * cache while it is written and read — measured 10 % faster end to end than 32 MiB chunks, while
 * the per-call overhead stays under 1 % of a call (docs/performance.md). Each observation's output
 * does not depend on the batch it is in, so the chunk size does not change any result.
 */
const MAX_BATCH_VALUES = 2 * 1024 * 1024;
const GOLDEN_TOLERANCE = 1e-4;

export interface EvaluationPlan {
  config: Config;
  /** The window end (epoch ms); default: the last bar. */
  endMs: number | undefined;
  backtestDays: number;
  /** null: no walk-forward (the `backtest` command without --walk-forward). */
  walkForward: { days: number; folds: number } | null;
  equityOut: string | null;
  log: (line: string) => void;
  /** The card belongs to another model (a checkpoint evaluated with the final model's card): skip its inference vectors. */
  borrowedCard?: boolean;
  /** Gather the evidence of docs/evidence.md when there is a walk-forward (default true; false for a champion's re-run). */
  evidence?: boolean;
  /** Makes the observation builder (default: new ObservationBuilder(card, bars)); a seam for the look-ahead audit's tests. */
  observationBuilder?: (card: PolicyCard, bars: BarSeries) => ObservationBuilder;
}

export interface BarsInput {
  bars: BarSeries;
  notes: DataQualityNote[];
}

/** What a model's evaluation needs from the market: the windows' days before `endMs`, plus warm-up. */
export interface BarsRequest {
  symbol: string;
  timeframe: BarSeries['timeframe'];
  assetClass: 'crypto' | 'us_equity';
  endMs: number | undefined;
  days: number;
  warmupBars: number;
}

export type BarsProvider = (req: BarsRequest) => Promise<BarsInput>;

const iso = (ms: number): string => new Date(ms).toISOString();

/** How a model is fed: its input name and rank, the output it is read from, its recurrent state. */
interface Binding {
  input: string;
  rank3: boolean;
  output: string;
  batchable: boolean;
  state: { input: string; output: string; size: number }[];
}

function bindModel(model: PolicyModel, card: PolicyCard, label: string): Binding {
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
async function infer(
  model: PolicyModel,
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

function outputWidth(card: PolicyCard, total: number, n: number, label: string): number {
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

/** Golden vectors (SPEC section 3). Returns the flags they raise, with reasons. */
async function checkGolden(
  model: PolicyModel,
  b: Binding,
  card: PolicyCard,
  builder: ObservationBuilder,
  bars: BarSeries,
  skipInference: boolean,
): Promise<{ flags: ('INFERENCE_MISMATCH' | 'OBSERVATION_MISMATCH')[]; messages: string[]; notes: string[] }> {
  const flags = new Set<'INFERENCE_MISMATCH' | 'OBSERVATION_MISMATCH'>();
  const messages: string[] = [];
  const notes: string[] = [];
  let checkedInference = 0;
  let checkedObservation = 0;
  let skipped = 0;
  for (const g of card.golden) {
    if (g.output && skipInference) skipped++;
    else if (g.output) {
      checkedInference++;
      const { out } = await infer(model, b, card, Float32Array.from(g.obs), 1, null);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < g.output.length; i++) {
        const d = Math.abs((out[i] ?? NaN) - g.output[i]!);
        if (!(d <= worst)) {
          worst = Number.isNaN(d) ? Infinity : d;
          at = i;
        }
      }
      if (out.length !== g.output.length || worst > GOLDEN_TOLERANCE) {
        flags.add('INFERENCE_MISMATCH');
        messages.push(
          `INFERENCE_MISMATCH: golden[${g.index}] output[${at}] is ${out[at]} from onnxruntime but ${g.output[at]} in ${card.file} (|diff| ${worst.toExponential(2)} > ${GOLDEN_TOLERANCE}); the ONNX export does not reproduce the training framework`,
        );
      }
    }
    if (g.at !== null) {
      const tau = indexOfTime(bars.time, g.at);
      if (tau < 0) {
        notes.push(`golden[${g.index}]: no bar starts at ${g.atIso} in the data; observation parity not checked for it`);
        continue;
      }
      if (!builder.isValid(tau)) {
        notes.push(`golden[${g.index}]: the bar at ${g.atIso} is inside the warm-up; observation parity not checked for it`);
        continue;
      }
      checkedObservation++;
      const built = builder.build(tau, FLAT_STATE, new Float32Array(builder.size));
      let worst = 0;
      let at = 0;
      for (let i = 0; i < built.length; i++) {
        const d = Math.abs(built[i]! - g.obs[i]!);
        if (!(d <= worst)) {
          worst = Number.isNaN(d) ? Infinity : d;
          at = i;
        }
      }
      if (worst > GOLDEN_TOLERANCE) {
        const loc = builder.locate(at);
        flags.add('OBSERVATION_MISMATCH');
        messages.push(
          `OBSERVATION_MISMATCH: golden[${g.index}] at ${g.atIso}: value ${at} (row ${loc.row}, ${loc.label}) is ${built[at]} here but ${g.obs[at]} in ${card.file} (|diff| ${worst.toExponential(2)}); the observation builder does not match the training code`,
        );
      }
    }
  }
  if (checkedInference + checkedObservation > 0) {
    notes.push(
      `golden vectors: ${checkedInference} inference and ${checkedObservation} observation parity checks` +
        (flags.size === 0 ? ' passed' : ' run'),
    );
  }
  if (skipped > 0) {
    notes.push(`${skipped} inference golden vector(s) skipped: they were exported for the final model, not this checkpoint; give the checkpoint its own card to check it`);
  }
  return { flags: [...flags], messages, notes };
}

function indexOfTime(time: Float64Array, t: number): number {
  let lo = 0;
  let hi = time.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (time[mid]! === t) return mid;
    if (time[mid]! < t) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Drives every simulation to the end, batching inference as the policy allows. */
async function runSimulations(
  sims: Simulation[],
  model: PolicyModel,
  b: Binding,
  card: PolicyCard,
  builder: ObservationBuilder,
  label: string,
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
    for (const s of sims) {
      while (!s.done) {
        const tau = s.decisionIndex;
        const { target } = decideTarget(outputs!, (tau - lo) * width, card, s.state().target, label);
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
        const { target } = decideTarget(out, k * width, card, targets[k]!, label);
        sims[i]!.step(target, kind);
      }
    }
  }
}

function windowReport(r: BacktestResult): WindowReport {
  return { start: iso(r.startTime), end: iso(r.endTime), bars: r.bars, metrics: r.metrics };
}

function equityCsv(r: BacktestResult): string {
  const lines = ['timestamp,equity,exposure'];
  const { timestamps, equity, exposure } = r.curve;
  for (let i = 0; i < equity.length; i++) {
    lines.push(`${iso(timestamps[i]!)},${equity[i]!.toFixed(6)},${exposure[i]!.toFixed(6)}`);
  }
  return lines.join('\n') + '\n';
}

export interface EvaluatedModel {
  card: PolicyCard;
  /** Earliest bar the evaluation read (warm-up included) and the last. */
  range: { start: number; end: number };
}

/**
 * Evaluate one model into `report` (backtest, walkForward, flags, errors, notes, model info).
 * Throws a PolicyGateError for problems of this model; the caller records it and moves on.
 */
export async function evaluateModel(
  report: ModelReport,
  model: PolicyModel,
  cardJson: unknown,
  cardFile: string,
  getBars: BarsProvider,
  plan: EvaluationPlan,
): Promise<EvaluatedModel> {
  const label = report.model?.path ?? report.id;
  const card = parseCard(cardJson, cardFile, { symbol: report.symbol, timeframe: report.timeframe });
  report.assetClass = card.assetClass;
  report.assetClassGuessed = card.assetClassGuessed;
  if (card.assetClassGuessed) report.notes.push(`asset class guessed from the symbol: ${card.assetClass} (set "asset_class" in the card)`);
  report.notes.push(...card.warnings.map((w) => `${cardFile}: ${w}`));

  const b = bindModel(model, card, label);
  const { bars, notes } = await getBars({
    symbol: card.symbol,
    timeframe: card.timeframe,
    assetClass: card.assetClass,
    endMs: plan.endMs,
    days: Math.max(plan.backtestDays, plan.walkForward?.days ?? 0),
    warmupBars: warmupBars(card) + 1,
  });
  report.dataQuality.push(...notes);
  const makeBuilder = plan.observationBuilder ?? ((c: PolicyCard, x: BarSeries) => new ObservationBuilder(c, x));
  const builder = makeBuilder(card, bars);

  const golden = await checkGolden(model, b, card, builder, bars, plan.borrowedCard ?? false);
  report.notes.push(...golden.notes);
  if (golden.flags.length > 0) {
    report.flags.push(...golden.flags);
    report.errors.push(...golden.messages);
    throw new GoldenMismatch(golden.messages[0]!);
  }

  const cfg = plan.config;
  const time = bars.time;
  const bt = evaluationWindow(time, plan.endMs, plan.backtestDays);
  const windows: { kind: 'backtest' | 'fold'; index: number; start: number; end: number }[] = [
    { kind: 'backtest', index: 0, start: bt.start, end: bt.end },
  ];
  let wfDays = 0;
  if (plan.walkForward) {
    wfDays = plan.walkForward.days;
    const wf = evaluationWindow(time, plan.endMs, plan.walkForward.days);
    for (const f of splitFolds(wf.start, wf.end, plan.walkForward.folds)) windows.push({ kind: 'fold', index: f.index, start: f.start, end: f.end });
  }
  const firstDecision = Math.min(...windows.map((w) => w.start)) - (cfg.backtest.fill === 'close' ? 0 : 1);
  if (firstDecision < builder.firstValidIndex) {
    const needFrom = firstDecision - builder.firstValidIndex;
    throw inputError(
      `${report.id}: too little history before ${iso(time[Math.min(...windows.map((w) => w.start))]!)}: the observation needs ${builder.firstValidIndex} bars of warm-up before the first decision, ` +
        `but the data starts only ${firstDecision} bars earlier (${-needFrom} missing, data begins ${iso(time[0]!)}); fetch more history or shorten the windows`,
      report.id,
    );
  }

  // Out-of-sample check against the training window.
  if (report.train.end) {
    const limit = Date.parse(report.train.end) + cfg.walkForward.embargoBars * timeframeMs(report.timeframe);
    const earliest = Math.min(...windows.map((w) => time[w.start]!));
    if (earliest <= limit) {
      report.flags.push('IN_SAMPLE_OVERLAP');
      report.notes.push(
        `IN_SAMPLE_OVERLAP: the evaluation starts ${iso(earliest)}, at or before train_end ${report.train.end}` +
          (cfg.walkForward.embargoBars ? ` + ${cfg.walkForward.embargoBars} embargo bars` : '') +
          '; these results are partly in sample, so the model cannot be LIVE',
      );
    }
  }

  const P =
    cfg.backtest.periodsPerYear ??
    periodsPerYear(card.timeframe, card.assetClass, card.assetClass === 'us_equity' ? observedBarsPerTradingDay(time) : null);
  const costs: CostModel = {
    feeBps: cfg.backtest.feeBps[card.assetClass],
    slippageBps: cfg.backtest.slippageBps,
    minTradeValue: cfg.backtest.minTradeValue,
    capital: cfg.backtest.capital,
    fill: cfg.backtest.fill,
    rebalanceBand: card.execution.rebalanceBand,
  };
  if (cfg.backtest.fill === 'close') report.notes.push('fill "close": decisions fill at the close of the bar they were taken on — optimistic');

  const sims = windows.map((w) => new Simulation(bars, { start: w.start, end: w.end }, costs, { periodsPerYear: P }));
  // The cost-stressed folds (docs/evidence.md) run alongside, in the same inference calls: on the batched
  // path they ask about the same decision bars, in lockstep they ride in the same per-step batch.
  const withEvidence = plan.walkForward !== null && plan.evidence !== false;
  const m = cfg.evidence.costStress.multiplier;
  const stressedCosts: CostModel | null = m === null ? null : { ...costs, feeBps: costs.feeBps * m, slippageBps: costs.slippageBps * m };
  const stressSims =
    withEvidence && stressedCosts
      ? windows.slice(1).map((w) => new Simulation(bars, { start: w.start, end: w.end }, stressedCosts, { periodsPerYear: P }))
      : [];
  await runSimulations([...sims, ...stressSims], model, b, card, builder, label);
  const results = sims.map((s) => s.finish());

  report.backtest = windowReport(results[0]!);
  if (plan.walkForward) {
    const foldResults = results.slice(1);
    const folds: FoldReport[] = foldResults.map((r, i) => ({ index: windows[i + 1]!.index, ...windowReport(r) }));
    const summary = summarizeFolds(
      folds.map((f) => f.metrics),
      plan.walkForward.folds,
      {
        good: { positiveShare: cfg.decision.live.minPositiveShare, sharpeStdBelow: cfg.decision.live.maxSharpeStd },
        marginal: { positiveShare: cfg.decision.paper.minPositiveShare, sharpeStdAtMost: cfg.decision.paper.maxSharpeStd },
      },
    );
    report.walkForward = { days: wfDays, folds, summary };
    if (withEvidence) {
      report.evidence = collectEvidence({
        report,
        config: cfg,
        bars,
        builder,
        makeBuilder: (x) => makeBuilder(card, x),
        foldWindows: windows.slice(1),
        foldResults,
        summary,
        stressed: stressedCosts ? { costs: stressedCosts, results: stressSims.map((s) => s.finish()) } : null,
        periodsPerYear: P,
      });
    }
  }
  report.charts = modelCharts(results[0]!, results.slice(1), windows.slice(1).map((w) => w.index), bars);

  if (plan.equityOut) {
    await mkdir(plan.equityOut, { recursive: true });
    const safeId = report.id.replace(/[^A-Za-z0-9._-]/g, '_');
    await writeFileAtomic(join(plan.equityOut, `${safeId}.backtest.csv`), equityCsv(results[0]!));
    for (let i = 1; i < results.length; i++) {
      await writeFileAtomic(join(plan.equityOut, `${safeId}.fold${windows[i]!.index}.csv`), equityCsv(results[i]!));
    }
  }
  return { card, range: { start: time[Math.max(0, firstDecision - builder.firstValidIndex)]!, end: time[Math.max(...windows.map((w) => w.end))]! } };
}

/** A golden-vector mismatch: the model is DROP, its flags and messages are already in the report. */
export class GoldenMismatch extends PolicyGateError {
  constructor(message: string) {
    super('input', message);
  }
}

export function describeError(err: unknown): string {
  return err instanceof PolicyGateError ? err.message : `internal error: ${errorMessage(err)}`;
}
