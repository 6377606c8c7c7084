/**
 * `policy-gate promote --report report.json`: apply a validation report to the paper/live deployment
 * configs (docs/promotion.md).
 *
 *   1. read report.json (its sha256 is recorded in every entry it writes);
 *   2. for every model the report decided LIVE or PAPER, read its ONNX file and card from the archive the
 *      report names (or --archive) and check the file's sha256 against the report — a mismatch stops the
 *      run (exit 2) before anything is written;
 *   3. plan the change (src/core/promotion.ts: pure and idempotent);
 *   4. write the model files under promotion.models_dir (content-addressed: <id>/<sha256[:12]>/<id>.onnx
 *      and .card.json beside it), then the live config, then the paper config — each atomically (temp file
 *      + rename), and only the files whose bytes change.
 *
 * The same reading and planning feed the Action's promotion pull request (src/action/promotion.ts), which
 * commits the same files instead of writing them.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, posix, relative, resolve } from 'node:path';
import { openArchive } from '../adapters/archive/index.js';
import { errorMessage, infraError, inputError, PolicyGateError } from '../core/errors.js';
import { readUntrustedText } from '../util/safe-read.js';
import { changedDocs, deployedPaths, parseDeployDoc, planPromotion, serializeDeployDoc, type DeployConfigs, type DeployPaths, type PromotionPlan } from '../core/promotion.js';
import type { ModelReport, Report } from '../core/report.js';
import { prepareJson } from '../core/json.js';
import { parseTrainingSummary } from '../core/summary.js';
import type { ArchiveReader } from '../core/types.js';
import { writeFileAtomic, type AtomicFs } from '../util/atomic.js';
import { sha256, stableStringify } from '../util/hash.js';

export interface DeployFiles {
  /** Repository-relative POSIX paths. */
  paths: DeployPaths;
  /** The files' text as read; null when a file does not exist. */
  texts: { paper: string | null; live: string | null };
  configs: DeployConfigs;
}

/** A path relative to `root`, POSIX, as the configs and git name files. */
export function rootPath(root: string, p: string): string {
  const abs = isAbsolute(p) ? p : resolve(root, p);
  return posix.normalize(relative(root, abs).split('\\').join('/')).replace(/^\.\/+/, '');
}

async function readOptional(file: string, label: string, root: string): Promise<string | null> {
  try {
    return await readUntrustedText(file, { root, what: 'deployment config' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (err instanceof PolicyGateError) throw err;
    throw inputError(`${label}: cannot be read (${errorMessage(err)})`, label, err);
  }
}

/** The paper and live configs under `root` (a missing file is an empty config). */
export async function readDeployFiles(root: string, paths: DeployPaths): Promise<DeployFiles> {
  const rel = { paper: rootPath(root, paths.paper), live: rootPath(root, paths.live) };
  if (rel.paper === rel.live) throw inputError(`the paper and live deployment configs are the same file (${rel.paper}); name two files`, rel.paper);
  const texts = {
    paper: await readOptional(resolve(root, rel.paper), rel.paper, root),
    live: await readOptional(resolve(root, rel.live), rel.live, root),
  };
  return { paths: rel, texts, configs: { paper: parseDeployDoc(texts.paper, rel.paper), live: parseDeployDoc(texts.live, rel.live) } };
}

/** report.json, checked to be a validation report, and the sha256 of its bytes. */
export async function readReportFile(file: string): Promise<{ report: Report; sha256: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw inputError(`report ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, file, err);
  }
  let doc: unknown;
  const text = prepareJson(bytes.toString('utf8'), file);
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw inputError(`${file}: not valid JSON (${errorMessage(err)}); pass the report.json that policy-gate validate --out wrote`, file, err);
  }
  const r = doc as Partial<Report> | null;
  if (!r || typeof r !== 'object' || !Array.isArray(r.models) || typeof r.config?.sha256 !== 'string' || typeof r.schemaVersion !== 'number') {
    throw inputError(`${file}: not a policy-gate report.json (no schemaVersion, config.sha256 and models)`, file);
  }
  if (r.command !== 'validate') {
    throw inputError(`${file}: a report of "${String(r.command)}", not of "validate"; only a validation (gating, walk-forward and decision) can promote a model`, file);
  }
  if (Array.isArray(r.errors) && r.errors.length > 0) {
    throw inputError(`${file}: the run behind this report stopped with an error (${r.errors[0]}); nothing is promoted from it`, file);
  }
  return { report: r as Report, sha256: sha256(bytes) };
}

/** The report's models that earned a tier that is deployed. */
export function promotable(report: Report): ModelReport[] {
  return report.models.filter((m) => (m.decision?.tier === 'LIVE' || m.decision?.tier === 'PAPER') && m.model?.path && m.model.sha256);
}

export interface PromotedFile {
  /** Repository-relative POSIX path. */
  path: string;
  bytes: Buffer;
}

export interface CollectedPromotion {
  artifacts: Record<string, { model: string; card: string; cardSha256: string }>;
  files: PromotedFile[];
}

/**
 * The model and card files of every promotable model, read from the archive and checked against the
 * report. `archiveLabel` is how messages name the archive.
 */
export async function collectFromReader(report: Report, reader: ArchiveReader, archiveLabel: string, modelsDir: string): Promise<CollectedPromotion> {
  const out: CollectedPromotion = { artifacts: Object.create(null) as CollectedPromotion['artifacts'], files: [] };
  let summaryCards: Map<string, unknown> | null = null;
  for (const m of promotable(report)) {
    const modelPath = m.model!.path;
    let bytes: Buffer;
    try {
      bytes = await reader.read(modelPath);
    } catch (err) {
      throw inputError(`${archiveLabel}:${modelPath}: the model of ${m.id} cannot be read from the archive (${errorMessage(err)})`, modelPath, err);
    }
    const actual = sha256(bytes);
    if (actual !== m.model!.sha256) {
      throw inputError(
        `${archiveLabel}:${modelPath}: sha256 is ${actual}, but the report validated ${m.model!.sha256} for ${m.id}; the model changed after it was validated — validate it again. Nothing was written.`,
        modelPath,
      );
    }
    let card: Buffer;
    if (m.card?.path) {
      card = await reader.read(m.card.path);
    } else if (m.card?.inline) {
      if (!summaryCards) {
        const summaryPath = report.archive?.summary.path;
        if (!summaryPath) throw inputError(`${m.id}: its card is in the training summary, but the report names no summary`, m.id);
        const summary = parseTrainingSummary((await reader.read(summaryPath)).toString('utf8'), `${archiveLabel}:${summaryPath}`);
        summaryCards = new Map(summary.entries.filter((e) => e.card !== undefined).map((e) => [e.id, e.card]));
      }
      if (!summaryCards.has(m.id)) throw inputError(`${archiveLabel}: the training summary has no card for ${m.id}`, m.id);
      card = Buffer.from(`${stableStringify(summaryCards.get(m.id), 2)}\n`);
    } else {
      throw inputError(`${m.id}: the report names no policy card; a model is deployed with its card`, m.id);
    }
    const paths = deployedPaths(modelsDir, m.id, m.model!.sha256);
    out.artifacts[m.id] = { model: paths.model, card: paths.card, cardSha256: sha256(card) };
    out.files.push({ path: paths.model, bytes }, { path: paths.card, bytes: card });
  }
  if (out.files.length > 0 && report.archive && reader.sha256 !== report.archive.sha256) {
    throw inputError(
      `${archiveLabel}: the archive's sha256 is ${reader.sha256}, but the report validated ${report.archive.sha256}; it changed after it was validated (a card or the summary?) — validate it again. Nothing was written.`,
      archiveLabel,
    );
  }
  return out;
}

/** Opens the report's archive (or `archivePath`) and collects the promoted files. */
export async function collectPromotion(report: Report, opts: { root: string; archive?: string | null; modelsDir: string }): Promise<CollectedPromotion> {
  if (promotable(report).length === 0) return { artifacts: Object.create(null) as CollectedPromotion['artifacts'], files: [] };
  const given = opts.archive ?? report.archive?.path ?? null;
  if (!given) throw inputError('the report names no archive; pass --archive <zip|dir> (the archive it validated)', '--archive');
  const path = isAbsolute(given) ? given : resolve(opts.root, given);
  let reader: ArchiveReader;
  try {
    reader = await openArchive(path);
  } catch (err) {
    throw inputError(
      `the archive ${given} (named by ${opts.archive ? '--archive' : 'the report'}) cannot be opened: ${errorMessage(err)}; pass --archive <zip|dir> with the archive the report validated`,
      '--archive',
      err,
    );
  }
  try {
    return await collectFromReader(report, reader, given, opts.modelsDir);
  } finally {
    await reader.close();
  }
}

export interface WriteResult {
  /** Files written, repository-relative, in the order they were written. */
  written: string[];
  /** Files that already held these bytes. */
  unchanged: string[];
}

/** A file the plan writes, with what it holds now (null: it does not exist). */
export interface PendingFile extends PromotedFile {
  current: Buffer | null;
  /** A deployment config (paper or live), as opposed to a copied model or card. */
  config: boolean;
}

/**
 * Every file the plan writes, in the order it writes them: the promoted files, then the configs the
 * plan changes (live first). Files that already hold these bytes are included with `current` equal.
 */
export async function pendingFiles(root: string, deploy: DeployFiles, plan: PromotionPlan, files: readonly PromotedFile[]): Promise<PendingFile[]> {
  const todo: Omit<PendingFile, 'current'>[] = files.map((f) => ({ ...f, config: false }));
  for (const k of changedDocs(deploy.configs, plan)) {
    todo.push({ path: deploy.paths[k], bytes: Buffer.from(serializeDeployDoc(plan[k], deploy.paths[k])), config: true });
  }
  const out: PendingFile[] = [];
  for (const f of todo) {
    let current: Buffer | null = null;
    try {
      current = await readFile(resolve(root, f.path));
    } catch {
      current = null;
    }
    out.push({ ...f, current });
  }
  return out;
}

/**
 * Writes the promoted files, then the configs the plan changes (live first: an interruption never
 * leaves a model in live that its decision no longer supports), each atomically and only when its
 * bytes differ. A failure names the file, says what was already written, and leaves the file itself
 * as it was; a rerun finishes the job (the plan is idempotent).
 */
export async function writePlan(root: string, deploy: DeployFiles, plan: PromotionPlan, files: readonly PromotedFile[], fs: Partial<AtomicFs> = {}): Promise<WriteResult> {
  const result: WriteResult = { written: [], unchanged: [] };
  for (const f of await pendingFiles(root, deploy, plan, files)) {
    const abs = resolve(root, f.path);
    if (f.current?.equals(f.bytes)) {
      result.unchanged.push(f.path);
      continue;
    }
    try {
      await writeFileAtomic(abs, f.bytes, fs);
    } catch (err) {
      const done = result.written.length ? ` Already written: ${result.written.join(', ')}.` : ' Nothing was written.';
      throw infraError(`could not write ${f.path}: ${errorMessage(err)}; ${f.path} is unchanged.${done} Run the command again once the problem is fixed (it is idempotent).`, f.path, err);
    }
    result.written.push(f.path);
  }
  return result;
}

export interface PromoteOptions {
  /** The repository root: deploy paths, models_dir and the entries' paths are relative to it. */
  root: string;
  reportPath: string;
  paths: DeployPaths;
  modelsDir: string;
  archive?: string | null;
  now: Date;
  runUrl: string | null;
  /** Fault injection for the atomic writes (tests). */
  fs?: Partial<AtomicFs>;
  /** Plan and check everything, write nothing: the result's `pending` says what would be written. */
  dryRun?: boolean;
}

export interface PromoteResult {
  plan: PromotionPlan;
  deploy: DeployFiles;
  writes: WriteResult;
  /** Dry run only: the files a real run would write (those whose bytes would change). */
  pending?: PendingFile[];
}

export async function runPromote(opts: PromoteOptions): Promise<PromoteResult> {
  const { report, sha256: reportSha256 } = await readReportFile(isAbsolute(opts.reportPath) ? opts.reportPath : resolve(opts.root, opts.reportPath));
  const deploy = await readDeployFiles(opts.root, opts.paths);
  const modelsDir = rootPath(opts.root, opts.modelsDir);
  // Every check (the report, the configs, each model's sha256) happens before the first write.
  const collected = await collectPromotion(report, { root: opts.root, archive: opts.archive ?? null, modelsDir });
  const plan = planPromotion(deploy.configs, report, {
    mode: 'promote',
    now: opts.now,
    runUrl: opts.runUrl,
    reportSha256,
    artifacts: collected.artifacts,
  });
  if (opts.dryRun) {
    const all = await pendingFiles(opts.root, deploy, plan, collected.files);
    const pending = all.filter((f) => !f.current?.equals(f.bytes));
    const unchanged = all.filter((f) => !pending.includes(f)).map((f) => f.path);
    return { plan, deploy, writes: { written: [], unchanged }, pending };
  }
  // Every promoted model's files: a file that already holds these bytes is not rewritten, a missing one is restored.
  const writes = await writePlan(opts.root, deploy, plan, collected.files, opts.fs);
  return { plan, deploy, writes };
}

/** The run's URL in GitHub Actions (from the runner's variables), or null elsewhere. */
export function runUrlFromEnv(env: NodeJS.ProcessEnv): string | null {
  const server = env['GITHUB_SERVER_URL'];
  const repo = env['GITHUB_REPOSITORY'];
  const id = env['GITHUB_RUN_ID'];
  return server && repo && id ? `${server.replace(/\/+$/, '')}/${repo}/actions/runs/${id}` : null;
}
