/**
 * `policy-gate merge` (docs/sharding.md): the partial reports of `validate --shard i/n` combined into
 * the report an unsharded run writes. Pure: the partials come in as parsed JSON, the time as an
 * argument.
 *
 * Refused (an input error, exit 2), because the result would mix evidence that does not belong
 * together: a file that is not a partial report; partials of different policy-gate versions, shard
 * counts, archives (sha256), configs (sha256), evaluation ends or plans; a shard index given twice; a
 * partial whose models are not the ones its plan gives it.
 *
 * Accepted, but the merged conclusion is failure and the missing models are named: a shard whose
 * partial is absent, and a shard that stopped before it read the archive (its failure report). Never
 * a silent pass.
 *
 * What the merged report.json may differ in from an unsharded run's, and nothing else:
 * `generatedAt` (the merge's clock), and in `runtime` the environment fields (`node`,
 * `onnxruntime`, `platform`, `executionProvider`, `fallbackReason`), which list each distinct value of
 * the shards', joined with ", " — equal to an unsharded run's when every shard ran on the same kind of
 * runner (`executionProvider` joins providers with "," in shard order, where an unsharded run
 * lists them in the order its models loaded).
 */
import { concludeReport } from './decide.js';
import { inputError } from './errors.js';
import { SCHEMA_VERSION, type ModelReport, type Report } from './report.js';
import { shardLabel, shardModels, type PlannedModel, type ShardInfo } from './shard.js';

export interface PartialInput {
  /** Where the partial came from (a file path, an artifact name): every message names it. */
  label: string;
  doc: unknown;
}

/** What the merger knows itself (the Action's merge job reads the archive and resolves the config). */
export interface MergeExpectations {
  archiveSha256?: string;
  /** Names the merger's archive in messages. */
  archiveLabel?: string;
  configSha256?: string;
  /** The pinned end the merger runs with (ISO), or null for none; undefined: not checked. */
  end?: string | null;
  /** The plan the merger computes for `count` shards from its own archive and config. */
  planFor?: (count: number) => PlannedModel[];
}

export interface MergeOutcome {
  report: Report;
  /** The shard count (null when no partial was given and none was expected). */
  count: number | null;
  present: { index: number; label: string }[];
  /** Shards without a usable partial: absent, or stopped before reading the archive. */
  missing: { index: number; models: string[]; reason: 'absent' | 'failed'; label: string | null }[];
}

type Partial = Report & { shard: ShardInfo };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const short = (sha: string): string => `${sha.slice(0, 12)}…`;

function notPartial(label: string, why: string): never {
  throw inputError(`${label}: not a partial report of "policy-gate validate --shard i/n" (${why}); merge the report.json files the shards wrote`, label);
}

function asPlan(label: string, v: unknown): PlannedModel[] | null {
  if (v === null) return null;
  if (!Array.isArray(v)) notPartial(label, 'shard.plan is not a list');
  return v.map((p, i) => {
    if (!isObj(p) || typeof p['id'] !== 'string' || !Number.isInteger(p['shard']) || typeof p['cost'] !== 'number') {
      notPartial(label, `shard.plan[${i}] is not {id, shard, cost}`);
    }
    return { id: p['id'], shard: p['shard'] as number, cost: p['cost'] };
  });
}

/** Checks the parts of a partial the merge reads; everything else is carried over as it is. */
export function asPartial(input: PartialInput): Partial {
  const { label, doc } = input;
  if (!isObj(doc)) notPartial(label, 'not a JSON object');
  if (doc['schemaVersion'] !== SCHEMA_VERSION) {
    notPartial(label, `report schemaVersion ${JSON.stringify(doc['schemaVersion'])}, this policy-gate reads ${SCHEMA_VERSION}`);
  }
  if (doc['command'] !== 'validate') notPartial(label, `it was written by "${String(doc['command'])}", not "validate"`);
  const s = doc['shard'];
  if (!isObj(s)) notPartial(label, 'no "shard" section: it is a complete report');
  if (!Number.isInteger(s['index']) || !Number.isInteger(s['count']) || (s['count'] as number) < 1 || (s['index'] as number) < 1 || (s['index'] as number) > (s['count'] as number)) {
    notPartial(label, 'shard.index and shard.count are not 1 ≤ i ≤ n');
  }
  if (!isStrings(s['models'])) notPartial(label, 'shard.models is not a list of ids');
  if (s['archiveSha256'] !== null && typeof s['archiveSha256'] !== 'string') notPartial(label, 'shard.archiveSha256 is not a string or null');
  if (typeof s['configSha256'] !== 'string') notPartial(label, 'shard.configSha256 is not a string');
  if (s['end'] !== null && typeof s['end'] !== 'string') notPartial(label, 'shard.end is not a string or null');
  const plan = asPlan(label, s['plan']);
  const tool = doc['tool'];
  if (!isObj(tool) || typeof tool['version'] !== 'string') notPartial(label, 'no tool.version');
  const config = doc['config'];
  if (!isObj(config) || typeof config['sha256'] !== 'string') notPartial(label, 'no config.sha256');
  const archive = doc['archive'];
  if (archive !== null && (!isObj(archive) || typeof archive['sha256'] !== 'string')) notPartial(label, 'archive is not null or {sha256, …}');
  if ((archive === null) !== (s['archiveSha256'] === null) || (isObj(archive) && archive['sha256'] !== s['archiveSha256'])) {
    notPartial(label, 'archive.sha256 and shard.archiveSha256 disagree');
  }
  if (!Array.isArray(doc['models']) || !doc['models'].every((m) => isObj(m) && typeof m['id'] === 'string')) notPartial(label, 'models is not a list of model reports');
  if (!isStrings(doc['errors']) || !isStrings(doc['infraErrors'])) notPartial(label, 'errors / infraErrors are not lists of strings');
  return { ...(doc as unknown as Report), shard: { ...(s as unknown as ShardInfo), plan } };
}

function same<T>(what: string, items: { label: string; value: T; shard: ShardInfo }[], show: (v: T) => string, hint: string): void {
  const first = items[0];
  if (!first) return;
  for (const it of items.slice(1)) {
    if (JSON.stringify(it.value) !== JSON.stringify(first.value)) {
      throw inputError(`${it.label} (shard ${shardLabel(it.shard)}) ${what} ${show(it.value)}, but ${first.label} (shard ${shardLabel(first.shard)}) ${show(first.value)}; ${hint}`, it.label);
    }
  }
}

const distinct = (values: (string | null | undefined)[], sep: string): string | null => {
  const seen = [...new Set(values.flatMap((v) => (v ? v.split(sep) : [])))];
  return seen.length ? seen.join(sep) : null;
};

function mergeRuntime(parts: Partial[]): Report['runtime'] {
  const rts = parts.map((p) => p.runtime).filter((r): r is NonNullable<Report['runtime']> => r !== null && r !== undefined);
  const first = rts[0];
  if (!first) return null;
  return {
    executionProvider: distinct(
      rts.map((r) => r.executionProvider),
      ',',
    ),
    device: first.device,
    fallbackReason: rts.map((r) => r.fallbackReason).find((f) => f !== null) ?? null,
    node:
      distinct(
        rts.map((r) => r.node),
        ', ',
      ) ?? first.node,
    onnxruntime: distinct(
      rts.map((r) => r.onnxruntime),
      ', ',
    ),
    platform:
      distinct(
        rts.map((r) => r.platform),
        ', ',
      ) ?? first.platform,
  };
}

function mergeData(base: Report['data'], parts: Partial[]): Report['data'] {
  if (!base) return base;
  const ranges = parts.map((p) => p.data?.range).filter((r): r is { start: string; end: string } => Boolean(r));
  if (ranges.length === 0) return { ...base, range: null };
  const start = Math.min(...ranges.map((r) => Date.parse(r.start)));
  const end = Math.max(...ranges.map((r) => Date.parse(r.end)));
  return { ...base, range: { start: new Date(start).toISOString(), end: new Date(end).toISOString() } };
}

/**
 * Merges partial reports. `empty` is the report to start from when no partial read the archive (the
 * caller's emptyReport); without it such a merge is refused.
 */
export function mergePartialReports(inputs: readonly PartialInput[], opts: { now: Date; expected?: MergeExpectations; empty?: Report }): MergeOutcome {
  const exp = opts.expected ?? {};
  const parts = inputs.map((i) => ({ label: i.label, report: asPartial(i) }));

  // One version, one shard count, each index once.
  same(
    'was written by policy-gate',
    parts.map((p) => ({ label: p.label, value: p.report.tool.version, shard: p.report.shard })),
    (v) => v,
    'run every shard and the merge with one version of policy-gate',
  );
  same(
    'is one of',
    parts.map((p) => ({ label: p.label, value: p.report.shard.count, shard: p.report.shard })),
    (v) => `${v} shards`,
    'merge the shards of one run (one matrix)',
  );
  const count = parts[0]?.report.shard.count ?? null;
  const byIndex = new Map<number, (typeof parts)[number]>();
  for (const p of parts) {
    const prev = byIndex.get(p.report.shard.index);
    if (prev) {
      throw inputError(`shard ${shardLabel(p.report.shard)} is given twice: ${prev.label} and ${p.label}; give each shard's partial report once`, p.label);
    }
    byIndex.set(p.report.shard.index, p);
  }
  const ordered = [...byIndex.values()].sort((a, b) => a.report.shard.index - b.report.shard.index);
  const readArchive = ordered.filter((p) => p.report.shard.archiveSha256 !== null);
  const failed = ordered.filter((p) => p.report.shard.archiveSha256 === null);

  // The same archive, config, window and plan.
  const facts = (f: (s: ShardInfo) => unknown) => readArchive.map((p) => ({ label: p.label, value: f(p.report.shard), shard: p.report.shard }));
  same(
    'comes from another archive: sha256',
    facts((s) => s.archiveSha256 as string),
    (v) => short(v as string),
    'merge the partial reports of one run (the same archive and config)',
  );
  same(
    'ran with another config: sha256',
    facts((s) => s.configSha256),
    (v) => short(v as string),
    'run every shard with the same config file and inputs',
  );
  same(
    'evaluated up to',
    facts((s) => s.end),
    (v) => (v === null ? 'the last bar' : String(v)),
    'pin the same end for every shard',
  );
  const planOf = (v: unknown): string => (v as PlannedModel[]).map((p) => `${p.id}→${p.shard}`).join(', ');
  same(
    'followed another plan (model→shard):',
    facts((s) => s.plan),
    planOf,
    'run every shard with the same archive, config and policy-gate version',
  );
  const lead = readArchive[0];
  if (lead) {
    const s = lead.report.shard;
    const where = exp.archiveLabel ? `the archive ${exp.archiveLabel}` : "the merge's archive";
    if (exp.archiveSha256 !== undefined && s.archiveSha256 !== exp.archiveSha256) {
      throw inputError(
        `${lead.label} (shard ${shardLabel(s)}) comes from another archive: sha256 ${short(s.archiveSha256!)}, but ${where} has sha256 ${short(exp.archiveSha256)}; merge with the archive the shards validated`,
        lead.label,
      );
    }
    if (exp.configSha256 !== undefined && s.configSha256 !== exp.configSha256) {
      throw inputError(
        `${lead.label} (shard ${shardLabel(s)}) ran with another config: sha256 ${short(s.configSha256)}, but the merge resolves sha256 ${short(exp.configSha256)}; give the merge the same config file and inputs as the shards`,
        lead.label,
      );
    }
    if (exp.end !== undefined && s.end !== exp.end) {
      throw inputError(
        `${lead.label} (shard ${shardLabel(s)}) evaluated up to ${s.end ?? 'the last bar'}, but the merge runs with ${exp.end ?? 'no pinned end'}; give the merge the same end as the shards`,
        lead.label,
      );
    }
  }

  let plan: PlannedModel[] | null = lead?.report.shard.plan ?? null;
  if (exp.planFor && count !== null) {
    const own = exp.planFor(count);
    if (plan && JSON.stringify(own) !== JSON.stringify(plan)) {
      throw inputError(
        `${lead!.label}: its plan for ${count} shards is not the one the merge computes from its archive and config; run the shards and the merge with the same archive, config and policy-gate version`,
        lead!.label,
      );
    }
    plan ??= own;
  }

  // Each partial holds exactly the models its plan gives it.
  for (const p of readArchive) {
    const s = p.report.shard;
    const expected = shardModels(s.plan!, s.index);
    const ids = p.report.models.map((m) => m.id);
    if (JSON.stringify(s.models) !== JSON.stringify(expected) || JSON.stringify(ids) !== JSON.stringify(expected)) {
      throw inputError(
        `${p.label} (shard ${shardLabel(s)}) holds models [${ids.join(', ')}], but its plan gives shard ${s.index} [${expected.join(', ')}]; the partial was edited or comes from another version`,
        p.label,
      );
    }
  }

  const baseSource = lead ?? failed[0];
  const base: Report | undefined = baseSource ? baseSource.report : opts.empty;
  if (!base) throw inputError('no partial reports to merge: give the report.json files of the shards (or a folder holding them)', 'merge');
  const merged: Report = structuredClone(base);
  delete merged.shard;
  merged.generatedAt = opts.now.toISOString();

  const models = new Map<string, { model: ModelReport; from: string }>();
  for (const p of readArchive) {
    for (const m of p.report.models) {
      const prev = models.get(m.id);
      if (prev) throw inputError(`model ${m.id} is in two partial reports: ${prev.from} and ${p.label}`, p.label);
      models.set(m.id, { model: m, from: p.label });
    }
  }
  merged.models = (plan ?? []).flatMap((pm) => {
    const hit = models.get(pm.id);
    return hit ? [structuredClone(hit.model)] : [];
  });

  // Run-level errors: each distinct one once; a failed shard's are marked with its index.
  const errors: string[] = [];
  for (const p of ordered) {
    for (const e of p.report.errors) {
      const text = p.report.shard.archiveSha256 === null ? `shard ${shardLabel(p.report.shard)}: ${e}` : e;
      if (!errors.includes(text)) errors.push(text);
    }
  }
  const missing: MergeOutcome['missing'] = [];
  if (count !== null) {
    for (let i = 1; i <= count; i++) {
      const p = byIndex.get(i);
      if (p && p.report.shard.archiveSha256 !== null) continue;
      const ids = plan ? shardModels(plan, i) : [];
      missing.push({ index: i, models: ids, reason: p ? 'failed' : 'absent', label: p?.label ?? null });
      if (plan && ids.length === 0 && !p) continue; // an absent shard with no models loses no evidence
      const what = p ? 'stopped before it read the archive' : 'did not report (no partial report)';
      const who = plan ? `${ids.length} model(s) not evaluated${ids.length ? `: ${ids.join(', ')}` : ''}` : 'its models are unknown (no shard read the archive)';
      errors.push(`shard ${i}/${count} ${what}: ${who}`);
    }
  }
  if (count === null) {
    const ids = exp.planFor ? exp.planFor(1).map((p) => p.id) : [];
    errors.push(`no shard reported (no partial report was found): ${ids.length ? `${ids.length} model(s) not evaluated: ${ids.join(', ')}` : 'no model was evaluated'}`);
  }
  merged.errors = errors;

  const order = new Map((plan ?? []).map((p, i) => [p.id, i]));
  const rank = (e: string): number => {
    const id = e.slice(0, Math.max(0, e.indexOf(':')));
    return order.get(id) ?? Number.MAX_SAFE_INTEGER;
  };
  const infra = readArchive.flatMap((p) => p.report.infraErrors);
  merged.infraErrors = infra
    .map((e, i) => ({ e, i }))
    .sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i)
    .map((x) => x.e);

  if (lead) {
    merged.data = mergeData(
      lead.report.data,
      readArchive.map((p) => p.report),
    );
    merged.runtime = mergeRuntime(readArchive.map((p) => p.report));
  }
  concludeReport(merged);
  return { report: merged, count, present: ordered.filter((p) => p.report.shard.archiveSha256 !== null).map((p) => ({ index: p.report.shard.index, label: p.label })), missing };
}
