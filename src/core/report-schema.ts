/**
 * The JSON Schema of report.json (schemas/report.json, `npm run schemas`), written against the types in
 * report.ts: every object's property list is typed as exactly the keys of its interface, so adding,
 * renaming or removing a field there does not compile until the schema follows. The objects SPEC
 * section 10 lists are closed (additionalProperties: false); evidence, charts and track, documented in
 * docs/evidence.md, docs/reports.md and docs/promotion.md, are described as objects only.
 * test/schemas.test.ts validates the reports the CLI writes against it.
 */
import type { FoldSummary } from './folds.js';
import type { FoldReport, ModelReport, NotEvaluated, Report, WindowReport, TradeRecord, ActionHistogram } from './report.js';
import type { InferencePath } from './drive.js';
import type { PlannedModel, ShardInfo } from './shard.js';
import {
  TIER_ORDER,
  TIMEFRAMES,
  type BacktestMetrics,
  type DataQualityNote,
  type Decision,
  type FinalMetrics,
  type GatingFlag,
  type GatingResult,
  type ModelFileInfo,
  type ModelFlag,
} from './types.js';

type Schema = Record<string, unknown>;

/** Exactly the keys of T, each with its schema. */
type Props<T> = { [K in keyof Required<T>]: Schema };

/** A closed object of T: every key required but those listed as optional (absent from some reports). */
function object<T>(props: Props<T>, optional: readonly (keyof T)[] = [], description?: string): Schema {
  const keys = Object.keys(props);
  return {
    type: 'object',
    ...(description ? { description } : {}),
    properties: props,
    required: keys.filter((k) => !(optional as readonly string[]).includes(k)),
    additionalProperties: false,
  };
}

const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });
const text: Schema = { type: 'string' };
const texts: Schema = { type: 'array', items: text };
const integer: Schema = { type: 'integer' };
const count: Schema = { type: 'integer', minimum: 0 };
const number: Schema = { type: 'number' };
const bool: Schema = { type: 'boolean' };
const iso: Schema = { type: 'string', description: 'ISO 8601 UTC' };
const sha256: Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' };
/** A metric: a number, or null when it is undefined (the reason is in the object's undefinedReasons). */
const metric: Schema = { type: ['number', 'null'] };
const reasons: Schema = { type: 'object', additionalProperties: { type: 'string' }, description: 'for every null metric: why, keyed by the field name' };
const tier: Schema = { enum: [...TIER_ORDER] };

/** Every flag a model can carry; the type below fails to compile when ModelFlag gains one this list lacks. */
const GATING_FLAGS = ['LOW_FITNESS', 'LOW_PF', 'LOW_CONSISTENCY', 'HIGH_DRAWDOWN', 'FITNESS_DECLINE', 'UNSTABLE_TRAINING', 'SHORT_HISTORY', 'METRIC_INVALID'] as const satisfies readonly GatingFlag[];
const MODEL_FLAGS = [
  ...GATING_FLAGS,
  'OBSERVATION_MISMATCH',
  'INFERENCE_MISMATCH',
  'IN_SAMPLE_OVERLAP',
  'PYTORCH_CHECKPOINT',
  'LOOKAHEAD',
  'NO_OBSERVATION_PARITY',
] as const satisfies readonly ModelFlag[];
type Exhaustive<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : never;
const flagsListed: Exhaustive<GatingFlag, (typeof GATING_FLAGS)[number]> & Exhaustive<ModelFlag, (typeof MODEL_FLAGS)[number]> = true;
void flagsListed;

const metrics = object<BacktestMetrics>(
  {
    totalReturn: metric,
    cagr: metric,
    volatility: metric,
    sharpe: metric,
    sortino: metric,
    maxDrawdown: metric,
    calmar: metric,
    winRate: metric,
    profitFactor: metric,
    trades: count,
    exposure: metric,
    turnover: metric,
    buyHoldReturn: metric,
    finalEquity: number,
    periodsPerYear: number,
    undefinedReasons: reasons,
  },
  [],
  'SPEC section 5; ratios are fractions',
);

const trade = object<TradeRecord>({
  direction: { enum: ['long', 'short'] },
  entry: iso,
  exit: iso,
  entryPrice: number,
  exitPrice: number,
  quantity: number,
  notional: number,
  pnl: number,
  fees: number,
  return: metric,
  closedAtEnd: bool,
});

const histogram = object<ActionHistogram>({
  decisions: count,
  taken: { type: 'object', additionalProperties: count },
  chosen: { type: 'object', additionalProperties: count },
  heldByMinConfidence: count,
});

const windowProps: Props<WindowReport> = {
  start: iso,
  end: iso,
  bars: count,
  metrics,
  actions: histogram,
  trades: { type: 'array', items: trade },
  tradesOmitted: count,
};
const windowOptional = ['actions', 'trades', 'tradesOmitted'] as const;
const backtestWindow = object<WindowReport>(windowProps, windowOptional);
const fold = object<FoldReport>({ ...windowProps, index: integer }, windowOptional);

const summary = object<FoldSummary>(
  {
    positiveFolds: count,
    folds: count,
    positiveShare: number,
    sharpeMean: metric,
    sharpeStd: metric,
    sharpeMin: metric,
    sharpeMax: metric,
    returnMean: metric,
    returnMin: metric,
    returnMax: metric,
    rating: { enum: ['GOOD', 'MARGINAL', 'POOR'] },
    notes: texts,
    undefinedReasons: reasons,
  },
  [],
  'SPEC section 6',
);

const gating = object<GatingResult>({
  classification: { enum: ['APPROVED', 'REVIEW', 'DROP'] },
  flags: { type: 'array', items: { enum: [...GATING_FLAGS] } },
  final: object<FinalMetrics>({ fitness: metric, profitFactor: metric, consistency: metric, maxDrawdown: metric }),
  checkpointIndex: nullable(integer),
  reasons: texts,
  points: count,
});

const tensor = object<ModelFileInfo['inputs'][number]>({ name: text, shape: { type: 'array', items: { type: ['integer', 'string'] } } });

const model = object<ModelReport>(
  {
    id: text,
    symbol: text,
    timeframe: { enum: [...TIMEFRAMES] },
    assetClass: nullable({ enum: ['crypto', 'us_equity'] }),
    assetClassGuessed: bool,
    candidate: { type: 'string', pattern: '^(final|checkpoint:[0-9]+)$' },
    model: nullable(object<ModelFileInfo>({ path: text, sha256, inputs: { type: 'array', items: tensor }, outputs: { type: 'array', items: tensor } })),
    card: nullable(object<NonNullable<ModelReport['card']>>({ path: nullable(text), inline: bool })),
    gating: nullable(gating),
    flags: { type: 'array', items: { enum: [...MODEL_FLAGS] } },
    train: object<ModelReport['train']>({ start: nullable(iso), end: nullable(iso) }),
    backtest: nullable(backtestWindow),
    walkForward: nullable(object<NonNullable<ModelReport['walkForward']>>({ days: number, folds: { type: 'array', items: fold }, summary: nullable(summary) })),
    requested: tier,
    decision: nullable(object<Decision>({ tier, reasons: texts, rule: text })),
    notEvaluated: nullable(object<NotEvaluated>({ reason: text, kind: { enum: ['input', 'model', 'infra'] } })),
    dataQuality: {
      type: 'array',
      items: object<DataQualityNote>({ kind: { enum: ['gap', 'duplicate', 'unsorted', 'info'] }, message: text, at: text, count: count }, ['at', 'count']),
    },
    errors: texts,
    notes: texts,
    charts: { type: 'object', description: 'the curves report.html draws (docs/reports.md)' },
    evidence: { type: ['object', 'null'], description: 'docs/evidence.md; null when there was no walk-forward to judge' },
    track: { type: 'object', description: 'policy-gate track: the model’s record on its account (docs/promotion.md)' },
    inference: object<InferencePath>(
      {
        path: { enum: ['split', 'full'] },
        reason: nullable(text),
        firstLayer: text,
        rows: count,
        recomputed: count,
        guard: number,
        selfCheckError: number,
        trunk: { enum: ['convolution', 'direct'] },
      },
      ['firstLayer', 'guard', 'selfCheckError', 'trunk'],
      'which inference path decided the simulations (docs/reports.md)',
    ),
  },
  ['notEvaluated', 'charts', 'evidence', 'track', 'inference'],
);

const archive = object<NonNullable<Report['archive']>>({
  path: text,
  kind: { enum: ['zip', 'dir'] },
  sha256,
  summary: object<NonNullable<Report['archive']>['summary']>({ path: text, runId: nullable(text) }),
  manifest: nullable(object<NonNullable<NonNullable<Report['archive']>['manifest']>>({ path: text, files: count, unlisted: texts }, ['unlisted'])),
  unreferenced: texts,
});

const data = object<NonNullable<Report['data']>>(
  { source: text, dir: nullable(text), range: nullable(object<NonNullable<NonNullable<Report['data']>['range']>>({ start: iso, end: iso })), requestedEnd: nullable(iso) },
  ['requestedEnd'],
);

const runtime = object<NonNullable<Report['runtime']>>({
  executionProvider: nullable(text),
  device: text,
  fallbackReason: nullable(text),
  node: text,
  onnxruntime: nullable(text),
  platform: text,
});

const shard = object<ShardInfo>({
  index: { type: 'integer', minimum: 1 },
  count: { type: 'integer', minimum: 1 },
  models: texts,
  archiveSha256: nullable(sha256),
  configSha256: sha256,
  end: nullable(iso),
  plan: nullable({ type: 'array', items: object<PlannedModel>({ id: text, shard: { type: 'integer', minimum: 1 }, cost: number }) }),
});

/** The schema of report.json (schemaVersion `version`). */
export function reportSchema(version: number): Schema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'policy-gate report (report.json)',
    description:
      'The record of a run that --out writes as report.json and --json prints (SPEC section 10, docs/reports.md). Timestamps are ISO 8601 UTC; ratios are fractions; a metric that is undefined is null, with its reason in undefinedReasons.',
    ...object<Report>(
      {
        schemaVersion: { const: version },
        tool: object<Report['tool']>({ name: { const: 'policy-gate' }, version: text }),
        command: text,
        generatedAt: iso,
        conclusion: { enum: ['success', 'failure'] },
        conclusionReasons: texts,
        config: {
          type: 'object',
          description: 'the resolved configuration, with the sha256 of its canonical form and the file it came from',
          properties: { sha256, file: nullable(text) },
          required: ['sha256', 'file'],
        },
        archive: nullable(archive),
        data: nullable(data),
        runtime: nullable(runtime),
        models: { type: 'array', items: model },
        errors: texts,
        infraErrors: texts,
        shard,
      },
      ['shard'],
    ),
  };
}
