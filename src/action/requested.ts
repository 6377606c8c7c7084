/**
 * What a run is asked to prove, and what a pull request changed.
 *
 * Requested tiers (SPEC section 7): the deployment configs named by `promotion.live` and
 * `promotion.paper` (default deploy/live.json, deploy/paper.json; JSON or YAML) hold a `models` map
 * keyed by model id. A model listed in the live config is requested at LIVE, one in the paper config
 * at PAPER, any other at `decision.required`. A config file that does not exist requests nothing.
 * In a pull request these files come from the PR head (the checkout), so a promotion PR that adds a
 * model to deploy/live.json asks the gate to prove LIVE.
 *
 * Changes: the PR's files (pulls.listFiles) say whether it touches the archive, the policy-gate config
 * or a deployment config — and which models: a model whose file, card or training summary changed, or
 * whose id appears on an added or removed line of a deployment config's diff.
 */
import { readUntrustedText } from '../util/safe-read.js';
import { isAbsolute, posix, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../config/schema.js';
import { errorMessage, inputError, PolicyGateError } from '../core/errors.js';
import { checkValueDepth, parseFailureReason } from '../core/json.js';
import type { Report } from '../core/report.js';
import type { Tier } from '../core/types.js';

export interface DeployConfig {
  tier: 'LIVE' | 'PAPER';
  /** Repository-relative path. */
  path: string;
  present: boolean;
  models: string[];
}

export interface Requested {
  /** Tier per model id (a null-prototype map: ids are archive data). */
  tiers: Record<string, Tier>;
  configs: DeployConfig[];
}

/** A path as a repository-relative POSIX path (how pulls.listFiles names files). */
export function repoPath(workspace: string, p: string): string {
  const abs = isAbsolute(p) ? p : resolve(workspace, p);
  return posix
    .normalize(relative(workspace, abs).split('\\').join('/'))
    .replace(/^\.\/+/, '')
    .replace(/\/+$/, '');
}

function parseDeployConfig(text: string, file: string): string[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw inputError(`${file}: not valid JSON or YAML: ${parseFailureReason(err)}`, file, err);
  }
  checkValueDepth(doc, file);
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) throw inputError(`${file}: must be a mapping with a "models" mapping keyed by model id`, file);
  const models = (doc as Record<string, unknown>)['models'];
  if (models === undefined || models === null) return [];
  if (typeof models !== 'object' || Array.isArray(models)) {
    throw inputError(`${file}: "models" must be a mapping keyed by model id, got ${Array.isArray(models) ? 'a list' : typeof models}`, file);
  }
  return Object.keys(models);
}

export async function readRequested(config: Config, workspace: string): Promise<Requested> {
  const tiers: Record<string, Tier> = Object.create(null) as Record<string, Tier>;
  const configs: DeployConfig[] = [];
  // PAPER first, so a model listed in both is requested at LIVE.
  for (const [tier, p] of [
    ['PAPER', config.promotion.paper],
    ['LIVE', config.promotion.live],
  ] as const) {
    const path = repoPath(workspace, p);
    let text: string | null = null;
    try {
      text = await readUntrustedText(resolve(workspace, p), { root: workspace, what: 'deployment config' });
    } catch (err) {
      if (err instanceof PolicyGateError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw inputError(`${path}: cannot be read (${errorMessage(err)})`, path, err);
    }
    const models = text === null ? [] : parseDeployConfig(text, path);
    for (const id of models) tiers[id] = tier;
    configs.push({ tier, path, present: text !== null, models });
  }
  return { tiers, configs };
}

export { classifyChanges, type ChangedFile, type ChangeSummary } from '../app/pull-request.js';
import { names, type ChangedFile } from '../app/pull-request.js';

function mentions(line: string, id: string): boolean {
  let at = line.indexOf(id);
  while (at >= 0) {
    const before = at === 0 ? '' : line[at - 1]!;
    const after = line[at + id.length] ?? '';
    if (!/[A-Za-z0-9_.-]/.test(before) && !/[A-Za-z0-9_.-]/.test(after)) return true;
    at = line.indexOf(id, at + 1);
  }
  return false;
}

/** Changed diff lines (added or removed) of a patch. */
function changedLines(patch: string): string[] {
  return patch.split('\n').filter((l) => (l.startsWith('+') || l.startsWith('-')) && !l.startsWith('+++') && !l.startsWith('---'));
}

/**
 * Why each model counts as changed by the pull request (model id → reasons). `archive` is the archive
 * input as a repository-relative path, `archiveKind` what the reader found there.
 */
export function changedModels(report: Report, files: readonly ChangedFile[], archive: { path: string; kind: 'zip' | 'dir' } | null, requested: Requested): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (id: string, why: string): void => {
    const list = out.get(id) ?? [];
    if (!list.includes(why)) list.push(why);
    out.set(id, list);
  };
  const changed = new Set(files.flatMap(names));
  if (archive && report.archive) {
    if (archive.kind === 'zip') {
      if (changed.has(archive.path)) for (const m of report.models) add(m.id, `the archive ${archive.path} changed`);
    } else {
      const inArchive = (p: string): string => (archive.path === '' || archive.path === '.' ? p : `${archive.path}/${p}`);
      const summaryChanged = changed.has(inArchive(report.archive.summary.path));
      for (const m of report.models) {
        if (summaryChanged) add(m.id, `the training summary ${inArchive(report.archive.summary.path)} changed`);
        if (m.model?.path && changed.has(inArchive(m.model.path))) add(m.id, `its model ${inArchive(m.model.path)} changed`);
        if (m.card?.path && changed.has(inArchive(m.card.path))) add(m.id, `its card ${inArchive(m.card.path)} changed`);
      }
    }
  }
  for (const cfg of requested.configs) {
    const file = files.find((f) => f.filename === cfg.path);
    if (!file) continue;
    for (const m of report.models) {
      const listed = cfg.models.includes(m.id);
      const inDiff = file.patch !== undefined ? changedLines(file.patch).some((l) => mentions(l, m.id)) : listed && file.status === 'added';
      if (inDiff) add(m.id, listed ? `${cfg.path} requests it at ${cfg.tier}` : `${cfg.path} no longer lists it`);
    }
  }
  return out;
}
