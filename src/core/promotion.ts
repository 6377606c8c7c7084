/**
 * The deployment configs (paper and live) and how a report changes them — pure: no I/O, no clock
 * (the time comes in as an argument), no randomness.
 *
 * A deployment config is JSON or YAML holding a `models` mapping keyed by model id; each entry records
 * what is deployed and the evidence it was deployed on (snake_case keys, written sorted):
 *
 *   model, model_sha256   the ONNX file (repository-relative) and its sha256
 *   card, card_sha256     its policy card, beside it
 *   candidate             "final" or "checkpoint:<index>"
 *   tier                  LIVE or PAPER (the file it is in says the same)
 *   reasons               the decision's rule, one line
 *   gating, train_end     the gating class and training end at promotion (re-validation decides with them)
 *   report_sha256, run_url, config_sha256, data_start, data_end    the evidence
 *   promoted_at           when this model file entered this tier
 *
 * Keys the tool does not own (a person's `since:` or `owner:`) are kept as they are.
 *
 * planPromotion applies a report:
 *   promote:     LIVE → live (and out of paper); PAPER → paper (and out of live); RETRAIN/DROP → untouched.
 *   revalidate:  a model below the tier it holds is demoted: live → paper when it still earns PAPER,
 *                otherwise out of both; paper → out. A model that holds its tier is left alone
 *                (re-validation never promotes: that takes a pull request).
 * Both are idempotent: applying the same report twice changes nothing, and `promoted_at` only moves
 * when the model file or its tier changes.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { inputError } from './errors.js';
import { checkValueDepth, parseFailureReason } from './json.js';
import type { ModelReport, Report } from './report.js';
import { tierRank, type Tier } from './types.js';

export type DeployTier = 'LIVE' | 'PAPER';

/** The keys policy-gate writes in an entry; any other key belongs to people and is kept. */
export const ENTRY_KEYS = [
  'card',
  'card_sha256',
  'candidate',
  'config_sha256',
  'data_end',
  'data_start',
  'gating',
  'model',
  'model_sha256',
  'promoted_at',
  'reasons',
  'report_sha256',
  'run_url',
  'tier',
  'train_end',
] as const;

export interface DeployEntry {
  model: string;
  model_sha256: string;
  card: string;
  card_sha256: string;
  candidate: string;
  tier: DeployTier;
  reasons: string;
  gating: 'APPROVED' | 'REVIEW' | null;
  train_end: string | null;
  report_sha256: string;
  run_url: string | null;
  promoted_at: string;
  config_sha256: string;
  data_start: string | null;
  data_end: string | null;
}

export type EntryValue = Record<string, unknown>;

export interface DeployDoc {
  /** Entries keyed by model id, as read (a null-prototype map: ids are data). */
  models: Record<string, EntryValue>;
  /** Other top-level keys, kept as they are. */
  extra: Record<string, unknown>;
}

export interface DeployConfigs {
  paper: DeployDoc;
  live: DeployDoc;
}

export interface DeployPaths {
  paper: string;
  live: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function nullMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function emptyDoc(): DeployDoc {
  return { models: nullMap(), extra: {} };
}

/** Parse a deployment config's text (JSON is YAML); null text (no file) is an empty config. */
export function parseDeployDoc(text: string | null, file: string): DeployDoc {
  if (text === null) return emptyDoc();
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw inputError(`${file}: not valid JSON or YAML: ${parseFailureReason(err)}`, file, err);
  }
  checkValueDepth(doc, file);
  if (doc === null || doc === undefined) return emptyDoc();
  if (!isObj(doc)) throw inputError(`${file}: must be a mapping with a "models" mapping keyed by model id`, file);
  const { models, ...extra } = doc;
  const out = emptyDoc();
  out.extra = extra;
  if (models === undefined || models === null) return out;
  if (!isObj(models)) {
    throw inputError(`${file}: "models" must be a mapping keyed by model id, got ${Array.isArray(models) ? 'a list' : typeof models}`, file);
  }
  for (const [id, entry] of Object.entries(models)) {
    if (entry === null || entry === undefined) out.models[id] = {};
    else if (isObj(entry)) out.models[id] = entry;
    else throw inputError(`${file}: models.${id} must be a mapping (the model's record), got ${JSON.stringify(entry)}`, file);
  }
  return out;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (isObj(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

export function isYamlPath(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

/**
 * The file's text: sorted keys at every level, two-space indent, a trailing newline — so a change
 * to one model is a diff of that model's lines. YAML for .yml/.yaml, JSON otherwise.
 */
export function serializeDeployDoc(doc: DeployDoc, file: string): string {
  const models: Record<string, unknown> = {};
  for (const id of Object.keys(doc.models).sort()) models[id] = doc.models[id];
  const value = sortKeys({ ...doc.extra, models });
  if (isYamlPath(file)) {
    const text = stringifyYaml(value, { indent: 2, lineWidth: 0, sortMapEntries: true, nullStr: 'null' });
    return text.endsWith('\n') ? text : `${text}\n`;
  }
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Where a promoted model's files go: content-addressed, so an older config never points at newer bytes. */
export function deployedPaths(modelsDir: string, id: string, modelSha256: string): { model: string; card: string } {
  const dir = modelsDir
    .replace(/\\/g, '/')
    .replace(/\/+$/, '')
    .replace(/^\.\/+/, '');
  const safe = id.replace(/[^A-Za-z0-9._-]/g, '_');
  const base = `${dir === '' || dir === '.' ? '' : `${dir}/`}${safe}/${modelSha256.slice(0, 12)}/${safe}`;
  return { model: `${base}.onnx`, card: `${base}.card.json` };
}

/** The model's evaluation window: the earliest window start and the latest window end. */
export function evaluationRange(m: ModelReport): { start: string | null; end: string | null } {
  const starts = [m.backtest?.start, ...(m.walkForward?.folds ?? []).map((f) => f.start)].filter((s): s is string => typeof s === 'string');
  const ends = [m.backtest?.end, ...(m.walkForward?.folds ?? []).map((f) => f.end)].filter((s): s is string => typeof s === 'string');
  return {
    start: starts.length ? starts.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b)) : null,
    end: ends.length ? ends.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b)) : null,
  };
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/** The decision's rule, one line. */
export function reasonsSummary(m: ModelReport): string {
  return oneLine(m.decision?.reasons[0] ?? m.decision?.rule ?? '');
}

export type ChangeKind = 'added' | 'promoted' | 'demoted' | 'removed' | 'updated';

export interface DeployChange {
  id: string;
  kind: ChangeKind;
  from: DeployTier | null;
  to: DeployTier | null;
  /** The decision that caused it. */
  decision: Tier;
  /** One line a person reads. */
  summary: string;
}

export interface PromotionPlan {
  paper: DeployDoc;
  live: DeployDoc;
  changes: DeployChange[];
  /** Models the report decided that keep what they hold (revalidate), or were already deployed as decided (promote). */
  unchanged: { id: string; tier: DeployTier | null; decision: Tier }[];
  /** Models of the report that were not considered, and why. */
  skipped: { id: string; why: string }[];
}

export interface PlanOptions {
  mode: 'promote' | 'revalidate';
  now: Date;
  runUrl: string | null;
  reportSha256: string;
  /** promote: the deployed files of each promoted model (computed by the caller from the archive). */
  artifacts?: Record<string, { model: string; card: string; cardSha256: string }>;
}

export function cloneDoc(doc: DeployDoc): DeployDoc {
  const out = emptyDoc();
  out.extra = structuredClone(doc.extra);
  for (const [id, e] of Object.entries(doc.models)) out.models[id] = structuredClone(e);
  return out;
}

function peopleKeys(entry: EntryValue | undefined): EntryValue {
  const out: EntryValue = {};
  if (!entry) return out;
  for (const [k, v] of Object.entries(entry)) if (!(ENTRY_KEYS as readonly string[]).includes(k)) out[k] = v;
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

const TIER_FILE: Record<DeployTier, keyof DeployConfigs> = { LIVE: 'live', PAPER: 'paper' };

/** Apply a report to the configs (see the module comment). The inputs are not changed. */
export function planPromotion(configs: DeployConfigs, report: Report, opts: PlanOptions): PromotionPlan {
  const next: DeployConfigs = { paper: cloneDoc(configs.paper), live: cloneDoc(configs.live) };
  const plan: PromotionPlan = { paper: next.paper, live: next.live, changes: [], unchanged: [], skipped: [] };
  const now = opts.now.toISOString();
  const evidence = (m: ModelReport): Pick<DeployEntry, 'reasons' | 'report_sha256' | 'run_url' | 'config_sha256' | 'data_start' | 'data_end'> => {
    const range = evaluationRange(m);
    return {
      reasons: reasonsSummary(m),
      report_sha256: opts.reportSha256,
      run_url: opts.runUrl,
      config_sha256: report.config.sha256,
      data_start: range.start,
      data_end: range.end,
    };
  };
  const held = (id: string): DeployTier | null => (id in next.live.models ? 'LIVE' : id in next.paper.models ? 'PAPER' : null);

  const seen = new Set<string>();
  for (const m of report.models) {
    if (seen.has(m.id)) {
      plan.skipped.push({ id: m.id, why: 'listed twice in the report; the first entry was used' });
      continue;
    }
    seen.add(m.id);
    if (!m.decision) {
      plan.skipped.push({ id: m.id, why: `not decided${m.errors[0] ? `: ${oneLine(m.errors[0])}` : ''}` });
      continue;
    }
    const decision = m.decision.tier;
    const from = held(m.id);

    if (opts.mode === 'promote') {
      if (decision !== 'LIVE' && decision !== 'PAPER') {
        plan.skipped.push({ id: m.id, why: `${decision}: not promoted` });
        continue;
      }
      const files = opts.artifacts?.[m.id];
      if (!m.model?.sha256 || !files) {
        plan.skipped.push({ id: m.id, why: `${decision}, but the report names no model file for it` });
        continue;
      }
      const target = next[TIER_FILE[decision]];
      const other = next[TIER_FILE[decision === 'LIVE' ? 'PAPER' : 'LIVE']];
      const existing = target.models[m.id];
      const moved = other.models[m.id];
      const ours: DeployEntry = {
        model: files.model,
        model_sha256: m.model.sha256,
        card: files.card,
        card_sha256: files.cardSha256,
        candidate: m.candidate,
        tier: decision,
        gating: m.gating?.classification === 'APPROVED' || m.gating?.classification === 'REVIEW' ? m.gating.classification : null,
        train_end: m.train.end,
        promoted_at: existing && existing['model_sha256'] === m.model.sha256 && typeof existing['promoted_at'] === 'string' ? existing['promoted_at'] : now,
        ...evidence(m),
      };
      const entry: EntryValue = { ...peopleKeys(moved), ...peopleKeys(existing), ...ours };
      if (existing && !moved && sameValue(existing, entry)) {
        plan.unchanged.push({ id: m.id, tier: decision, decision });
        continue;
      }
      target.models[m.id] = entry;
      if (moved) delete other.models[m.id];
      const kind: ChangeKind = from === null ? 'added' : from === decision ? 'updated' : decision === 'LIVE' ? 'promoted' : 'demoted';
      plan.changes.push({
        id: m.id,
        kind,
        from,
        to: decision,
        decision,
        summary:
          kind === 'updated'
            ? `${m.id}: ${decision} record updated (${existing?.['model_sha256'] === m.model.sha256 ? 'same model, new evidence' : `new model ${m.model.sha256.slice(0, 12)}`})`
            : `${m.id}: ${from ?? 'not deployed'} → ${decision} (${reasonsSummary(m)})`,
      });
      continue;
    }

    // revalidate
    if (from === null) {
      plan.skipped.push({ id: m.id, why: 'not in a deployment config' });
      continue;
    }
    if (tierRank(decision) >= tierRank(from)) {
      plan.unchanged.push({ id: m.id, tier: from, decision });
      continue;
    }
    const before = next[TIER_FILE[from]].models[m.id]!;
    delete next.live.models[m.id];
    if (from === 'LIVE' && decision === 'PAPER') {
      next.paper.models[m.id] = { ...before, tier: 'PAPER', promoted_at: now, ...evidence(m) };
      plan.changes.push({ id: m.id, kind: 'demoted', from, to: 'PAPER', decision, summary: `${m.id}: LIVE → PAPER (${reasonsSummary(m)})` });
    } else {
      delete next.paper.models[m.id];
      plan.changes.push({ id: m.id, kind: 'removed', from, to: null, decision, summary: `${m.id}: ${from} → out, its decision is ${decision} (${reasonsSummary(m)})` });
    }
  }
  return plan;
}

/** The files a plan rewrites: only those whose models changed (an untouched file keeps its bytes). */
export function changedDocs(before: DeployConfigs, plan: PromotionPlan): (keyof DeployConfigs)[] {
  const out: (keyof DeployConfigs)[] = [];
  // Live first: writing it first never leaves a model in live that its decision no longer supports.
  for (const k of ['live', 'paper'] as const) {
    if (!sameValue({ ...before[k].extra, models: { ...before[k].models } }, { ...plan[k].extra, models: { ...plan[k].models } })) out.push(k);
  }
  return out;
}

/** The entry as a DeployEntry when it names a model file and card (a promoted record), else a reason it cannot be evaluated. */
export function deployedEntry(entry: EntryValue, id: string, file: string): { ok: true; entry: Partial<DeployEntry> & { model: string; card: string } } | { ok: false; why: string } {
  const model = entry['model'];
  if (typeof model !== 'string' || model === '') return { ok: false, why: `${file}: models.${id} names no model file ("model"); promote it with policy-gate promote` };
  const cardRaw = entry['card'];
  const card = typeof cardRaw === 'string' && cardRaw !== '' ? cardRaw : model.replace(/\.onnx$/i, '') + '.card.json';
  const str = (k: string): string | null => (typeof entry[k] === 'string' ? (entry[k] as string) : null);
  const gating = entry['gating'] === 'APPROVED' || entry['gating'] === 'REVIEW' ? entry['gating'] : null;
  return {
    ok: true,
    entry: {
      model,
      card,
      ...(str('model_sha256') ? { model_sha256: str('model_sha256')! } : {}),
      ...(str('candidate') ? { candidate: str('candidate')! } : {}),
      gating,
      train_end: str('train_end'),
    },
  };
}

export interface TierAdvice {
  id: string;
  /** The config that requests the tier the model did not earn. */
  config: string;
  requested: DeployTier;
  decision: Tier;
  /** The decision's reasons, one line. */
  why: string;
  /** What would pass, e.g. "move BTCUSD_4Hour to deploy/paper.json to pass: its decision is PAPER". */
  fix: string;
}

/**
 * For each model a deployment config requests above its decision: why it fails and what would pass.
 * `listed` is what each config lists (after the pull request).
 */
export function tierAdvice(models: readonly Pick<ModelReport, 'id' | 'requested' | 'decision'>[], listed: { tier: DeployTier; path: string; models: readonly string[] }[]): TierAdvice[] {
  const out: TierAdvice[] = [];
  const paper = listed.find((c) => c.tier === 'PAPER');
  for (const m of models) {
    if (!m.decision) continue;
    const decision = m.decision.tier;
    if (m.requested !== 'LIVE' && m.requested !== 'PAPER') continue;
    if (tierRank(decision) >= tierRank(m.requested)) continue;
    const cfg = listed.find((c) => c.tier === m.requested && c.models.includes(m.id));
    if (!cfg) continue;
    const why = oneLine(m.decision.reasons.join('; '));
    const inPaper = paper?.models.includes(m.id) ?? false;
    let fix: string;
    if (decision === 'PAPER' && paper) {
      fix = inPaper ? `remove ${m.id} from ${cfg.path} (${paper.path} already lists it) to pass: its decision is PAPER` : `move ${m.id} to ${paper.path} to pass: its decision is PAPER`;
    } else {
      const from = [cfg.path, ...(inPaper && paper && paper.path !== cfg.path ? [paper.path] : [])];
      fix = `remove ${m.id} from ${from.join(' and ')} to pass: its decision is ${decision}, and only PAPER or LIVE is deployed`;
    }
    out.push({ id: m.id, config: cfg.path, requested: m.requested, decision, why, fix });
  }
  return out;
}
