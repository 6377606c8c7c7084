/**
 * One sticky pull-request comment, updated in place (threats.md I1).
 *
 * It is found by a hidden marker among the comments written by the token's own identity: a comment
 * by anyone else that quotes the marker is never touched (so nobody can make the bot edit their
 * text). Every page of comments is read (100 per page): a marker past the first page is still found.
 * An unchanged body is not PATCHed. If a race ever left two of ours, the oldest is kept and the others
 * are deleted, so reruns converge on exactly one.
 *
 * A body that differs only in which workflow run produced it (the footer, links to the run) says the
 * same verdict: it is not re-sent, and the comment keeps naming the run that first gave it.
 */
import { errorMessage } from '../core/errors.js';
import type { RepoRef } from './context.js';
import { isPermissionDenied, type GitHubClient } from './github.js';
import { COMMENT_LIMIT, trimToBytes, type TrimNote } from './trim.js';
import { redactOutput } from '../util/redact.js';

export const STICKY_MARKER = '<!-- policy-gate:sticky -->';

/** The login GitHub shows for comments made with the default GITHUB_TOKEN. */
export const ACTIONS_BOT = 'github-actions[bot]';

export type CommentOutcome =
  | { kind: 'created' | 'updated' | 'unchanged'; id: number; duplicatesRemoved: number }
  /** No comment of ours exists and `createIfMissing` was false (a PR that touches no model gets none). */
  | { kind: 'absent' }
  | { kind: 'denied'; reason: string };

const normalize = (login: string): string => login.toLowerCase().replace(/\[bot\]$/, '');

/**
 * The login the token acts as. GraphQL `viewer` answers for user tokens and installation tokens alike
 * (REST GET /user refuses installation tokens with 403); for the default GITHUB_TOKEN it is the
 * github-actions bot, which is also the fallback.
 */
export async function tokenIdentity(gh: GitHubClient, log: (line: string) => void = () => {}): Promise<string> {
  try {
    const res = await gh.graphql<{ viewer: { login: string } }>('query { viewer { login } }');
    if (res.viewer?.login) return res.viewer.login;
  } catch (err) {
    log(`could not ask GitHub who the token is (${errorMessage(err)}); assuming ${ACTIONS_BOT}`);
  }
  return ACTIONS_BOT;
}

/** A body with what names its workflow run taken out: the footer line and links to a run. */
function verdictOf(body: string): string {
  return body.replace(/^<sub>policy-gate [^\n]*<\/sub>$/gm, '').replace(/\/actions\/runs\/\d+(?:\/attempts\/\d+)?/g, '/actions/runs/RUN');
}

/** Whether two comment bodies say the same, whichever run produced them. */
export function sameVerdict(a: string, b: string): boolean {
  return verdictOf(a) === verdictOf(b);
}

/** The comment's full text: the marker, then the markdown within GitHub's 65,536. */
export function commentBody(markdown: string, trimNote: TrimNote): string {
  const head = `${STICKY_MARKER}\n`;
  return head + trimToBytes(redactOutput(markdown), COMMENT_LIMIT - Buffer.byteLength(head), trimNote).text;
}

export async function upsertStickyComment(
  gh: GitHubClient,
  repo: RepoRef,
  issueNumber: number,
  body: string,
  identity: string,
  opts: { createIfMissing: boolean } = { createIfMissing: true },
): Promise<CommentOutcome> {
  try {
    const all = await gh.paginate(gh.rest.issues.listComments, { ...repo, issue_number: issueNumber, per_page: 100 });
    const me = normalize(identity);
    const ours = all.filter((c) => c.user != null && normalize(c.user.login) === me && (c.body ?? '').includes(STICKY_MARKER)).sort((a, b) => a.id - b.id);
    let outcome: CommentOutcome;
    const [keep, ...extra] = ours;
    if (!keep && !opts.createIfMissing) {
      return { kind: 'absent' };
    } else if (!keep) {
      const res = await gh.rest.issues.createComment({ ...repo, issue_number: issueNumber, body });
      outcome = { kind: 'created', id: res.data.id, duplicatesRemoved: 0 };
    } else if (sameVerdict(keep.body ?? '', body)) {
      outcome = { kind: 'unchanged', id: keep.id, duplicatesRemoved: 0 };
    } else {
      await gh.rest.issues.updateComment({ ...repo, comment_id: keep.id, body });
      outcome = { kind: 'updated', id: keep.id, duplicatesRemoved: 0 };
    }
    for (const c of extra) {
      await gh.rest.issues.deleteComment({ ...repo, comment_id: c.id });
      outcome.duplicatesRemoved++;
    }
    return outcome;
  } catch (err) {
    if (isPermissionDenied(err)) return { kind: 'denied', reason: errorMessage(err) };
    throw err;
  }
}
