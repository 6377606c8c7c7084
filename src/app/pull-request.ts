/**
 * What a pull request asks of the gate, as pure rules the Action's shell (src/action/main.ts) calls:
 * which changed files matter, whether there is anything to validate, which models it retires, and
 * when a training run gives nothing to validate. Tested in test/pull-request.test.ts.
 */
import type { Tier } from '../core/types.js';

/** One entry of GET /repos/{owner}/{repo}/pulls/{n}/files. */
export interface ChangedFile {
  filename: string;
  status: string;
  previous_filename?: string;
  patch?: string;
}

export interface ChangeSummary {
  /** The changed files that matter to the gate. */
  relevant: string[];
  archiveChanged: boolean;
  configChanged: boolean;
  deployChanged: string[];
}

/** A changed file's names: its own and, for a rename, its previous one. */
export const names = (f: ChangedFile): string[] => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename]);

function under(path: string, root: string): boolean {
  return root === '' || root === '.' || path === root || path.startsWith(`${root}/`);
}

export function classifyChanges(files: readonly ChangedFile[], paths: { archive: string | null; configFile: string; deploy: readonly string[] }): ChangeSummary {
  const relevant = new Set<string>();
  let archiveChanged = false;
  let configChanged = false;
  const deployChanged = new Set<string>();
  for (const f of files) {
    for (const name of names(f)) {
      if (paths.archive !== null && under(name, paths.archive)) {
        archiveChanged = true;
        relevant.add(f.filename);
      }
      if (name === paths.configFile) {
        configChanged = true;
        relevant.add(f.filename);
      }
      if (paths.deploy.includes(name)) {
        deployChanged.add(name);
        relevant.add(f.filename);
      }
    }
  }
  return { relevant: [...relevant].sort(), archiveChanged, configChanged, deployChanged: [...deployChanged].sort() };
}

/** What a pull request's changed files mean for the gate. */
export interface PullRequestScope {
  /** The changed files that matter, sorted: the archive, the config, a deployment config, a deployed model file. */
  relevant: string[];
  /** Names (new and previous) of changed files under promotion.models_dir: deployed models changed in place. */
  modelFiles: string[];
  /** Why there is nothing to validate, or null when something relevant changed. */
  noChanges: string | null;
}

/**
 * The scope of a pull request: classifyChanges, plus any file under the models folder (a deployed
 * model or card changed in place is a model change too, also when only its previous name was there).
 * Paths are repository-relative, '/'-separated.
 */
export function pullRequestScope(files: readonly ChangedFile[], paths: { archive: string | null; configFile: string; deploy: readonly string[]; modelsDir: string }): PullRequestScope {
  const changes = classifyChanges(files, paths);
  const inModels = files.filter((f) => names(f).some((n) => n.startsWith(`${paths.modelsDir}/`)));
  const relevant = [...new Set([...changes.relevant, ...inModels.map((f) => f.filename)])].sort();
  const modelFiles = inModels.flatMap(names);
  if (relevant.length > 0) return { relevant, modelFiles, noChanges: null };
  const watched = [paths.archive, paths.configFile, ...paths.deploy, `${paths.modelsDir}/`].filter((p): p is string => p !== null);
  return { relevant, modelFiles, noChanges: `no model changes — this pull request changes none of ${watched.join(', ')}, so there is nothing to validate.` };
}

/**
 * A model the pull request removes from every deployment config is retired: nothing is asked of it
 * (requested DROP), so it needs no evidence. Sets those tiers and returns the ids, sorted.
 */
export function retireRemoved(diff: readonly { id: string; to: string | null }[], tiers: Record<string, Tier>): string[] {
  const retired = diff.filter((d) => d.to === null).map((d) => d.id);
  for (const id of retired) tiers[id] = 'DROP';
  return retired.sort();
}

/** Why a training run gives nothing to validate (it did not succeed), or null when it did. */
export function unsuccessfulTrainingRun(runId: number, conclusion: string | null | undefined): string | null {
  return conclusion && conclusion !== 'success' ? `the training run ${runId} concluded ${conclusion}: nothing to validate` : null;
}
