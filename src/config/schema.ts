/**
 * The one configuration schema (SPEC section 8). A config file, command-line flags and (later) action
 * inputs all become one readonly `Config`, validated in one place. Every error names the file and key.
 */
import { inputError } from '../core/errors.js';
import type { GatingThresholds } from '../core/types.js';
import { TIER_ORDER } from '../core/types.js';

export const GATING_PRESETS: Record<string, { approved: GatingThresholds; review: GatingThresholds }> = {
  'v2.4.5': {
    approved: { fitness: 0.7, profitFactor: 1.8, consistency: 0.85, maxDrawdown: 0.08 },
    review: { fitness: 0.5, profitFactor: 1.3, consistency: 0.65, maxDrawdown: 0.15 },
  },
  'v4.1.0': {
    approved: { fitness: 0.35, profitFactor: 1.4, consistency: 0.7, maxDrawdown: 0.1 },
    review: { fitness: 0.1, profitFactor: 1.1, consistency: 0.5, maxDrawdown: 0.2 },
  },
};

export type { Fill, Device, DataSource, BacktestConfig, WalkForwardConfig, DecisionConfig, TrackRules, DataConfig, EvidenceConfig, Config } from '../core/config.js';
import type { Config, EvidenceConfig } from '../core/config.js';

export function defaultConfig(): Config {
  const preset = GATING_PRESETS['v2.4.5']!;
  return {
    gating: {
      preset: 'v2.4.5',
      approved: { ...preset.approved },
      review: { ...preset.review },
      fitnessDecline: 0.05,
      unstableOscillation: 0.1,
    },
    backtest: {
      days: 30,
      capital: 100_000,
      fill: 'next_open',
      feeBps: { crypto: 25, us_equity: 0 },
      slippageBps: 5,
      minTradeValue: 1,
      rebalanceBand: 0.05,
      periodsPerYear: null,
    },
    walkForward: { days: 180, folds: 5, embargoBars: 0 },
    decision: {
      live: { minPositiveShare: 0.8, maxSharpeStd: 1.0 },
      paper: { minPositiveShare: 0.6, maxSharpeStd: 2.0 },
      required: 'PAPER',
      noObservationParityCap: 'PAPER',
      track: { minDays: 30, minTrades: 10, maxShortfallRatio: 2, maxUnmatchedShare: 0.2, maxLagBars: 3, returnInsideInterval: true },
    },
    data: { source: 'csv', dir: null, feed: 'iex', adjustment: 'all', cache: '.policy-gate/cache', deadlineSeconds: 300 },
    promotion: { paper: 'deploy/paper.json', live: 'deploy/live.json', modelsDir: 'models' },
    runtime: { device: 'auto', inferenceTimeoutSeconds: 120, parallelModels: 2, splitFirstLayer: true },
    evidence: {
      psrBenchmarkSharpe: 0,
      minTrlConfidence: 0.95,
      dsrTrials: null,
      bootstrap: { samples: 2000, seed: 20240911, blockLength: null, confidence: 0.9 },
      costStress: { multiplier: 2, requireHold: false },
      lookaheadAudit: { samples: 16, seed: 20240911 },
      rules: { minPsr: null, minDsr: null, maxBinomialP: null, challengerNotWorse: false },
    },
  };
}

// ------------------------------------------------------------------ validation helpers

type Obj = Record<string, unknown>;
/** A JSON Schema (draft 2020-12) object, as configSchema() builds it. */
export type JsonSchema = Record<string, unknown>;

/**
 * Reads one mapping of the config, key by key, with the type and range each key must have. With
 * `schema`, it reads nothing: each getter records its key's JSON Schema there instead (configSchema),
 * so the published schema is derived from this very parser and cannot drift from it.
 */
class Reader {
  constructor(
    private readonly file: string,
    private readonly obj: Obj,
    private readonly prefix: string,
    allowed: readonly string[],
    private readonly schema?: JsonSchema,
  ) {
    if (schema) {
      // A section given as null reads as absent (section() below).
      schema['type'] = prefix === '' ? 'object' : ['object', 'null'];
      schema['additionalProperties'] = false;
      schema['properties'] = {};
      schema['x-allowed'] = [...allowed];
    }
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) {
        throw inputError(`${file}: unknown key "${this.path(key)}" (allowed here: ${allowed.join(', ')})`, file);
      }
    }
  }

  path(key: string): string {
    return this.prefix ? `${this.prefix}.${key}` : key;
  }

  private fail(key: string, expected: string): never {
    const got = JSON.stringify(this.obj[key]);
    throw inputError(`${this.file}: "${this.path(key)}" must be ${expected}, got ${got}`, this.file);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined;
  }

  /** Records `s` as the schema of `key` (schema mode); true when in schema mode. */
  private record(key: string, s: JsonSchema): boolean {
    if (!this.schema) return false;
    (this.schema['properties'] as Record<string, JsonSchema>)[key] = s;
    return true;
  }

  private static numberSchema(opts: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean }): JsonSchema {
    const s: JsonSchema = { type: opts.integer ? 'integer' : 'number' };
    if (opts.min !== undefined) s[opts.exclusiveMin ? 'exclusiveMinimum' : 'minimum'] = opts.min;
    if (opts.max !== undefined) s['maximum'] = opts.max;
    return s;
  }

  number(key: string, opts: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean } = {}): number | undefined {
    if (this.record(key, Reader.numberSchema(opts))) return undefined;
    const v = this.obj[key];
    if (v === undefined) return undefined;
    const desc = [opts.integer ? 'an integer' : 'a number', opts.min !== undefined ? `${opts.exclusiveMin ? '>' : '≥'} ${opts.min}` : '', opts.max !== undefined ? `≤ ${opts.max}` : '']
      .filter(Boolean)
      .join(' ');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, desc);
    if (opts.integer && !Number.isInteger(v)) this.fail(key, desc);
    if (opts.min !== undefined && (opts.exclusiveMin ? v <= opts.min : v < opts.min)) this.fail(key, desc);
    if (opts.max !== undefined && v > opts.max) this.fail(key, desc);
    return v;
  }

  string(key: string): string | undefined {
    if (this.record(key, { type: 'string', minLength: 1 })) return undefined;
    const v = this.obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length === 0) this.fail(key, 'a non-empty string');
    return v;
  }

  boolean(key: string): boolean | undefined {
    if (this.record(key, { type: 'boolean' })) return undefined;
    const v = this.obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  /** A number, or an explicit null (returned as null); undefined when absent. */
  nullableNumber(key: string, opts: { min?: number; max?: number; integer?: boolean; exclusiveMin?: boolean } = {}): number | null | undefined {
    if (this.record(key, { anyOf: [Reader.numberSchema(opts), { type: 'null' }] })) return undefined;
    if (this.obj[key] === null) return null;
    return this.number(key, opts);
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    if (this.record(key, { enum: [...values] })) return undefined;
    const v = this.obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) this.fail(key, `one of ${values.join(' | ')}`);
    return v as T;
  }

  section(key: string, allowed: readonly string[]): Reader | undefined {
    if (this.schema) {
      // A section read twice (fee_bps: a number or a mapping) keeps the schema recorded first.
      const existing = (this.schema['properties'] as Record<string, JsonSchema>)[key];
      const child: JsonSchema = {};
      const reader = new Reader(this.file, {}, this.path(key), allowed, child);
      this.record(key, existing ? { anyOf: [existing, child] } : child);
      return reader;
    }
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(key, 'a mapping');
    return new Reader(this.file, v as Obj, this.path(key), allowed);
  }

  raw(key: string): unknown {
    return this.obj[key];
  }

  /** Schema mode. */
  get recording(): boolean {
    return this.schema !== undefined;
  }
}

const THRESHOLD_KEYS = ['fitness', 'profit_factor', 'consistency', 'max_drawdown'] as const;

function readThresholds(r: Reader | undefined, base: GatingThresholds): GatingThresholds {
  if (!r) return base;
  return {
    fitness: r.number('fitness') ?? base.fitness,
    profitFactor: r.number('profit_factor', { min: 0 }) ?? base.profitFactor,
    consistency: r.number('consistency', { min: 0, max: 1 }) ?? base.consistency,
    maxDrawdown: r.number('max_drawdown', { min: 0, max: 1 }) ?? base.maxDrawdown,
  };
}

/**
 * Validate a parsed config document (YAML or JSON) on top of the defaults.
 * `file` is only used in messages.
 */
export function parseConfig(doc: unknown, file: string): Config {
  const cfg = defaultConfig();
  if (doc === undefined || doc === null) return cfg;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw inputError(`${file}: the config must be a mapping of sections (gating, backtest, walk_forward, ...)`, file);
  }
  const root = new Reader(file, doc as Obj, '', ROOT_KEYS);
  return readConfig(root, cfg, file);
}

/** The top-level sections; `$schema` lets an editor find schemas/policy-gate.config.json. */
const ROOT_KEYS = ['$schema', 'gating', 'backtest', 'walk_forward', 'decision', 'data', 'promotion', 'runtime', 'evidence'];

/**
 * The JSON Schema of the config file (schemas/policy-gate.config.json), recorded by running the
 * parser in schema mode: every key, type, range and enum is the parser's own.
 */
export function configSchema(): JsonSchema {
  const schema: JsonSchema = {};
  const root = new Reader('schema', {}, '', ROOT_KEYS, schema);
  readConfig(root, defaultConfig(), 'schema');
  const props = schema['properties'] as Record<string, JsonSchema>;
  props['$schema'] = { type: 'string', description: 'the schema this file follows, for editors' };
  const gating = (props['gating'] as { properties: Record<string, JsonSchema> }).properties;
  gating['preset'] = { enum: Object.keys(GATING_PRESETS) };
  const strip = (s: unknown): void => {
    if (s === null || typeof s !== 'object') return;
    const o = s as Record<string, unknown>;
    const allowed = o['x-allowed'] as string[] | undefined;
    delete o['x-allowed'];
    if (allowed) {
      const missing = allowed.filter((k) => !(k in (o['properties'] as object)));
      if (missing.length > 0) throw new Error(`configSchema: keys allowed but never read: ${missing.join(', ')}`);
    }
    for (const v of Object.values(o)) {
      if (Array.isArray(v)) v.forEach(strip);
      else strip(v);
    }
  };
  strip(schema);
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://policy-gate.dev/schemas/policy-gate.config.json',
    title: 'policy-gate config (.github/policy-gate.yml)',
    description: 'Every key is optional; absent keys take the defaults of docs and SPEC sections 5–8. Generated from src/config/schema.ts.',
    ...schema,
  };
}

function readConfig(root: Reader, cfg: Config, file: string): Config {
  const g = root.section('gating', ['preset', 'approved', 'review', 'fitness_decline', 'unstable_oscillation']);
  if (g) {
    const presetName = g.string('preset');
    if (presetName !== undefined) {
      const preset = GATING_PRESETS[presetName];
      if (!preset) {
        throw inputError(`${file}: "gating.preset" must be one of ${Object.keys(GATING_PRESETS).join(' | ')}, got ${JSON.stringify(presetName)}`, file);
      }
      cfg.gating.preset = presetName;
      cfg.gating.approved = { ...preset.approved };
      cfg.gating.review = { ...preset.review };
    }
    const approved = g.section('approved', THRESHOLD_KEYS);
    const review = g.section('review', THRESHOLD_KEYS);
    cfg.gating.approved = readThresholds(approved, cfg.gating.approved);
    cfg.gating.review = readThresholds(review, cfg.gating.review);
    if (approved || review) cfg.gating.preset = presetName ? `${presetName}+custom` : 'custom';
    cfg.gating.fitnessDecline = g.number('fitness_decline', { min: 0 }) ?? cfg.gating.fitnessDecline;
    cfg.gating.unstableOscillation = g.number('unstable_oscillation', { min: 0 }) ?? cfg.gating.unstableOscillation;
  }

  const b = root.section('backtest', ['days', 'capital', 'fill', 'fee_bps', 'slippage_bps', 'min_trade_value', 'rebalance_band', 'periods_per_year']);
  if (b) {
    cfg.backtest.days = b.number('days', { min: 0, exclusiveMin: true }) ?? cfg.backtest.days;
    cfg.backtest.capital = b.number('capital', { min: 0, exclusiveMin: true }) ?? cfg.backtest.capital;
    cfg.backtest.fill = b.oneOf('fill', ['next_open', 'close'] as const) ?? cfg.backtest.fill;
    const fee = b.raw('fee_bps');
    if (b.recording) b.number('fee_bps', { min: 0 }); // one fee for both asset classes, or a mapping:
    if (typeof fee === 'number') {
      const v = b.number('fee_bps', { min: 0 })!;
      cfg.backtest.feeBps = { crypto: v, us_equity: v };
    } else if (fee !== undefined || b.recording) {
      const f = b.section('fee_bps', ['crypto', 'us_equity'])!;
      cfg.backtest.feeBps = {
        crypto: f.number('crypto', { min: 0 }) ?? cfg.backtest.feeBps.crypto,
        us_equity: f.number('us_equity', { min: 0 }) ?? cfg.backtest.feeBps.us_equity,
      };
    }
    cfg.backtest.slippageBps = b.number('slippage_bps', { min: 0 }) ?? cfg.backtest.slippageBps;
    cfg.backtest.minTradeValue = b.number('min_trade_value', { min: 0 }) ?? cfg.backtest.minTradeValue;
    cfg.backtest.rebalanceBand = b.number('rebalance_band', { min: 0, max: 1 }) ?? cfg.backtest.rebalanceBand;
    cfg.backtest.periodsPerYear = b.number('periods_per_year', { min: 0, exclusiveMin: true }) ?? null;
  }

  const w = root.section('walk_forward', ['days', 'folds', 'embargo_bars']);
  if (w) {
    cfg.walkForward.days = w.number('days', { min: 0, exclusiveMin: true }) ?? cfg.walkForward.days;
    cfg.walkForward.folds = w.number('folds', { min: 1, integer: true }) ?? cfg.walkForward.folds;
    cfg.walkForward.embargoBars = w.number('embargo_bars', { min: 0, integer: true }) ?? cfg.walkForward.embargoBars;
  }

  const d = root.section('decision', ['live', 'paper', 'required', 'no_observation_parity_cap', 'track']);
  if (d) {
    for (const tier of ['live', 'paper'] as const) {
      const t = d.section(tier, ['min_positive_share', 'max_sharpe_std']);
      if (t) {
        cfg.decision[tier] = {
          minPositiveShare: t.number('min_positive_share', { min: 0, max: 1 }) ?? cfg.decision[tier].minPositiveShare,
          maxSharpeStd: t.number('max_sharpe_std', { min: 0 }) ?? cfg.decision[tier].maxSharpeStd,
        };
      }
    }
    cfg.decision.required = d.oneOf('required', TIER_ORDER) ?? cfg.decision.required;
    cfg.decision.noObservationParityCap = d.oneOf('no_observation_parity_cap', TIER_ORDER) ?? cfg.decision.noObservationParityCap;
    const tr = d.section('track', ['min_days', 'min_trades', 'max_shortfall_ratio', 'max_unmatched_share', 'max_lag_bars', 'return_inside_interval']);
    if (tr) {
      const t = cfg.decision.track;
      t.minDays = tr.number('min_days', { min: 0 }) ?? t.minDays;
      t.minTrades = tr.number('min_trades', { min: 0, integer: true }) ?? t.minTrades;
      t.maxShortfallRatio = tr.number('max_shortfall_ratio', { min: 0 }) ?? t.maxShortfallRatio;
      t.maxUnmatchedShare = tr.number('max_unmatched_share', { min: 0, max: 1 }) ?? t.maxUnmatchedShare;
      t.maxLagBars = tr.number('max_lag_bars', { min: 0, integer: true }) ?? t.maxLagBars;
      t.returnInsideInterval = tr.boolean('return_inside_interval') ?? t.returnInsideInterval;
    }
  }

  const data = root.section('data', ['source', 'dir', 'feed', 'adjustment', 'cache', 'deadline_seconds']);
  if (data) {
    cfg.data.source = data.oneOf('source', ['csv', 'alpaca'] as const) ?? cfg.data.source;
    cfg.data.dir = data.string('dir') ?? cfg.data.dir;
    cfg.data.feed = data.oneOf('feed', ['iex', 'sip', 'otc', 'boats'] as const) ?? cfg.data.feed;
    cfg.data.adjustment = data.oneOf('adjustment', ['raw', 'split', 'dividend', 'all'] as const) ?? cfg.data.adjustment;
    cfg.data.cache = data.string('cache') ?? cfg.data.cache;
    cfg.data.deadlineSeconds = data.number('deadline_seconds', { min: 0, exclusiveMin: true }) ?? cfg.data.deadlineSeconds;
  }

  const p = root.section('promotion', ['paper', 'live', 'models_dir']);
  if (p) {
    cfg.promotion.paper = p.string('paper') ?? cfg.promotion.paper;
    cfg.promotion.live = p.string('live') ?? cfg.promotion.live;
    cfg.promotion.modelsDir = p.string('models_dir') ?? cfg.promotion.modelsDir;
  }

  const rt = root.section('runtime', ['device', 'inference_timeout_seconds', 'parallel_models', 'split_first_layer']);
  if (rt) {
    cfg.runtime.device = rt.oneOf('device', ['auto', 'cpu', 'cuda'] as const) ?? cfg.runtime.device;
    cfg.runtime.inferenceTimeoutSeconds = rt.number('inference_timeout_seconds', { min: 0, exclusiveMin: true, max: 86_400 }) ?? cfg.runtime.inferenceTimeoutSeconds;
    cfg.runtime.parallelModels = rt.number('parallel_models', { min: 1, max: 64, integer: true }) ?? cfg.runtime.parallelModels;
    cfg.runtime.splitFirstLayer = rt.boolean('split_first_layer') ?? cfg.runtime.splitFirstLayer;
  }

  const ev = root.section('evidence', ['psr_benchmark_sharpe', 'min_trl_confidence', 'dsr_trials', 'bootstrap', 'cost_stress', 'lookahead_audit', 'rules']);
  if (ev) readEvidence(ev, cfg.evidence);

  checkCrossField(cfg, file);
  return cfg;
}

function readEvidence(ev: Reader, e: EvidenceConfig): void {
  const keep = <T>(v: T | undefined, base: T): T => (v === undefined ? base : v);
  e.psrBenchmarkSharpe = ev.number('psr_benchmark_sharpe') ?? e.psrBenchmarkSharpe;
  e.minTrlConfidence = ev.number('min_trl_confidence', { min: 0.5, max: 0.999999 }) ?? e.minTrlConfidence;
  e.dsrTrials = keep(ev.nullableNumber('dsr_trials', { min: 1, max: 1_000_000, integer: true }), e.dsrTrials);
  const b = ev.section('bootstrap', ['samples', 'seed', 'block_length', 'confidence']);
  if (b) {
    e.bootstrap = {
      samples: b.number('samples', { min: 0, max: 100_000, integer: true }) ?? e.bootstrap.samples,
      seed: b.number('seed', { min: 0, max: 4_294_967_295, integer: true }) ?? e.bootstrap.seed,
      blockLength: keep(b.nullableNumber('block_length', { min: 1 }), e.bootstrap.blockLength),
      confidence: b.number('confidence', { min: 0.5, max: 0.999 }) ?? e.bootstrap.confidence,
    };
  }
  const c = ev.section('cost_stress', ['multiplier', 'require_hold']);
  if (c) {
    e.costStress = {
      multiplier: keep(c.nullableNumber('multiplier', { min: 0, max: 100 }), e.costStress.multiplier),
      requireHold: c.boolean('require_hold') ?? e.costStress.requireHold,
    };
  }
  const l = ev.section('lookahead_audit', ['samples', 'seed']);
  if (l) {
    e.lookaheadAudit = {
      samples: l.number('samples', { min: 0, max: 10_000, integer: true }) ?? e.lookaheadAudit.samples,
      seed: l.number('seed', { min: 0, max: 4_294_967_295, integer: true }) ?? e.lookaheadAudit.seed,
    };
  }
  const r = ev.section('rules', ['min_psr', 'min_dsr', 'max_binomial_p', 'challenger_not_worse']);
  if (r) {
    e.rules = {
      minPsr: keep(r.nullableNumber('min_psr', { min: 0, max: 1 }), e.rules.minPsr),
      minDsr: keep(r.nullableNumber('min_dsr', { min: 0, max: 1 }), e.rules.minDsr),
      maxBinomialP: keep(r.nullableNumber('max_binomial_p', { min: 0, max: 1 }), e.rules.maxBinomialP),
      challengerNotWorse: r.boolean('challenger_not_worse') ?? e.rules.challengerNotWorse,
    };
  }
}

/** Rules that involve more than one key, checked after every override is applied. */
export function checkCrossField(cfg: Config, file: string): void {
  const { approved, review } = cfg.gating;
  const pairs: [string, boolean][] = [
    ['fitness', approved.fitness >= review.fitness],
    ['profit_factor', approved.profitFactor >= review.profitFactor],
    ['consistency', approved.consistency >= review.consistency],
    ['max_drawdown', approved.maxDrawdown <= review.maxDrawdown],
  ];
  for (const [key, ok] of pairs) {
    if (!ok) {
      throw inputError(`${file}: "gating.approved.${key}" is looser than "gating.review.${key}"; APPROVED must be at least as strict as REVIEW`, file);
    }
  }
  if (cfg.decision.live.minPositiveShare < cfg.decision.paper.minPositiveShare) {
    throw inputError(`${file}: "decision.live.min_positive_share" (${cfg.decision.live.minPositiveShare}) is below "decision.paper.min_positive_share" (${cfg.decision.paper.minPositiveShare})`, file);
  }
  if (cfg.decision.live.maxSharpeStd > cfg.decision.paper.maxSharpeStd) {
    throw inputError(
      `${file}: "decision.live.max_sharpe_std" (${cfg.decision.live.maxSharpeStd}) is above "decision.paper.max_sharpe_std" (${cfg.decision.paper.maxSharpeStd}); LIVE must be at least as strict as PAPER`,
      file,
    );
  }
  if (cfg.walkForward.folds > 1000) {
    throw inputError(`${file}: "walk_forward.folds" must be ≤ 1000, got ${cfg.walkForward.folds}`, file);
  }
}
