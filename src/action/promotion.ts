/**
 * Promotion and demotion in the Action (docs/promotion.md):
 *
 *   - workflow_run: the models of the validated training archive that earned PAPER or LIVE are
 *     committed — their ONNX files and cards under promotion.models_dir, their entries in the paper/live
 *     configs — on ONE branch per training run (`policy-gate/promote-<run id>`), with ONE pull request
 *     whose body is the report. A rerun updates that branch and pull request.
 *   - schedule: the deployed models that fell below their tier are demoted on ONE branch
 *     (`policy-gate/demote`) and pull request, updated by each run while it is open.
 *
 * Both plans are the pure, idempotent transform of src/core/promotion.ts, applied to the configs as
 * they are on the branch at the moment of the commit (re-read and re-applied after a ref conflict;
 * src/action/branch-pr.ts). Then the action posts the `policy-gate` check run on the pull request's
 * head commit: the pull request's configs request exactly the tiers the report's evidence earned, so
 * it passes on that evidence. (Pushes and pull requests made with the default GITHUB_TOKEN start no
 * workflow, so without this the required check would never appear on them.)
 *
 * For pull requests: the deployment configs at the pull request's base, to see what the pull request
 * itself changes (which models it adds, moves or removes).
 */
import { md } from '../core/render/markdown.js';
import {
  changedDocs,
  emptyDoc,
  parseDeployDoc,
  planPromotion,
  serializeDeployDoc,
  type DeployChange,
  type DeployConfigs,
  type DeployPaths,
  type DeployTier,
  type PromotionPlan,
} from '../core/promotion.js';
import type { Config } from '../config/schema.js';
import { errorMessage } from '../core/errors.js';
import type { Report } from '../core/report.js';
import { tierRank } from '../core/types.js';
import { planTrack } from '../core/track-plan.js';
import { collectPromotion, promotable, readDeployFiles, type CollectedPromotion, type DeployFiles } from '../app/promote.js';
import { concludeReport, deployedModels, evaluateDeployed, type RevalidateOptions } from '../app/revalidate.js';
import { emptyReport } from '../app/report-base.js';
import { upsertBranchPullRequest, stateReader, type BranchPullRequestOutcome, type FileChange, type StateReader } from './branch-pr.js';
import { completeCheck, startCheck } from './checks.js';
import type { RepoRef } from './context.js';
import { httpStatus, type GitHubClient } from './github.js';

export const PROMOTE_BRANCH_PREFIX = 'policy-gate/promote-';
export const DEMOTE_BRANCH = 'policy-gate/demote';
export const TRACK_BRANCH = 'policy-gate/track';

export async function readDeployAt(read: StateReader, paths: DeployPaths): Promise<DeployConfigs> {
  const [paper, live] = [await read(paths.paper), await read(paths.live)];
  return {
    paper: parseDeployDoc(paper === null ? null : paper.toString('utf8'), paths.paper),
    live: parseDeployDoc(live === null ? null : live.toString('utf8'), paths.live),
  };
}

/** The deployment configs at a commit (the pull request's base), through the contents API. */
export async function deployAtCommit(gh: GitHubClient, repo: RepoRef, sha: string, paths: DeployPaths): Promise<DeployConfigs> {
  return readDeployAt(stateReader(gh, repo, sha), paths);
}

export interface DeployDiff {
  id: string;
  from: DeployTier | null;
  to: DeployTier | null;
  /** The entry's content changed (same tier, e.g. a new model file). */
  edited: boolean;
}

const tierOf = (c: DeployConfigs, id: string): DeployTier | null => (id in c.live.models ? 'LIVE' : id in c.paper.models ? 'PAPER' : null);
const entryOf = (c: DeployConfigs, id: string): unknown => c.live.models[id] ?? c.paper.models[id];

/** What a pull request changes in the deployment configs: per model, its tier before and after. */
export function diffDeploy(base: DeployConfigs, head: DeployConfigs): DeployDiff[] {
  const ids = new Set([...Object.keys(base.paper.models), ...Object.keys(base.live.models), ...Object.keys(head.paper.models), ...Object.keys(head.live.models)]);
  const out: DeployDiff[] = [];
  for (const id of [...ids].sort()) {
    const from = tierOf(base, id);
    const to = tierOf(head, id);
    const edited = from === to && JSON.stringify(entryOf(base, id)) !== JSON.stringify(entryOf(head, id));
    if (from !== to || edited) out.push({ id, from, to, edited });
  }
  return out;
}

function changeTable(changes: readonly DeployChange[], paths: DeployPaths): string {
  const rows = changes.map((c) => {
    const file = c.to === 'LIVE' ? paths.live : c.to === 'PAPER' ? paths.paper : c.from === 'LIVE' ? paths.live : paths.paper;
    return `| ${md(c.id)} | ${c.from ?? '—'} | ${c.to ?? 'out'} | ${c.decision} | \`${file}\` |`;
  });
  return ['| Model | Was | Now | Decision | Config |', '|---|---|---|---|---|', ...rows].join('\n');
}

interface PlannedPr {
  /** The last plan applied to the branch (what was committed). */
  committed: PromotionPlan | null;
  /** The same plan against the base branch: what the pull request changes there. */
  shown: PromotionPlan | null;
}

function planFiles(plan: PromotionPlan, before: DeployConfigs, paths: DeployPaths, extra: readonly FileChange[]): FileChange[] {
  const out: FileChange[] = [...extra];
  for (const k of changedDocs(before, plan)) out.push({ path: paths[k], content: Buffer.from(serializeDeployDoc(plan[k], paths[k])) });
  return out;
}

/** Posts the completed `policy-gate` check run on the pull request's head: its configs against the evidence. */
async function checkPullRequestHead(
  gh: GitHubClient,
  repo: RepoRef,
  headSha: string,
  report: Report,
  plan: PromotionPlan,
  changeCount: number,
  body: string,
  opts: { now: Date; detailsUrl: string | null; externalId: string | null },
): Promise<'success' | 'failure'> {
  const short: string[] = [];
  for (const [key, tier] of [
    ['live', 'LIVE'],
    ['paper', 'PAPER'],
  ] as const) {
    for (const id of Object.keys(plan[key].models)) {
      const m = report.models.find((x) => x.id === id);
      if (!m) continue; // not part of this evidence (deployed before, unchanged by this pull request)
      if (!m.decision || tierRank(m.decision.tier) < tierRank(tier)) short.push(`${id}: ${m.decision?.tier ?? 'not decided'} is below ${tier}`);
    }
  }
  const conclusion = short.length === 0 ? 'success' : 'failure';
  const title =
    conclusion === 'success' ? `${changeCount} deployment change(s), each on the evidence of the report` : `${short.length} model(s) below the tier the configs request: ${short.join('; ')}`;
  const started = await startCheck(gh, repo, headSha, { externalId: opts.externalId, detailsUrl: opts.detailsUrl, now: opts.now });
  if (started.kind === 'created') {
    await completeCheck(gh, repo, started.id, { conclusion, title, summary: body, trimNote: "> ✂️ Trimmed; the full report is in the run's artifact." }, opts.now);
  }
  return conclusion;
}

export interface PrResult {
  outcome: BranchPullRequestOutcome;
  /** What the pull request changes on the base branch. */
  plan: PromotionPlan | null;
  /** What this run committed to the branch (no changes on a rerun that found it up to date). */
  committed: PromotionPlan | null;
  check: 'success' | 'failure' | null;
}

async function defaultBranch(gh: GitHubClient, repo: RepoRef): Promise<string> {
  return (await gh.rest.repos.get({ ...repo })).data.default_branch;
}

export interface PromotionRequest {
  report: Report;
  reportSha256: string;
  /** The report's markdown (what the check run shows). */
  markdown: string;
  /** The archive the report validated (a path on this machine). */
  archivePath: string;
  /** Repository-relative. */
  paths: DeployPaths;
  modelsDir: string;
  /** The training run, for the branch name and the title. */
  runId: number | null;
  runUrl: string | null;
  now: Date;
  externalId: string | null;
  log: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

/** GitHub refuses a pull request title over 256 characters (422). */
export const PR_TITLE_LIMIT = 256;

/**
 * `<head> A, B, C and 7 more<tail>`: as many items as fit within GitHub's title limit, in order, then a
 * count of the rest (the body lists them all). An item too long to fit on its own is cut with an ellipsis.
 */
export function listTitle(head: string, items: readonly string[], tail = '', limit = PR_TITLE_LIMIT): string {
  const len = (t: string): number => [...t].length;
  const more = (n: number): string => (n > 0 ? ` and ${n} more` : '');
  for (let shown = items.length; shown >= 1; shown--) {
    const title = `${head}${items.slice(0, shown).join(', ')}${more(items.length - shown)}${tail}`;
    if (len(title) <= limit) return title;
  }
  const fixed = len(head) + len(more(items.length - 1)) + len(tail);
  const room = Math.max(1, limit - fixed);
  const first = [...(items[0] ?? '')];
  const cut = first.length > room ? `${first.slice(0, room - 1).join('')}…` : first.join('');
  return [...`${head}${cut}${more(items.length - 1)}${tail}`].slice(0, limit).join('');
}

/** workflow_run: the promotion pull request (see the module comment); null when no model earned a tier. */
export async function openPromotionPullRequest(gh: GitHubClient, repo: RepoRef, req: PromotionRequest): Promise<PrResult | null> {
  if (promotable(req.report).length === 0) return null;
  // Every model file is read from the archive and checked against the report before anything is sent.
  const collected: CollectedPromotion = await collectPromotion(req.report, { root: '/', archive: req.archivePath, modelsDir: req.modelsDir });
  const base = await defaultBranch(gh, repo);
  const tag = req.runId !== null ? String(req.runId) : (req.report.archive?.sha256.slice(0, 12) ?? 'archive');
  const branch = `${PROMOTE_BRANCH_PREFIX}${tag}`;
  const state: PlannedPr = { committed: null, shown: null };
  const ids = promotable(req.report).map((m) => `${m.id} → ${m.decision!.tier}`);
  const from = req.runId !== null ? `training run ${req.runId}` : `archive ${tag}`;
  let body = '';
  const outcome = await upsertBranchPullRequest(gh, repo, {
    base,
    branch,
    title: () => listTitle('policy-gate: promote ', ids, ` (${from})`),
    body: () => body,
    commitMessage: `policy-gate: promote ${ids.join(', ')}\n\nFrom ${from}${req.runUrl ? ` (${req.runUrl})` : ''}; report sha256 ${req.reportSha256}.`,
    changes: async (read, { readBase }) => {
      const opts = { mode: 'promote' as const, now: req.now, runUrl: req.runUrl, reportSha256: req.reportSha256, artifacts: collected.artifacts };
      const before = await readDeployAt(read, req.paths);
      state.committed = planPromotion(before, req.report, opts);
      state.shown = planPromotion(await readDeployAt(readBase, req.paths), req.report, opts);
      body = prBody('promotion', state.shown, req);
      return planFiles(
        state.committed,
        before,
        req.paths,
        collected.files.map((f) => ({ path: f.path, content: f.bytes })),
      );
    },
    log: req.log,
    ...(req.sleep ? { sleep: req.sleep } : {}),
  });
  let check: PrResult['check'] = null;
  if (outcome.kind !== 'nothing' && state.committed && state.shown) {
    check = await checkPullRequestHead(gh, repo, outcome.headSha, req.report, state.committed, state.shown.changes.length, body, {
      now: req.now,
      detailsUrl: req.runUrl,
      externalId: req.externalId,
    });
  }
  return { outcome, plan: state.shown, committed: state.committed, check };
}

export interface DemotionRequest extends Omit<PromotionRequest, 'archivePath' | 'modelsDir' | 'runId'> {}

/** schedule: the demotion pull request; `outcome.kind` is "nothing" when no deployed model fell. */
export async function openDemotionPullRequest(gh: GitHubClient, repo: RepoRef, req: DemotionRequest): Promise<PrResult> {
  const opts = { mode: 'revalidate' as const, now: req.now, runUrl: req.runUrl, reportSha256: req.reportSha256 };
  return openPlanPullRequest(gh, repo, req, {
    branch: DEMOTE_BRANCH,
    kind: 'demotion',
    title: 'policy-gate: demote models below their tier',
    titleHead: 'policy-gate: demote ',
    commitMessage: `policy-gate: demote models below their tier\n\nRe-validation${req.runUrl ? ` ${req.runUrl}` : ''}; report sha256 ${req.reportSha256}.`,
    plan: (configs) => planPromotion(configs, req.report, opts),
  });
}

/**
 * schedule with `track`: the pull request of the account records' verdicts (core/track-plan.ts) — PAPER →
 * LIVE for a record that makes its model eligible, LIVE → PAPER or PAPER → out for one that diverges.
 * One branch (`policy-gate/track`), updated by each run while it is open; "nothing" when no verdict
 * changes a config.
 */
export async function openTrackPullRequest(gh: GitHubClient, repo: RepoRef, req: DemotionRequest): Promise<PrResult> {
  const opts = { now: req.now, runUrl: req.runUrl, reportSha256: req.reportSha256 };
  return openPlanPullRequest(gh, repo, req, {
    branch: TRACK_BRANCH,
    kind: 'track',
    title: 'policy-gate: deployed models on their account record',
    titleHead: 'policy-gate: on the account record, ',
    commitMessage: `policy-gate: deployed models on their account record\n\nTracking${req.runUrl ? ` ${req.runUrl}` : ''}; report sha256 ${req.reportSha256}.`,
    plan: (configs) => planTrack(configs, req.report, opts),
  });
}

interface PlanPullRequest {
  branch: string;
  kind: 'demotion' | 'track';
  title: string;
  titleHead: string;
  commitMessage: string;
  plan: (configs: DeployConfigs) => PromotionPlan;
}

async function openPlanPullRequest(gh: GitHubClient, repo: RepoRef, req: DemotionRequest, how: PlanPullRequest): Promise<PrResult> {
  const base = await defaultBranch(gh, repo);
  const state: PlannedPr = { committed: null, shown: null };
  let body = '';
  let title = how.title;
  const outcome = await upsertBranchPullRequest(gh, repo, {
    base,
    branch: how.branch,
    title: () => title,
    body: () => body,
    commitMessage: how.commitMessage,
    changes: async (read, { readBase }) => {
      const before = await readDeployAt(read, req.paths);
      state.committed = how.plan(before);
      state.shown = how.plan(await readDeployAt(readBase, req.paths));
      if (state.shown.changes.length > 0)
        title = listTitle(
          how.titleHead,
          state.shown.changes.map((c) => `${c.id} → ${c.to ?? 'out'}`),
        );
      body = prBody(how.kind, state.shown, req);
      return planFiles(state.committed, before, req.paths, []);
    },
    log: req.log,
    ...(req.sleep ? { sleep: req.sleep } : {}),
  });
  let check: PrResult['check'] = null;
  if (outcome.kind !== 'nothing' && state.committed && state.shown) {
    check = await checkPullRequestHead(gh, repo, outcome.headSha, req.report, state.committed, state.shown.changes.length, body, {
      now: req.now,
      detailsUrl: req.runUrl,
      externalId: req.externalId,
    });
  }
  return { outcome, plan: state.shown, committed: state.committed, check };
}

function prBody(kind: 'promotion' | 'demotion' | 'track', plan: PromotionPlan, req: { paths: DeployPaths; runUrl: string | null; reportSha256: string; markdown: string }): string {
  const out: string[] = [];
  out.push(
    kind === 'promotion'
      ? 'Merging this pull request deploys these models at the tier their validation earned.'
      : kind === 'track'
        ? 'The account records of deployed models, set beside their backtests, moved these models: a PAPER record that holds is eligible for LIVE, one that diverges is demoted (live → paper, paper → out). Merging this pull request applies it.'
        : 'Re-validation on recent data found deployed models below their tier. Merging this pull request demotes them (live → paper, paper → out).',
    '',
  );
  if (plan.changes.length > 0) out.push(changeTable(plan.changes, req.paths), '');
  // the account records' verdicts carry their numbers: each change with its reason
  if (kind === 'track' && plan.changes.length > 0) out.push(...plan.changes.map((c) => `- ${md(c.summary)}`), '');
  else out.push(`The deployment configs on this branch already hold these ${kind === 'promotion' ? 'promotions' : kind === 'track' ? 'changes' : 'demotions'}.`, '');
  out.push(
    `Evidence: report sha256 \`${req.reportSha256}\`${req.runUrl ? ` from [the run](${req.runUrl})` : ''}. Deployment configs: \`${req.paths.live}\`, \`${req.paths.paper}\` (see docs/promotion.md).`,
    '',
    '<details open><summary>The report</summary>',
    '',
    req.markdown,
    '',
    '</details>',
    '',
  );
  return out.join('\n');
}

// ------------------------------------------------------------------ pull requests that change the configs

export interface PullRequestDeploy {
  /** The configs in the checkout (the pull request's head, or its merge into the base). */
  head: DeployFiles;
  /** What the pull request changes, model by model. */
  diff: DeployDiff[];
  /** The base commit the configs were compared with; null when it could not be read (every entry then counts as changed). */
  baseSha: string | null;
}

/** The deployment configs in the checkout, compared with the pull request's base (pulls.get → base.sha, contents API). */
export async function pullRequestDeploy(
  gh: GitHubClient,
  repo: RepoRef,
  prNumber: number,
  workspace: string,
  paths: DeployPaths,
  log: (line: string) => void,
  /** Files the pull request changes (repository-relative): an entry whose model or card is one of them counts as edited. */
  changedFiles: readonly string[] = [],
): Promise<PullRequestDeploy> {
  const head = await readDeployFiles(workspace, paths);
  let baseSha: string | null = null;
  let base: DeployConfigs = { paper: emptyDoc(), live: emptyDoc() };
  try {
    baseSha = (await gh.rest.pulls.get({ ...repo, pull_number: prNumber })).data.base.sha;
    base = await deployAtCommit(gh, repo, baseSha, head.paths);
  } catch (err) {
    if (httpStatus(err) !== 404) throw err;
    log(`the base of pull request #${prNumber} could not be read (${errorMessage(err)}): every deployment entry counts as changed`);
    baseSha = null;
  }
  const diff = diffDeploy(base, head.configs);
  const touched = new Set(changedFiles);
  for (const [key, tier] of [
    ['live', 'LIVE'],
    ['paper', 'PAPER'],
  ] as const) {
    for (const [id, entry] of Object.entries(head.configs[key].models)) {
      if (diff.some((d) => d.id === id) || (key === 'paper' && id in head.configs.live.models)) continue;
      if ([entry['model'], entry['card']].some((f) => typeof f === 'string' && touched.has(f))) diff.push({ id, from: tier, to: tier, edited: true });
    }
  }
  for (const d of diff) log(`${d.id}: ${d.from ?? 'not deployed'} → ${d.to ?? 'removed'}${d.edited ? ' (entry edited)' : ''}`);
  return { head, diff, baseSha };
}

/**
 * Adds to the archive's report (or makes one) the models whose deployment entries the pull request adds,
 * moves or edits and that the archive does not hold: each is evaluated from the files its entry names,
 * like re-validation, and requested at its new tier. A promotion pull request that only changes the
 * configs and the models folder is judged this way.
 */
export async function withChangedEntries(archiveReport: Report | null, deploy: PullRequestDeploy, config: Config, configFile: string | null, opts: RevalidateOptions): Promise<Report> {
  // The evidence for an entry is the file it deploys: the archive's model of that id when it is that
  // file (or the entry names none), else the entry's own file.
  const changed = new Set(deploy.diff.filter((d) => d.to !== null).map((d) => d.id));
  const deployed = deployedModels(deploy.head).filter((d) => {
    if (!changed.has(d.id)) return false;
    const inArchive = archiveReport?.models.find((m) => m.id === d.id);
    if (!inArchive) return true;
    const sha = d.entry['model_sha256'];
    return typeof d.entry['model'] === 'string' && typeof sha === 'string' && inArchive.model?.sha256 !== sha;
  });
  const replaced = new Set(deployed.map((d) => d.id));
  if (deployed.length === 0) {
    if (archiveReport) return archiveReport;
    const report = emptyReport('validate', config, configFile, opts.now);
    report.conclusion = 'success';
    report.conclusionReasons = ['this pull request only removes models from the deployment configs: removing a model needs no evidence'];
    return report;
  }
  const extra = await evaluateDeployed(deployed, config, configFile, opts);
  for (const m of extra.models) m.notes.push(`evaluated from the files its ${deploy.head.paths[m.requested === 'LIVE' ? 'live' : 'paper']} entry names`);
  if (!archiveReport) {
    extra.command = 'validate';
    return extra;
  }
  const inArchive = new Set(archiveReport.models.map((m) => m.id));
  for (const m of extra.models) {
    if (inArchive.has(m.id)) m.notes.push(`the archive's ${m.id} is another file than the one this pull request deploys: the deployed file was evaluated instead`);
  }
  archiveReport.models = [...archiveReport.models.filter((m) => !replaced.has(m.id)), ...extra.models];
  archiveReport.infraErrors.push(...extra.infraErrors);
  concludeReport(archiveReport);
  return archiveReport;
}
