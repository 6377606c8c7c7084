/**
 * The `policy-gate` check run (SPEC section 11): created `in_progress` on the head commit as soon as
 * the run knows which commit that is, and always completed — by main.ts's `finally`, also when the
 * run crashed. One stable name, never built from a matrix or the job name (threats.md G9), so branch
 * protection can require it.
 */
import { errorMessage } from '../core/errors.js';
import type { RepoRef } from './context.js';
import { isPermissionDenied, type GitHubClient } from './github.js';
import { CHECK_SUMMARY_LIMIT, trimToBytes, type TrimNote } from './trim.js';
import { redactOutput } from '../util/redact.js';

export const CHECK_NAME = 'policy-gate';

/** `cancelled`: the job was cancelled or timed out while the run was validating (src/action/index.ts). */
export type CheckConclusion = 'success' | 'failure' | 'neutral' | 'cancelled';

export type CheckStart =
  | { kind: 'created'; id: number; headSha: string }
  /** The token may not create check runs (a fork's read-only token, or no `checks: write`). */
  | { kind: 'denied'; reason: string };

export interface CheckResult {
  conclusion: CheckConclusion;
  title: string;
  /** Markdown; trimmed here to GitHub's limit with `trimNote`. */
  summary: string;
  trimNote: TrimNote;
}

export async function startCheck(gh: GitHubClient, repo: RepoRef, headSha: string, opts: { externalId: string | null; detailsUrl: string | null; now: Date }): Promise<CheckStart> {
  try {
    const res = await gh.rest.checks.create({
      ...repo,
      name: CHECK_NAME,
      head_sha: headSha,
      status: 'in_progress',
      started_at: opts.now.toISOString(),
      ...(opts.externalId ? { external_id: opts.externalId } : {}),
      ...(opts.detailsUrl ? { details_url: opts.detailsUrl } : {}),
      output: { title: 'Validating policies…', summary: 'policy-gate is gating, backtesting and walk-forward-validating the models.' },
    });
    return { kind: 'created', id: res.data.id, headSha };
  } catch (err) {
    if (isPermissionDenied(err)) return { kind: 'denied', reason: errorMessage(err) };
    throw err;
  }
}

/** The output GitHub receives: the title cut to one line, the summary within 65,535. */
export function checkOutput(result: CheckResult): { title: string; summary: string; trimmed: boolean } {
  // Redacted again on the way out (the report was redacted as data before it was rendered).
  const title = redactOutput(result.title).replace(/\s+/g, ' ').slice(0, 240);
  const s = trimToBytes(redactOutput(result.summary), CHECK_SUMMARY_LIMIT, result.trimNote);
  return { title, summary: s.text, trimmed: s.trimmed };
}

/**
 * Completes the check run `id`; when that fails for longer than the client's retries (and not for want
 * of permission), posts a new check run of the same name on the same commit, already completed with the
 * same result: GitHub shows, and branch protection reads, the newest check run of a name, so the
 * required check still reports instead of staying `in_progress`. Returns how it was completed.
 */
export async function finishCheck(
  gh: GitHubClient,
  repo: RepoRef,
  check: { id: number; headSha: string },
  result: CheckResult,
  opts: { now: () => Date; externalId: string | null; detailsUrl: string | null; log: (line: string) => void },
): Promise<'completed' | 'replaced'> {
  try {
    await completeCheck(gh, repo, check.id, result, opts.now());
    return 'completed';
  } catch (err) {
    if (isPermissionDenied(err)) throw err;
    opts.log(`policy-gate: completing check run ${check.id} failed (${errorMessage(err)}); posting a completed check run in its place`);
    await postCompletedCheck(gh, repo, check.headSha, result, opts);
    return 'replaced';
  }
}

/** A check run created already completed (no check run existed yet, or completing one failed). */
export async function postCompletedCheck(
  gh: GitHubClient,
  repo: RepoRef,
  headSha: string,
  result: CheckResult,
  opts: { now: () => Date; externalId: string | null; detailsUrl: string | null },
): Promise<number> {
  const output = checkOutput(result);
  const now = opts.now().toISOString();
  const res = await gh.rest.checks.create({
    ...repo,
    name: CHECK_NAME,
    head_sha: headSha,
    status: 'completed',
    conclusion: result.conclusion,
    started_at: now,
    completed_at: now,
    ...(opts.externalId ? { external_id: opts.externalId } : {}),
    ...(opts.detailsUrl ? { details_url: opts.detailsUrl } : {}),
    output: { title: output.title, summary: output.summary },
  });
  return res.data.id;
}

export async function completeCheck(gh: GitHubClient, repo: RepoRef, id: number, result: CheckResult, now: Date): Promise<void> {
  const output = checkOutput(result);
  await gh.rest.checks.update({
    ...repo,
    check_run_id: id,
    status: 'completed',
    conclusion: result.conclusion,
    completed_at: now.toISOString(),
    output: { title: output.title, summary: output.summary },
  });
}
