/**
 * `policy-gate track`: every model deployed at the account's tier (PAPER for `--account paper`, LIVE for
 * `--account live`) judged on its own record (docs/promotion.md#tracking-the-accounts-own-record-policy-gate-track):
 *
 * 1. the walk-forward on the latest data, as `revalidate` runs it (./revalidate.ts), for the rule "still
 *    passes the walk-forward with gating APPROVED";
 * 2. the account's record since the earliest `promoted_at`, read once (adapters/alpaca/trading.ts);
 * 3. per model: its fills (attribution below), the position it held at `promoted_at`, the backtest of the
 *    same model file over the bars since then started from that position (in this process, so the
 *    position the model sees is the account's), the reconciliation (core/reconcile.ts), the bootstrap
 *    interval of the backtest's return, and the verdict (core/track.ts).
 *
 * Attribution: an entry with `client_order_id_prefix` takes the fills of the orders whose client_order_id
 * starts with it. Otherwise the fills of its symbol — allowed only when no other model deployed on that
 * account trades the symbol without a prefix of its own (else the model has no record and the reason says
 * to set prefixes). The position held at promoted_at: by symbol, the account's current position less what
 * the fills since then added; by prefix, 0 (a shared position cannot be split), with a note.
 *
 * The record's window: the bars that start at or after promoted_at and have closed by now (or --end).
 */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { parseCard, warmupBars } from '../core/card.js';
import { bindModel, runSimulations } from '../core/drive.js';
import { errorMessage, inputError, PolicyGateError } from '../core/errors.js';
import { parseJsonFile } from '../core/json.js';
import { observedBarsPerTradingDay, periodsPerYear } from '../core/metrics.js';
import { ObservationBuilder } from '../core/observation.js';
import { deployedEntry } from '../core/promotion.js';
import { positionAt, reconcile, type AccountFill } from '../core/reconcile.js';
import type { ModelReport, Report } from '../core/report.js';
import { Simulation, type CostModel } from '../core/simulate.js';
import { backtestReturnInterval, judgeTrack, noRecordJudgement, type TrackSection } from '../core/track.js';
import { timeframeMs, type BarSeries } from '../core/types.js';
import { loadPolicyModel, MAX_MODEL_BYTES, modelTooLarge } from '../adapters/onnx/session.js';
import { compactSymbol, type AccountKind, type TradingRecord } from '../adapters/alpaca/trading.js';
import { readUntrustedFile, readUntrustedText } from '../util/safe-read.js';
import { readDeployFiles, type DeployFiles } from './promote.js';
import { deployedModels, evaluateDeployed, type DeployedModel, type RevalidateOptions } from './revalidate.js';
import { barsProvider } from './validate.js';

const DAY_MS = 86_400_000;

/** What track needs of the trading account (the Alpaca adapter; a test may pass the same adapter at another URL). */
export interface TradingAccount {
  readonly baseUrl: string;
  missingKeys(): string | null;
  record(afterMs: number, untilMs: number): Promise<TradingRecord>;
}

export interface TrackOptions extends RevalidateOptions {
  account: AccountKind;
  trading: TradingAccount;
}

export interface TrackResult {
  report: Report;
  deploy: DeployFiles;
  record: TradingRecord | null;
  noRecord: string | null;
}

function noRecord(account: AccountKind, capital: number, why: string, promotedAt: string | null = null, notes: string[] = []): TrackSection {
  return {
    account,
    promotedAt,
    attribution: { by: null, value: null },
    startPosition: null,
    capital,
    interval: null,
    reconciliation: null,
    judgement: noRecordJudgement(why),
    notes,
  };
}

export async function runTrack(config: Config, configFile: string | null, opts: TrackOptions): Promise<TrackResult> {
  const deploy = await readDeployFiles(opts.root, opts.paths);
  const tier = opts.account === 'live' ? 'LIVE' : 'PAPER';
  const deployed = deployedModels(deploy).filter((d) => d.tier === tier && (!opts.only || opts.only.has(d.id)));
  const report = await evaluateDeployed(deployed, config, configFile, opts);
  report.command = 'track';
  const nowMs = opts.now.getTime();
  const untilMs = opts.endMs === undefined ? nowMs : Math.min(nowMs, opts.endMs);

  // the record, read once for every model
  const promoted = deployed.map((d) => (typeof d.entry['promoted_at'] === 'string' ? Date.parse(d.entry['promoted_at']) : NaN));
  const earliest = Math.min(...promoted.filter((t) => Number.isFinite(t)));
  let record: TradingRecord | null = null;
  let accountWhy: string | null = null;
  const missing = opts.trading.missingKeys();
  if (deployed.length === 0) accountWhy = 'nothing is deployed on this account';
  else if (missing !== null) accountWhy = `the ${opts.account} account cannot be read: ${missing}`;
  else if (!Number.isFinite(earliest)) accountWhy = 'no deployed entry has a promoted_at';
  else {
    try {
      // read up to now even with --end: the current position less every fill since promoted_at is the
      // position at promoted_at; the reconciliation counts only the fills inside its window
      record = await opts.trading.record(earliest - 1, nowMs);
      opts.log(
        `${opts.account} account at ${opts.trading.baseUrl}: ${record.fills.length} fills, ${record.orders} closed orders, ${record.positions.length} positions since ${new Date(earliest).toISOString()}`,
      );
      if (record.fills.length === 0) accountWhy = `the ${opts.account} account has no fills since ${new Date(earliest).toISOString()}`;
    } catch (err) {
      if (err instanceof PolicyGateError && err.kind === 'infra') report.infraErrors.push(`${opts.account} account: ${err.message}`);
      else report.errors.push(`${opts.account} account: ${errorMessage(err)}`);
      accountWhy = `the ${opts.account} account could not be read: ${errorMessage(err)}`;
    }
  }

  const getBars = barsProvider(config, opts);
  const symbolOwners = new Map<string, string[]>();
  for (const d of deployed) {
    if (typeof d.entry['client_order_id_prefix'] === 'string') continue;
    const m = report.models.find((x) => x.id === d.id)!;
    const s = compactSymbol(m.symbol);
    symbolOwners.set(s, [...(symbolOwners.get(s) ?? []), d.id]);
  }

  for (const [i, d] of deployed.entries()) {
    const m = report.models.find((x) => x.id === d.id)!;
    const capital = typeof d.entry['capital'] === 'number' && d.entry['capital'] > 0 ? d.entry['capital'] : config.backtest.capital;
    const promotedAt = Number.isFinite(promoted[i]!) ? new Date(promoted[i]!).toISOString() : null;
    if (promotedAt === null) {
      m.track = noRecord(opts.account, capital, `${d.file} gives ${d.id} no promoted_at, so its record has no start`);
      continue;
    }
    if (accountWhy !== null) {
      m.track = noRecord(opts.account, capital, accountWhy, promotedAt, record?.notes ?? []);
      continue;
    }
    try {
      m.track = await trackModel(d, m, record!, { config, opts, getBars, capital, promotedMs: promoted[i]!, untilMs, owners: symbolOwners });
    } catch (err) {
      const why = errorMessage(err);
      if (err instanceof PolicyGateError && err.kind === 'infra') report.infraErrors.push(`${m.id}: ${why}`);
      m.errors.push(`track: ${why}`);
      m.track = noRecord(opts.account, capital, `the reconciliation could not run: ${why}`, promotedAt);
    }
    const j = m.track.judgement;
    opts.log(`${m.id} (${d.tier}): ${j.verdict} — ${j.reasons.join('; ')}`);
  }
  // The run's conclusion is the records': it fails when one diverges (a demotion is due) or the run
  // itself failed; the walk-forward's decision is one of the rules, not a verdict of its own here.
  const demoted = report.models.filter((m) => m.track?.judgement.verdict === 'demote');
  report.conclusion = demoted.length > 0 || report.errors.length > 0 || report.infraErrors.length > 0 ? 'failure' : 'success';
  report.conclusionReasons = [
    ...demoted.map((m) => `${m.id}: ${m.track!.judgement.reasons[0]}`),
    ...report.models.filter((m) => m.track?.judgement.verdict === 'eligible_live').map((m) => `${m.id}: ${m.track!.judgement.reasons[0]}`),
  ];
  return { report, deploy, record, noRecord: accountWhy };
}

interface TrackContext {
  config: Config;
  opts: TrackOptions;
  getBars: ReturnType<typeof barsProvider>;
  capital: number;
  promotedMs: number;
  untilMs: number;
  owners: Map<string, string[]>;
}

async function trackModel(d: DeployedModel, m: ModelReport, record: TradingRecord, ctx: TrackContext): Promise<TrackSection> {
  const { config, opts } = ctx;
  const notes: string[] = [];
  const promotedAt = new Date(ctx.promotedMs).toISOString();
  const rec = deployedEntry(d.entry, d.id, d.file);
  if (!rec.ok) throw inputError(rec.why, d.file);
  const symbol = compactSymbol(m.symbol);

  // attribution
  const prefix = typeof d.entry['client_order_id_prefix'] === 'string' ? d.entry['client_order_id_prefix'] : null;
  let fills: AccountFill[];
  let attribution: TrackSection['attribution'];
  if (prefix !== null) {
    if (prefix === '') throw inputError(`${d.file}: models.${d.id}.client_order_id_prefix is empty`, d.file);
    fills = record.fills.filter((f) => f.symbol === symbol && f.clientOrderId !== null && f.clientOrderId.startsWith(prefix));
    attribution = { by: 'client_order_id_prefix', value: prefix };
  } else {
    const owners = ctx.owners.get(symbol) ?? [];
    if (owners.length > 1) {
      return noRecord(
        opts.account,
        ctx.capital,
        `${owners.join(', ')} all trade ${symbol} on this account: give each entry a client_order_id_prefix (the prefix of the client_order_id its orders are sent with)`,
        promotedAt,
      );
    }
    fills = record.fills.filter((f) => f.symbol === symbol);
    attribution = { by: 'symbol', value: symbol };
  }

  // the model, its card and bars
  const bytes = await readUntrustedFile(resolve(opts.root, rec.entry.model), {
    root: opts.root,
    what: 'deployed model',
    maxBytes: MAX_MODEL_BYTES,
    tooLarge: (size) => modelTooLarge(rec.entry.model, size),
  });
  const cardJson = parseJsonFile(await readUntrustedText(resolve(opts.root, rec.entry.card), { root: opts.root, what: 'policy card' }), rec.entry.card);
  const card = parseCard(cardJson, rec.entry.card, { symbol: m.symbol, timeframe: m.timeframe });
  const step = timeframeMs(card.timeframe);
  const days = Math.max(1, Math.ceil((ctx.untilMs - ctx.promotedMs) / DAY_MS) + 1);
  const { bars } = await ctx.getBars({ symbol: card.symbol, timeframe: card.timeframe, assetClass: card.assetClass, endMs: opts.endMs, days, warmupBars: warmupBars(card) + 1 });
  const window = recordWindow(bars, ctx.promotedMs, ctx.untilMs, step);
  if (window === null) {
    return noRecord(
      opts.account,
      ctx.capital,
      `no bar of ${card.symbol} ${card.timeframe} has started at or after promoted_at ${promotedAt} and closed by ${new Date(ctx.untilMs).toISOString()}`,
      promotedAt,
    );
  }
  const builder = new ObservationBuilder(card, bars);
  if (window.start - 1 < builder.firstValidIndex) {
    throw inputError(`${d.id}: too little history before promoted_at ${promotedAt}: the observation needs ${builder.firstValidIndex} bars of warm-up before the first decision`, d.id);
  }

  // the position at promoted_at
  let startPosition = 0;
  if (attribution.by === 'symbol') {
    const current = record.positions.find((p) => p.symbol === symbol)?.qty ?? 0;
    startPosition = positionAt(current, fills, bars.time[window.start]!);
    if (Math.abs(startPosition) < 1e-12) startPosition = 0;
    if (startPosition !== 0) notes.push(`the account held ${startPosition} ${symbol} at the record's start (opened before promoted_at): the backtest starts from the same position`);
  } else {
    notes.push("attributed by client_order_id prefix: a position opened before promoted_at cannot be told apart from other models' and is taken as 0");
  }
  const target = startPosition === 0 ? 0 : Math.sign(startPosition) * card.execution.maxExposure;

  // the backtest of the same file over the same bars, from the same state
  const model = await loadPolicyModel(bytes, { device: config.runtime.device, label: rec.entry.model, timeoutSeconds: config.runtime.inferenceTimeoutSeconds });
  const P = config.backtest.periodsPerYear ?? periodsPerYear(card.timeframe, card.assetClass, card.assetClass === 'us_equity' ? observedBarsPerTradingDay(bars.time) : null);
  const costs: CostModel = {
    feeBps: config.backtest.feeBps[card.assetClass],
    slippageBps: config.backtest.slippageBps,
    minTradeValue: config.backtest.minTradeValue,
    capital: ctx.capital,
    fill: config.backtest.fill,
    rebalanceBand: card.execution.rebalanceBand,
  };
  let backtest;
  try {
    const sim = new Simulation(bars, window, costs, { periodsPerYear: P, initial: { position: startPosition, target } });
    await runSimulations([sim], model, bindModel(model, card, rec.entry.model), card, builder, rec.entry.model);
    backtest = sim.finish();
  } finally {
    await model.release();
  }
  const reconciliation = reconcile({
    bars,
    window,
    capital: ctx.capital,
    startPosition,
    fills,
    backtest,
    feeBps: costs.feeBps,
    slippageBps: costs.slippageBps,
    periodsPerYear: P,
    maxLagBars: config.decision.track.maxLagBars,
  });
  const b = config.evidence.bootstrap;
  const interval = backtestReturnInterval(reconciliation.backtest.equity, { samples: b.samples, seed: b.seed, blockLength: b.blockLength, confidence: b.confidence, periodsPerYear: P });
  const judgement = judgeTrack(reconciliation, null, {
    tier: d.tier,
    rules: config.decision.track,
    interval,
    walkForwardTier: m.decision?.tier ?? null,
    walkForwardWhy: m.decision ? (m.decision.reasons[0] ?? null) : (m.notEvaluated?.reason ?? 'not evaluated'),
  });
  return { account: opts.account, promotedAt, attribution, startPosition, capital: ctx.capital, interval, reconciliation, judgement, notes: [...notes, ...record.notes] };
}

/** Bars that start at or after `fromMs` and have closed by `untilMs`; null when there is none (or no bar before them). */
export function recordWindow(bars: BarSeries, fromMs: number, untilMs: number, step: number): { start: number; end: number } | null {
  let start = -1;
  let end = -1;
  for (let k = 0; k < bars.time.length; k++) {
    const t = bars.time[k]!;
    if (t >= fromMs && start < 0) start = k;
    if (t + step <= untilMs) end = k;
  }
  if (start < 1 || end < start) return null;
  return { start, end };
}
