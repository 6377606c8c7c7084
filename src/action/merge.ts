/**
 * The merge job of a sharded workflow (`mode: merge`, docs/sharding.md): find this run's shard
 * artifacts (`policy-gate-shard-<i>-of-<n>`), read each partial report, check them against the
 * archive and config this job sees, and merge them into the report an unsharded run writes. main.ts
 * then publishes it exactly as it publishes an unsharded run's: check run, comment, summary, report
 * artifact, promotion.
 *
 * The artifacts are listed and downloaded through GitHub's REST API with the token (`findBy`: the job
 * needs `actions: read`), since composite-action steps get no ACTIONS_RUNTIME_TOKEN, each call under the
 * action's retry and rate-limit policy (./artifacts.ts artifactRequest). Each artifact is
 * saved as the zip it is (`skipDecompress`) under RUNNER_TEMP and read with the hardened archive
 * reader, never extracted: only its report.json and equity/*.csv files are read. A shard that failed
 * or never uploaded is named with its models in the merged report, whose conclusion is then failure.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DefaultArtifactClient } from '@actions/artifact';
import { openArchive } from '../adapters/archive/index.js';
import type { Config } from '../config/schema.js';
import { openTrainingArchive } from '../app/archive.js';
import { mergeAndLog, parsePartial } from '../app/merge.js';
import { configSection, emptyReport } from '../app/report-base.js';
import { archivePlan } from '../app/shard.js';
import { concludeReport } from '../core/decide.js';
import { errorMessage, infraError, inputError } from '../core/errors.js';
import type { PartialInput } from '../core/merge.js';
import type { Report } from '../core/report.js';
import { parseShardArtifactName, type PlannedModel } from '../core/shard.js';
import type { Tier } from '../core/types.js';
import type { ActionContext } from './context.js';
import { artifactRequest } from './artifacts.js';
import { pipelineLog } from './log.js';
import type { RunFacts } from './render.js';

/** An equity CSV of the report folder (equity/<model id>.backtest.csv, .fold<k>.csv): a plain name, nothing else. */
const EQUITY_ENTRY = /^equity\/([A-Za-z0-9][A-Za-z0-9._-]{0,200}\.csv)$/;

interface Downloaded {
  partial: PartialInput;
  equity: { name: string; bytes: Buffer }[];
}

async function onlyFile(dir: string, label: string): Promise<string> {
  const entries = await readdir(dir);
  if (entries.length !== 1) throw inputError(`${label}: expected one downloaded file, found ${entries.length} entries`, label);
  const p = join(dir, entries[0]!);
  if (!(await lstat(p)).isFile()) throw inputError(`${label}: the download is not a file`, label);
  return p;
}

async function readShardArtifact(zipPath: string, label: string): Promise<Downloaded> {
  const reader = await openArchive(zipPath);
  try {
    if (!reader.files.some((f) => f.path === 'report.json')) {
      throw inputError(`${label} holds no report.json at its top level; it is not a shard's report folder`, label);
    }
    const partial = parsePartial(label, (await reader.read('report.json')).toString('utf8'));
    const equity: Downloaded['equity'] = [];
    for (const f of reader.files) {
      const m = EQUITY_ENTRY.exec(f.path);
      if (m) equity.push({ name: m[1]!, bytes: await reader.read(f.path) });
    }
    return { partial, equity };
  } finally {
    await reader.close();
  }
}

async function downloadShardArtifacts(opts: { token: string; ctx: ActionContext; log: (line: string) => void }): Promise<Downloaded[]> {
  const { ctx } = opts;
  if (ctx.runId === null) throw inputError('mode "merge" reads the shard artifacts of this workflow run, but GITHUB_RUN_ID is not set', 'GITHUB_RUN_ID');
  const client = new DefaultArtifactClient();
  const findBy = { token: opts.token, workflowRunId: ctx.runId, repositoryOwner: ctx.repo.owner, repositoryName: ctx.repo.repo };
  let listed;
  try {
    // latest: a shard re-run uploads again; its newest artifact counts.
    ({ artifacts: listed } = await artifactRequest(`listing the artifacts of run ${ctx.runId}`, () => client.listArtifacts({ latest: true, findBy }), opts.log));
  } catch (err) {
    throw infraError(`could not list the artifacts of workflow run ${ctx.runId}: ${errorMessage(err)} (the merge job needs \`actions: read\`)`, 'artifact', err);
  }
  const shards = listed
    .map((a) => ({ a, spec: parseShardArtifactName(a.name) }))
    .filter((x) => x.spec !== null)
    .sort((x, y) => x.spec!.count - y.spec!.count || x.spec!.index - y.spec!.index);
  opts.log(`${shards.length} shard artifact(s) in run ${ctx.runId}${shards.length ? `: ${shards.map((x) => x.a.name).join(', ')}` : ''}`);
  const out: Downloaded[] = [];
  for (const { a } of shards) {
    const label = `artifact ${a.name} (id ${a.id})`;
    const dir = await mkdtemp(join(ctx.runnerTemp, 'policy-gate-shard-'));
    let res;
    try {
      res = await artifactRequest(
        `downloading ${label}`,
        async () => {
          // A retry starts over in an empty folder.
          for (const e of await readdir(dir)) await rm(join(dir, e), { recursive: true, force: true });
          return client.downloadArtifact(a.id, { path: dir, findBy, skipDecompress: true, ...(a.digest ? { expectedHash: a.digest } : {}) });
        },
        opts.log,
      );
    } catch (err) {
      throw infraError(`could not download ${label}: ${errorMessage(err)}`, 'artifact', err);
    }
    if (res.digestMismatch) {
      throw inputError(`${label}: the downloaded bytes do not match the digest GitHub recorded at upload (${a.digest}); refusing to merge them`, 'artifact');
    }
    out.push(await readShardArtifact(await onlyFile(dir, label), label));
  }
  return out;
}

/**
 * The merged report of this run's shards, for the archive at `source` (the merge job's own checkout or
 * download of it). Requested tiers are this job's (it sees the pull request and its deployment
 * configs), so they are applied again and the conclusion recomputed.
 */
export async function mergeShards(opts: {
  source: string;
  config: Config;
  configFile: string | null;
  requestedTiers: Record<string, Tier>;
  endMs: number | null;
  token: string;
  ctx: ActionContext;
  reportDir: string;
  now: Date;
  facts: RunFacts;
}): Promise<Report> {
  const { config } = opts;
  const opened = await openTrainingArchive(opts.source, config.gating, config.decision.required, pipelineLog);
  const plans = new Map<number, PlannedModel[]>();
  try {
    const archiveSha256 = opened.archive.sha256;
    // The plan the merge expects for n shards, computed from its own archive and config.
    const planFor = (n: number): PlannedModel[] => {
      let p = plans.get(n);
      if (!p) {
        p = archivePlan(opened, config, n);
        plans.set(n, p);
      }
      return p;
    };
    const downloads = await downloadShardArtifacts({ token: opts.token, ctx: opts.ctx, log: pipelineLog });
    const outcome = mergeAndLog(
      downloads.map((d) => d.partial),
      {
        now: opts.now,
        log: pipelineLog,
        expected: {
          archiveSha256,
          archiveLabel: opts.source,
          configSha256: configSection(config, opts.configFile).sha256,
          end: opts.endMs === null ? null : new Date(opts.endMs).toISOString(),
          planFor,
        },
        empty: emptyReport('validate', config, opts.configFile, opts.now),
      },
    );
    // The shards' equity CSVs, into this job's report folder (their names never collide: one model, one shard).
    const equityDir = join(opts.reportDir, 'equity');
    for (const d of downloads) {
      if (d.equity.length === 0) continue;
      await mkdir(equityDir, { recursive: true });
      for (const e of d.equity) await writeFile(join(equityDir, e.name), e.bytes);
    }
    const report = outcome.report;
    for (const m of report.models) m.requested = Object.hasOwn(opts.requestedTiers, m.id) ? opts.requestedTiers[m.id]! : config.decision.required;
    concludeReport(report);
    opts.facts.merge = {
      count: outcome.count,
      present: outcome.present.map((p) => ({ index: p.index, label: p.label })),
      missing: outcome.missing.map((m) => ({ index: m.index, models: m.models, reason: m.reason })),
    };
    return report;
  } finally {
    await opened.reader.close();
  }
}
