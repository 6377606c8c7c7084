/**
 * Stages 3–5 of the pipeline for one model: load it, check its golden vectors, build observations,
 * run the backtest and the walk-forward folds, and fill in the model's report.
 *
 * Inference is batched: when the observation does not depend on the position or a recurrent state,
 * every decision bar of every window is evaluated in a few large calls (the folds and the backtest
 * share decision bars, so each bar is inferred once). Otherwise all windows advance in lockstep, one
 * batched call per step. That loop (../core/drive.ts) runs inside the model's onnxruntime process, one
 * request per model, and its decisions are replayed here (docs/performance.md).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { parseCard, warmupBars, type PolicyCard } from '../core/card.js';
import { errorMessage, PolicyGateError, RunInputError } from '../core/errors.js';
import { evaluationWindow, splitFolds, summarizeFolds } from '../core/folds.js';
import { observedBarsPerTradingDay, periodsPerYear } from '../core/metrics.js';
import { ObservationBuilder, FLAT_STATE } from '../core/observation.js';
import type { FoldReport, ModelReport, WindowReport } from '../core/report.js';
import { Simulation, type BacktestResult, type CostModel } from '../core/simulate.js';
import { modelCharts } from '../core/charts.js';
import { timeframeMs, type BarSeries, type DataQualityNote } from '../core/types.js';
import type { PolicyModel } from '../adapters/onnx/session.js';
import { bindModel, infer, replayTargets, runSimulations, type Binding, type SimulationJob } from '../core/drive.js';
import { writeFileAtomic } from './output.js';
import { collectEvidence } from './evidence.js';

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
  /** How the flags that set the window lengths are called, for messages (default: validate's). */
  windowNames?: { backtest: string; walkForward: string };
  /** The card belongs to another model (a checkpoint evaluated with the final model's card): skip its inference vectors. */
  borrowedCard?: boolean;
  /** Gather the evidence of docs/evidence.md when there is a walk-forward (default true; false for a champion's re-run). */
  evidence?: boolean;
  /** Makes the observation builder (default: new ObservationBuilder(card, bars)); a seam for the look-ahead audit's tests. */
  observationBuilder?: (card: PolicyCard, bars: BarSeries) => ObservationBuilder;
  /**
   * Where the simulation loop runs: 'model' — inside the model's runtime process, one request for the
   * whole evaluation (the default when the model supports it); 'here' — in this process, one inference
   * request per step (always so with a custom observationBuilder). Results are identical.
   */
  drive?: 'model' | 'here';
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
const DAY_MS = 86_400_000;

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
  let loaded: BarsInput;
  try {
    loaded = await getBars({
      symbol: card.symbol,
      timeframe: card.timeframe,
      assetClass: card.assetClass,
      endMs: plan.endMs,
      days: Math.max(plan.backtestDays, plan.walkForward?.days ?? 0),
      warmupBars: warmupBars(card) + 1,
    });
  } catch (err) {
    // The bars are the run's input (--data), not the model's: a folder without the model's symbol, or a
    // file that cannot be read, is bad input of the run (exit 2), reported on this model.
    if (err instanceof PolicyGateError && err.kind === 'input' && !(err instanceof RunInputError)) throw new RunInputError(err.message, err.subject, err);
    throw err;
  }
  const { bars, notes } = loaded;
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
  const names = plan.windowNames ?? { backtest: '--backtest-days / backtest.days', walkForward: '--days / walk_forward.days' };
  const series = `${card.symbol} ${card.timeframe}`;
  const first = time.length ? iso(time[0]!) : null;
  const last = time.length ? iso(time[time.length - 1]!) : null;
  // The windows the flags ask for must lie inside the bars: an end before the data, or more days than
  // the data holds before the end, is bad input of the run (exit 2) — never a silently shorter window.
  if (time.length > 0 && plan.endMs !== undefined && plan.endMs < time[0]!) {
    throw new RunInputError(
      `${report.id}: the window end --end ${iso(plan.endMs)} is before the first bar of ${series} (${first}); the bars cover ${first} → ${last}: pass an --end inside them`,
      '--end',
    );
  }
  if (time.length > 0 && plan.endMs !== undefined && plan.endMs > time[time.length - 1]!) {
    report.notes.push(`--end ${iso(plan.endMs)} is after the last bar of ${series}: the windows end at that bar, ${last}`);
  }
  const placeWindow = (days: number, what: string, flag: string): { start: number; end: number } => {
    let w: { start: number; end: number };
    try {
      w = evaluationWindow(time, plan.endMs, days);
    } catch (err) {
      if (err instanceof PolicyGateError && err.kind === 'input') throw new RunInputError(`${report.id}: the ${days}-day ${what} window of ${series}: ${err.message} (${flag})`, flag, err);
      throw err;
    }
    const wanted = time[w.end]! - days * DAY_MS;
    if (time[0]! > wanted) {
      const held = (time[w.end]! - time[0]!) / DAY_MS;
      throw new RunInputError(
        `${report.id}: the ${days}-day ${what} window (${flag}) ending ${iso(time[w.end]!)} starts ${iso(wanted)}, before the first bar of ${series} (${first}): ` +
          `the bars hold ${Number(held.toFixed(1))} days before that end (and the observation needs warm-up bars before the window); ask for fewer days or fetch more history`,
        flag,
      );
    }
    return w;
  };
  const bt = placeWindow(plan.backtestDays, 'backtest', names.backtest);
  const windows: { kind: 'backtest' | 'fold'; index: number; start: number; end: number }[] = [
    { kind: 'backtest', index: 0, start: bt.start, end: bt.end },
  ];
  let wfDays = 0;
  if (plan.walkForward) {
    wfDays = plan.walkForward.days;
    const wf = placeWindow(plan.walkForward.days, 'walk-forward', names.walkForward);
    let folds: ReturnType<typeof splitFolds>;
    try {
      folds = splitFolds(wf.start, wf.end, plan.walkForward.folds);
    } catch (err) {
      if (err instanceof PolicyGateError && err.kind === 'input') throw new RunInputError(`${report.id}: ${series}: ${err.message}`, err.subject, err);
      throw err;
    }
    for (const f of folds) windows.push({ kind: 'fold', index: f.index, start: f.start, end: f.end });
  }
  const firstDecision = Math.min(...windows.map((w) => w.start)) - (cfg.backtest.fill === 'close' ? 0 : 1);
  if (firstDecision < builder.firstValidIndex) {
    const needFrom = firstDecision - builder.firstValidIndex;
    throw new RunInputError(
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
  const all = [...sims, ...stressSims];
  if (model.simulate && !plan.observationBuilder && plan.drive !== 'here') {
    const job: SimulationJob = {
      label,
      card: { ...card, golden: [] },
      bars,
      binding: b,
      simulations: [...windows.map((w) => ({ start: w.start, end: w.end, costs })), ...windows.slice(1, 1 + stressSims.length).map((w) => ({ start: w.start, end: w.end, costs: stressedCosts! }))],
      periodsPerYear: P,
    };
    replayTargets(all, await model.simulate(job), card, label);
  } else {
    await runSimulations(all, model, b, card, builder, label);
  }
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
