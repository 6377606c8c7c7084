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
import { guessAssetClass, parseCard, warmupBars, type PolicyCard } from '../core/card.js';
import { otherSymbolGaps } from '../core/features.js';
import { inputError, errorMessage, PolicyGateError, RunInputError } from '../core/errors.js';
import { evaluationWindow, ratingThresholdsOf, splitFolds, summarizeFolds } from '../core/folds.js';
import { observedBarsPerTradingDay, periodsPerYear } from '../core/metrics.js';
import { truncateSeries } from '../core/lookahead.js';
import { ObservationBuilder } from '../core/observation.js';
import { MAX_REPORT_TRADES, type FoldReport, type ModelReport, type TradeRecord, type WindowReport } from '../core/report.js';
import { Simulation, type BacktestResult, type CostModel, type Trade } from '../core/simulate.js';
import { modelCharts } from '../core/charts.js';
import { timeframeMs, type BarSeries, type DataQualityNote } from '../core/types.js';
import type { PolicyModel } from '../adapters/onnx/session.js';
import { bindModel, infer, replayTargets, runSimulations, type Binding, type SimulationJob } from '../core/drive.js';
import { writeFileAtomic } from './output.js';
import { auditBars, collectEvidence } from './evidence.js';
import { openFeatureGraph, type CardFileReader, type FeatureGraph } from './feature-graph.js';

/** Absolute tolerance of an inference golden vector, per value. */
export const GOLDEN_TOLERANCE = 1e-4;

export interface EvaluationPlan {
  config: Config;
  /** The window end (epoch ms); default: the last bar. */
  endMs: number | undefined;
  backtestDays: number;
  /** null: no walk-forward (the `backtest` command without --walk-forward). */
  walkForward: { days: number; folds: number } | null;
  equityOut: string | null;
  /** A folder for one CSV of every trade per backtest and fold; null: none. */
  tradesOut?: string | null;
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
  /** Reads the files the card names (its feature graph) from the card's folder; absent: the card can name none. */
  cardFiles?: CardFileReader;
  /** The onnxruntime process slot the model runs in (its feature graph runs there too). */
  slot?: number;
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
  makeBuilder: (card: PolicyCard, bars: BarSeries) => ObservationBuilder,
  shortViews: boolean,
): Promise<{ flags: ('INFERENCE_MISMATCH' | 'OBSERVATION_MISMATCH')[]; messages: string[]; notes: string[]; observationChecked: number }> {
  const flags = new Set<'INFERENCE_MISMATCH' | 'OBSERVATION_MISMATCH'>();
  const messages: string[] = [];
  const notes: string[] = [];
  let checkedInference = 0;
  let checkedObservation = 0;
  let checkedActions = 0;
  let skipped = 0;
  for (const g of card.golden) {
    if (g.output && skipInference) skipped++;
    else if (g.output) {
      checkedInference++;
      const { out } = await infer(model, b, card, Float32Array.from(g.obs), 1, null);
      if (out.length !== g.output.length) throw goldenWidthError(g.index, g.output.length, out.length, b, card);
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
        const hint = outputHint(card, out, g.output);
        messages.push(
          `INFERENCE_MISMATCH: golden[${g.index}] output[${at}] is ${out[at]} from onnxruntime but ${g.output[at]} in ${card.file} (|diff| ${worst.toExponential(2)} > ${GOLDEN_TOLERANCE}); ` +
            (hint ?? 'the ONNX export does not reproduce the training framework'),
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
      // From the bars of its warm-up alone (every built-in feature is a bit-exact function of its trailing
      // span, which the look-ahead audit checks), so this process never computes every bar's features.
      const from = tau - builder.firstValidIndex;
      const built = shortViews
        ? new ObservationBuilder(card, truncateSeries(bars, tau, from), { from: tau - from }).build(tau - from, g.state, new Float32Array(builder.size))
        : builder.build(tau, g.state, new Float32Array(builder.size));
      const diff = compareObs(built, g.obs);
      if (diff !== null) {
        const first = builder.locate(diff.first);
        flags.add('OBSERVATION_MISMATCH');
        const hints = observationHints(card, builder, bars, tau, g.state, g.obs, makeBuilder);
        messages.push(
          `OBSERVATION_MISMATCH: golden[${g.index}] at ${g.atIso}: the first differing value is ${diff.first} (row ${first.row}, ${first.label}): ${built[diff.first]} here but ${g.obs[diff.first]} in ${card.file}; ` +
            `${diff.count} of ${built.length} values differ by more than ${GOLDEN_TOLERANCE} (largest |diff| ${diff.worst.toExponential(2)}); ` +
            (hints.length > 0 ? hints.join('; ') : 'the observation builder does not match the training code'),
        );
        continue;
      }
      if (g.action !== null && card.state.length > 0) {
        notes.push(`golden[${g.index}]: the decoded action is not checked on a recurrent policy (its state at ${g.atIso} depends on every step before it)`);
      } else if (g.action !== null && !skipInference) {
        checkedActions++;
        const { out } = await infer(model, b, card, built, 1, null);
        const mismatch = actionMismatch(card, b, out, g.action);
        if (mismatch !== null) {
          flags.add('INFERENCE_MISMATCH');
          messages.push(`INFERENCE_MISMATCH: golden[${g.index}] at ${g.atIso}: ${mismatch}`);
        }
      }
    }
  }
  const verdict = flags.size === 0 ? 'passed' : 'run';
  if (checkedObservation > 0) {
    notes.push(
      `golden vectors: ${checkedInference} inference and ${checkedObservation} observation parity checks ${verdict}` + (checkedActions > 0 ? ` (${checkedActions} with the decoded action)` : ''),
    );
  } else if (checkedInference > 0) {
    // Never "0 observation parity checks passed": that reads as a pass.
    notes.push(`golden vectors: ${checkedInference} inference checks ${verdict}; no observation parity check was run`);
  }
  if (skipped > 0) {
    notes.push(`${skipped} inference golden vector(s) skipped: they were exported for the final model, not this checkpoint; give the checkpoint its own card to check it`);
  }
  return { flags: [...flags], messages, notes, observationChecked: checkedObservation };
}

/** The first value differing by more than the tolerance, how many do, and the largest difference; null when none. */
function compareObs(built: Float32Array, golden: readonly number[]): { first: number; count: number; worst: number } | null {
  let first = -1;
  let count = 0;
  let worst = 0;
  for (let i = 0; i < built.length; i++) {
    const d = Math.abs(built[i]! - golden[i]!);
    if (d <= GOLDEN_TOLERANCE) continue;
    if (first < 0) first = i;
    count++;
    worst = Math.max(worst, Number.isNaN(d) ? Infinity : d);
  }
  return first < 0 ? null : { first, count, worst };
}

/**
 * What an observation golden that does not match probably means: the observation of the bar before or
 * after (a timestamp convention), a feature-major layout, or features before normalisation.
 */
function observationHints(
  card: PolicyCard,
  builder: ObservationBuilder,
  bars: BarSeries,
  tau: number,
  state: { position: number; unrealizedReturn: number },
  golden: readonly number[],
  makeBuilder: (card: PolicyCard, bars: BarSeries) => ObservationBuilder,
): string[] {
  const hints: string[] = [];
  const tf = timeframeMs(card.timeframe);
  for (const k of [-1, 1] as const) {
    if (!builder.isValid(tau + k)) continue;
    if (compareObs(builder.build(tau + k, state, new Float32Array(builder.size)), golden) !== null) continue;
    hints.push(
      k === -1
        ? `it equals the observation of the bar before (starting ${iso(bars.time[tau - 1]!)}): "at" looks like that bar's close time (${iso(bars.time[tau - 1]! + tf)}); give the start of the decision bar`
        : `it equals the observation of the bar after (starting ${iso(bars.time[tau + 1]!)}): "at" is one bar early; give the start of the decision bar the observation was built at`,
    );
  }
  const { window: W, features } = card.observation;
  const F = features.length;
  const built = builder.build(tau, state, new Float32Array(builder.size));
  if (W > 1 && F > 1) {
    const transposed = new Float32Array(W * F);
    for (let r = 0; r < W; r++) for (let f = 0; f < F; f++) transposed[f * W + r] = built[r * F + f]!;
    if (compareObs(transposed, golden) === null) {
      hints.push(
        `it is this observation flattened feature-major (index feature·${W} + row) instead of time-major (row·${F} + feature): the training code transposes the window (e.g. flattens a [features, window] array); flatten it as [window, features]`,
      );
    }
  }
  if (card.observation.normalize !== null || card.observation.clip !== null) {
    const rawCard = { ...card, observation: { ...card.observation, normalize: null, clip: null } };
    const raw = makeBuilder(rawCard, bars).build(tau, state, new Float32Array(builder.size));
    if (compareObs(raw, golden) === null) {
      hints.push(
        "it equals the observation before normalize/clip: the golden holds raw features (export the normalised observation the policy saw), or the card's normalize does not belong to this model",
      );
    }
  }
  return hints;
}

const softmax = (x: ArrayLike<number>): number[] => {
  const top = Math.max(...Array.from(x));
  const e = Array.from(x, (v) => Math.exp(v - top));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
};

/** Why a discrete output golden may differ: log-probabilities or probabilities where the card reads logits, or the reverse. */
function outputHint(card: PolicyCard, out: Float32Array, golden: readonly number[]): string | null {
  if (card.action.type !== 'discrete' || out.length !== golden.length || golden.length < 2) return null;
  const near = (a: readonly number[]): boolean => a.every((v, i) => Math.abs(v - golden[i]!) <= GOLDEN_TOLERANCE);
  const p = softmax(out);
  if (near(p.map(Math.log)))
    return "the golden output is the log-softmax of the model's output: the training code exported log-probabilities where the model gives logits; export the logits (the policy's action_net output) as the golden";
  if (near(p)) return "the golden output is the softmax of the model's output: the training code exported probabilities where the model gives logits; export the logits as the golden";
  const sumExp = golden.reduce((a, v) => a + Math.exp(v), 0);
  if (golden.every((v) => v <= 0) && Math.abs(sumExp - 1) < 1e-3) {
    return "the golden output looks like log-probabilities (every value ≤ 0, their exponentials sum to 1) but the model's output does not match them either: check which output the card reads and what the training code exported";
  }
  return null;
}

/** Null when the model's decision on the built observation equals the golden's decoded action; else what differs. */
function actionMismatch(card: PolicyCard, b: Binding, out: Float32Array, expected: number): string | null {
  const action = card.action;
  if (action.type === 'continuous') {
    const got = Math.min(1, Math.max(-1, out[0]!));
    return Math.abs(got - expected) <= GOLDEN_TOLERANCE ? null : `the model's continuous output is ${got} (clipped to [−1, 1]) but the training code decided ${expected}`;
  }
  let best = 0;
  if (b.outputKind === 'action_index') best = Math.round(out[0]!);
  else for (let i = 1; i < action.meanings.length; i++) if (out[i]! > out[best]!) best = i;
  return best === expected
    ? null
    : `on the observation built here the model decides ${action.meanings[best]} (index ${best}) but the training code decided ${action.meanings[expected]} (index ${expected}); the observation matches, so the export or the action decoding differs`;
}

/**
 * The card's features of other symbols (feature param `symbol`) read those symbols' bars: fetched from
 * the same source, same timeframe and window, and attached to the model's bars. Every bar time at which
 * another symbol has no bar is a data-quality note: the features of that symbol there are computed as of
 * its last earlier bar, and the note says how many and which.
 */
async function withOtherSymbols(bars: BarSeries, card: PolicyCard, request: BarsRequest, getBars: BarsProvider, report: ModelReport): Promise<BarSeries> {
  const symbols = [...new Set(card.observation.features.flatMap((f) => (f.symbol === undefined ? [] : [f.symbol])))];
  if (symbols.length === 0) return bars;
  const others: Record<string, BarSeries> = {};
  for (const symbol of symbols) {
    if (symbol.replaceAll('/', '').toUpperCase() === card.symbol.replaceAll('/', '').toUpperCase()) {
      others[symbol] = bars;
      continue;
    }
    const got = await getBars({ ...request, symbol, assetClass: guessAssetClass(symbol) });
    report.dataQuality.push(...got.notes.map((n) => ({ ...n, message: `${symbol} (read by ${card.symbol}'s features): ${n.message}` })));
    others[symbol] = got.bars;
    const gaps = otherSymbolGaps(bars, got.bars);
    if (gaps.length > 0) {
      const first = gaps.slice(0, 3).map((i) => iso(bars.time[i]!));
      report.dataQuality.push({
        kind: 'gap',
        count: gaps.length,
        at: first[0]!,
        message:
          `${symbol} has no bar at ${gaps.length} of the ${bars.time.length} ${card.symbol} bar times (first ${first.join(', ')}); ` +
          `the features of ${symbol} there use its last bar before that time (never a later one)`,
      });
    }
  }
  return { ...bars, others };
}

/**
 * Bars `from` … end of `bars` as copies (a job carries only them), with the feature graph's columns cut
 * the same way; other symbols' bars are kept whole (they are read by time, not by index).
 */
function barsFrom(bars: BarSeries, from: number): BarSeries {
  return {
    ...(bars.others === undefined ? {} : { others: bars.others }),
    ...(bars.graph === undefined ? {} : { graph: { ...bars.graph, columns: bars.graph.columns.map((c) => c.slice(from)) } }),
    symbol: bars.symbol,
    timeframe: bars.timeframe,
    time: bars.time.slice(from),
    open: bars.open.slice(from),
    high: bars.high.slice(from),
    low: bars.low.slice(from),
    close: bars.close.slice(from),
    volume: bars.volume.slice(from),
  };
}

/**
 * A golden output of another width than the output the card reads: the goldens were written from
 * another output (logits beside an action index, say), so the card is mis-set — not the export.
 */
export function goldenWidthError(index: number, given: number, got: number, b: Binding, card: PolicyCard): PolicyGateError {
  const read = b.outputKind === 'action_index' ? 'an action index, one value per decision' : b.outputKind === 'continuous' ? 'continuous' : `${b.outputKind}, ${got} values per decision`;
  const hint =
    b.outputKind === 'action_index' && card.action.type === 'discrete' && given === card.action.meanings.length
      ? `; these goldens look like scores per action: give the index of the action the training framework chose (one value), or export the logits and point action.output at them`
      : `; write the goldens from output "${b.output}", or point action.output at the output they were written from`;
  return inputError(`${card.file}: golden[${index}].output has ${given} values but the output the card reads, "${b.output}" (${read}), gives ${got}${hint}`, card.file);
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

/** A simulator trade as report.json lists it. */
export function tradeRecord(t: Trade): TradeRecord {
  return {
    direction: t.direction,
    entry: iso(t.entryTime),
    exit: iso(t.exitTime),
    entryPrice: t.entryPrice,
    exitPrice: t.exitPrice,
    quantity: t.peakQuantity,
    notional: t.entryNotional,
    pnl: t.pnl,
    fees: t.fees,
    return: t.returnOnEntry,
    closedAtEnd: t.closedAtEnd,
  };
}

/** Every trade of a window as CSV (full precision, like the equity CSVs). */
export function tradesCsv(r: BacktestResult): string {
  const lines = ['direction,entry,exit,entry_price,exit_price,quantity,notional,pnl,fees,return,closed_at_end'];
  for (const t of r.trades) {
    const x = tradeRecord(t);
    lines.push(
      [x.direction, x.entry, x.exit, x.entryPrice, x.exitPrice, x.quantity, x.notional, x.pnl, x.fees, x.return, x.closedAtEnd].map((v) => String(typeof v === 'number' ? v + 0 : v)).join(','),
    );
  }
  return lines.join('\n') + '\n';
}

export function windowReport(r: BacktestResult, card: Pick<PolicyCard, 'action'>): WindowReport {
  const report: WindowReport = { start: iso(r.startTime), end: iso(r.endTime), bars: r.bars, metrics: r.metrics };
  report.trades = r.trades.slice(0, MAX_REPORT_TRADES).map(tradeRecord);
  report.tradesOmitted = Math.max(0, r.trades.length - MAX_REPORT_TRADES);
  if (card.action.type === 'discrete' && r.actions !== null) {
    const meanings = card.action.meanings;
    const taken: Record<string, number> = {};
    const chosen: Record<string, number> = {};
    for (const m of meanings) taken[m] = chosen[m] = 0;
    let held = 0;
    let decisions = 0;
    r.actions.chosen.forEach((n, i) => {
      const h = r.actions!.held[i] ?? 0;
      chosen[meanings[i]!] = (chosen[meanings[i]!] ?? 0) + n;
      taken[meanings[i]!] = (taken[meanings[i]!] ?? 0) + n - h;
      taken['HOLD'] = (taken['HOLD'] ?? 0) + h;
      held += h;
      decisions += n;
    });
    report.actions = { decisions, taken, chosen, heldByMinConfidence: held };
  }
  return report;
}

/**
 * The equity CSV: every number in full precision (JavaScript's shortest round-trip form, so parsing it
 * gives back the very double the metrics were computed from; a tiny value may read 1.2e-17).
 */
function equityCsv(r: BacktestResult): string {
  const lines = ['timestamp,equity,exposure'];
  const { timestamps, equity, exposure } = r.curve;
  for (let i = 0; i < equity.length; i++) {
    lines.push(`${iso(timestamps[i]!)},${String(equity[i]! + 0)},${String(exposure[i]! + 0)}`);
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
export async function evaluateModel(report: ModelReport, model: PolicyModel, cardJson: unknown, cardFile: string, getBars: BarsProvider, plan: EvaluationPlan): Promise<EvaluatedModel> {
  const label = report.model?.path ?? report.id;
  const card = parseCard(cardJson, cardFile, { symbol: report.symbol, timeframe: report.timeframe });
  report.assetClass = card.assetClass;
  report.assetClassGuessed = card.assetClassGuessed;
  if (card.assetClassGuessed) report.notes.push(`asset class guessed from the symbol: ${card.assetClass} (set "asset_class" in the card)`);
  report.notes.push(...card.warnings.map((w) => `${cardFile}: ${w}`));
  if (card.assetClass === 'crypto' && !card.execution.longOnly) {
    report.notes.push(
      `warning: ${cardFile} sets execution.long_only false on a crypto card: Alpaca cannot short crypto, so the short positions this backtest takes cannot be traded there; set long_only true to evaluate what can be deployed`,
    );
  }

  const b = bindModel(model, card, label);
  report.notes.push(...b.notes);
  const request: BarsRequest = {
    symbol: card.symbol,
    timeframe: card.timeframe,
    assetClass: card.assetClass,
    endMs: plan.endMs,
    days: Math.max(plan.backtestDays, plan.walkForward?.days ?? 0),
    warmupBars: warmupBars(card) + 1,
  };
  // The bars are the run's input (--data), not the model's: a folder without the model's symbol, or a
  // file that cannot be read, is bad input of the run (exit 2), reported on this model.
  const runInput = async <T>(load: () => Promise<T>): Promise<T> => {
    try {
      return await load();
    } catch (err) {
      if (err instanceof PolicyGateError && err.kind === 'input' && !(err instanceof RunInputError)) throw new RunInputError(err.message, err.subject, err);
      throw err;
    }
  };
  const own = await runInput(() => getBars(request));
  report.dataQuality.push(...own.notes);
  const fetched = await runInput(() => withOtherSymbols(own.bars, card, request, getBars, report));
  const graph = await openFeatureGraph(card, plan.cardFiles, { ...(plan.slot === undefined ? {} : { slot: plan.slot }), timeoutSeconds: plan.config.runtime.inferenceTimeoutSeconds });
  try {
    const bars = graph === null ? fetched : await withFeatureGraph(graph, fetched, card, report);
    const makeBuilder = plan.observationBuilder ?? ((c: PolicyCard, x: BarSeries) => new ObservationBuilder(c, x));
    const builder = makeBuilder(card, bars);

    // A feature graph's columns are attached to the whole series, and a builder given by the caller may not be
    // a function of the trailing span: both are built on every bar, as the simulations read them.
    const shortViews = bars.graph === undefined && plan.observationBuilder === undefined;
    const golden = await checkGolden(model, b, card, builder, bars, plan.borrowedCard ?? false, makeBuilder, shortViews);
    report.notes.push(...golden.notes);
    if (golden.observationChecked === 0) {
      report.flags.push('NO_OBSERVATION_PARITY');
      const given = card.golden.filter((g) => g.at !== null).length;
      report.notes.push(
        `NO_OBSERVATION_PARITY: ` +
          (given === 0 ? `${card.file} has no { "at", "obs" } golden vector` : `none of the ${given} { "at", "obs" } golden vector(s) of ${card.file} fell on a bar of the data after the warm-up`) +
          `, so the feature builder was never checked against the training code; the model is capped at ${plan.config.decision.noObservationParityCap} (decision.no_observation_parity_cap). ` +
          `Export the observation your training code builds at a few bars, with their start times, as golden vectors (docs/policy-card.md)`,
      );
    }
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
    const windows: { kind: 'backtest' | 'fold'; index: number; start: number; end: number }[] = [{ kind: 'backtest', index: 0, start: bt.start, end: bt.end }];
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

    const P = cfg.backtest.periodsPerYear ?? periodsPerYear(card.timeframe, card.assetClass, card.assetClass === 'us_equity' ? observedBarsPerTradingDay(time) : null);
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
    const stressSims = withEvidence && stressedCosts ? windows.slice(1).map((w) => new Simulation(bars, { start: w.start, end: w.end }, stressedCosts, { periodsPerYear: P })) : [];
    const all = [...sims, ...stressSims];
    // The look-ahead audit's bars: their whole-series observations come back from where the loop runs.
    const auditTaus = withEvidence ? auditBars(cfg, windows.slice(1), builder.firstValidIndex) : [];
    let observed: { taus: number[]; rows: Float32Array } | null = null;
    if (model.simulate && !plan.observationBuilder && plan.drive !== 'here') {
      // The onnxruntime process gets the bars from the first decision's warm-up on: every feature is a
      // bit-exact function of its trailing span, so the observations are the same, computed on fewer bars.
      const cut = Math.max(0, firstDecision - builder.firstValidIndex);
      const job: SimulationJob = {
        label,
        card: { ...card, golden: [] },
        bars: cut === 0 ? bars : barsFrom(bars, cut),
        binding: b,
        simulations: [
          ...windows.map((w) => ({ start: w.start - cut, end: w.end - cut, costs })),
          ...windows.slice(1, 1 + stressSims.length).map((w) => ({ start: w.start - cut, end: w.end - cut, costs: stressedCosts! })),
        ],
        periodsPerYear: P,
        ...(auditTaus.length > 0 ? { observe: auditTaus.map((t) => t - cut) } : {}),
      };
      const outcome = await model.simulate(job, { split: cfg.runtime.splitFirstLayer, samples: card.golden.map((g) => Float32Array.from(g.obs)) });
      replayTargets(all, outcome.targets, card, label);
      report.inference = outcome.inference;
      if (outcome.observations !== null) observed = { taus: auditTaus, rows: outcome.observations };
    } else {
      await runSimulations(all, model, b, card, builder, label);
    }
    const results = sims.map((s) => s.finish());

    report.backtest = windowReport(results[0]!, card);
    if (plan.walkForward) {
      const foldResults = results.slice(1);
      const folds: FoldReport[] = foldResults.map((r, i) => ({ index: windows[i + 1]!.index, ...windowReport(r, card) }));
      const summary = summarizeFolds(
        folds.map((f) => f.metrics),
        plan.walkForward.folds,
        ratingThresholdsOf(cfg.decision),
      );
      report.walkForward = { days: wfDays, folds, summary };
      if (withEvidence) {
        report.evidence = await collectEvidence({
          report,
          config: cfg,
          bars,
          builder,
          // The audit's views are cut bars: the feature graph is run again on each of them.
          // A view is built at its last bar alone (the default builder then computes only that observation's rows).
          makeBuilder:
            graph !== null
              ? async (x) => makeBuilder(card, await graph.attach(x))
              : plan.observationBuilder === undefined
                ? (x) => new ObservationBuilder(card, x, { from: x.time.length - 1 })
                : (x) => makeBuilder(card, x),
          foldWindows: windows.slice(1),
          foldResults,
          summary,
          stressed: stressedCosts ? { costs: stressedCosts, results: stressSims.map((s) => s.finish()) } : null,
          periodsPerYear: P,
          observed,
        });
      }
    }
    report.charts = modelCharts(
      results[0]!,
      results.slice(1),
      windows.slice(1).map((w) => w.index),
      bars,
    );

    if (plan.tradesOut) {
      await mkdir(plan.tradesOut, { recursive: true });
      const safeId = report.id.replace(/[^A-Za-z0-9._-]/g, '_');
      await writeFileAtomic(join(plan.tradesOut, `${safeId}.backtest.trades.csv`), tradesCsv(results[0]!));
      for (let i = 1; i < results.length; i++) {
        await writeFileAtomic(join(plan.tradesOut, `${safeId}.fold${windows[i]!.index}.trades.csv`), tradesCsv(results[i]!));
      }
    }
    if (plan.equityOut) {
      await mkdir(plan.equityOut, { recursive: true });
      const safeId = report.id.replace(/[^A-Za-z0-9._-]/g, '_');
      await writeFileAtomic(join(plan.equityOut, `${safeId}.backtest.csv`), equityCsv(results[0]!));
      for (let i = 1; i < results.length; i++) {
        await writeFileAtomic(join(plan.equityOut, `${safeId}.fold${windows[i]!.index}.csv`), equityCsv(results[i]!));
      }
    }
    return { card, range: { start: time[Math.max(0, firstDecision - builder.firstValidIndex)]!, end: time[Math.max(...windows.map((w) => w.end))]! } };
  } finally {
    await graph?.release();
  }
}

/**
 * The bars with the feature graph's columns attached, after checking that each window's row depends on
 * that window only: a row that changes with the other windows of its batch read other bars (flag
 * LOOKAHEAD, the model is DROP).
 */
async function withFeatureGraph(graph: FeatureGraph, bars: BarSeries, card: PolicyCard, report: ModelReport): Promise<BarSeries> {
  const attached = await graph.attach(bars);
  const L = graph.binding.window;
  report.notes.push(
    `feature graph ${graph.label} (sha256 ${graph.sha256.slice(0, 12)}…): ${attached.graph!.columns.length} column(s) from a ${L}-bar window, computed on ${Math.max(0, bars.time.length - L + 1)} bars one window at a time`,
  );
  const dep = await graph.checkBatchIndependence(bars);
  if (dep !== null) {
    const message =
      `LOOKAHEAD: feature graph ${graph.label} column ${dep.column} at the bar starting ${iso(bars.time[dep.bar]!)} is ${dep.alone} computed from its own window but ${dep.inBatch} when run in one batch with other windows: ` +
      `its rows depend on the other windows of a batch (a statistic over the batch, such as normalising over the whole dataset), so in training each row read later bars. ` +
      `Compute each window's features from that window only (${card.file} observation.feature_graph)`;
    report.flags.push('LOOKAHEAD');
    report.errors.push(message);
    throw new GoldenMismatch(message);
  }
  return attached;
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
