/**
 * One pull request per branch, created or brought up to date — through the Git Data API (blobs, a
 * tree, a commit, the branch ref) and the pulls API, so the action needs no git binary and no
 * credentials in the checkout (threats.md I6).
 *
 * Each attempt starts from the branch's current head when the branch exists (so a commit someone else
 * pushed to it is kept), else from the base branch's head. `changes(read)` computes the files from that
 * state — it is called again on every attempt, so a promotion is re-read and re-applied, never replayed
 * from stale bytes. The ref moves only forward (`force: false`): a ref that moved between the read and
 * the update answers 422 "not a fast forward" (or 409), and the attempt starts over, at most
 * `maxAttempts` times, with a short growing wait between attempts. A state that already holds the
 * files makes no commit; a rerun then only refreshes the pull request's title and body.
 *
 * The open pull request is found by its head branch (`pulls.list`, every page); a pull request that
 * appears between the search and `pulls.create` (422 "already exists") is found again and updated. A
 * branch still at the head of a closed or merged pull request is left over: the next run starts it
 * again from the base branch (the only forced ref update).
 */
import { errorMessage } from '../core/errors.js';
import type { RepoRef } from './context.js';
import { httpStatus, type GitHubClient } from './github.js';
import { COMMENT_LIMIT, trimToBytes } from './trim.js';

/** A file's new content, or null to delete it. Paths are repository-relative, POSIX. */
export interface FileChange {
  path: string;
  content: Buffer | null;
}

/** Reads a file at the state an attempt starts from; null when it does not exist. */
export type StateReader = (path: string) => Promise<Buffer | null>;

export interface BranchPullRequest {
  /** The branch the pull request merges into (the default branch). */
  base: string;
  /** The pull request's branch, e.g. policy-gate/promote-4242. */
  branch: string;
  /** Read after `changes` ran, so they can describe what it computed. */
  title: () => string;
  body: () => string;
  commitMessage: string;
  /**
   * The files this pull request should hold, computed from the state `read` sees (the branch when it is
   * continued, else the base branch); `readBase` reads the base branch (to describe what the pull
   * request changes there).
   */
  changes: (read: StateReader, state: { sha: string; fromBranch: boolean; readBase: StateReader }) => Promise<FileChange[]>;
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
}

export type BranchPullRequestOutcome =
  /** Nothing to change on the base branch, and no pull request open for the branch. */
  | { kind: 'nothing'; attempts: number }
  | {
      kind: 'created' | 'updated' | 'unchanged';
      number: number;
      url: string;
      /** The branch's head commit after this run. */
      headSha: string;
      /** Whether this run pushed a commit. */
      committed: boolean;
      attempts: number;
    };

export class RefConflictError extends Error {}

const isConflict = (err: unknown): boolean => {
  const s = httpStatus(err);
  return s === 409 || s === 422;
};

async function readAt(gh: GitHubClient, repo: RepoRef, ref: string, path: string): Promise<Buffer | null> {
  try {
    const res = await gh.rest.repos.getContent({ ...repo, path, ref });
    const data = res.data as { type?: string; content?: string; encoding?: string; sha?: string };
    if (Array.isArray(res.data) || data.type !== 'file') throw new Error(`${path} at ${ref.slice(0, 12)} is not a file`);
    if (data.encoding === 'base64' && typeof data.content === 'string') return Buffer.from(data.content, 'base64');
    // Over 1 MB the contents API sends no content: read the blob instead.
    if (data.sha) {
      const blob = await gh.rest.git.getBlob({ ...repo, file_sha: data.sha });
      return Buffer.from(blob.data.content, blob.data.encoding === 'base64' ? 'base64' : 'utf8');
    }
    throw new Error(`${path} at ${ref.slice(0, 12)}: the contents API returned no content`);
  } catch (err) {
    if (httpStatus(err) === 404) return null;
    throw err;
  }
}

/** A file of the repository at `ref` (a branch, tag or commit), or null when it does not exist. */
export function stateReader(gh: GitHubClient, repo: RepoRef, ref: string): StateReader {
  const cache = new Map<string, Promise<Buffer | null>>();
  return (path) => {
    let p = cache.get(path);
    if (!p) {
      p = readAt(gh, repo, ref, path);
      cache.set(path, p);
    }
    return p;
  };
}

async function headOf(gh: GitHubClient, repo: RepoRef, branch: string): Promise<string | null> {
  try {
    const res = await gh.rest.git.getRef({ ...repo, ref: `heads/${branch}` });
    return res.data.object.sha;
  } catch (err) {
    if (httpStatus(err) === 404) return null;
    throw err;
  }
}

async function findOpenPull(gh: GitHubClient, repo: RepoRef, base: string, branch: string): Promise<{ number: number; html_url: string; title: string; body: string | null } | null> {
  const pulls = await gh.paginate(gh.rest.pulls.list, { ...repo, state: 'open', head: `${repo.owner}:${branch}`, base, per_page: 100 });
  const mine = pulls.filter((p) => p.head.ref === branch).sort((a, b) => a.number - b.number);
  return mine[0] ?? null;
}

/** Commits `changes` onto the branch (see the module comment); returns the head and whether it committed. */
async function pushChanges(gh: GitHubClient, repo: RepoRef, req: BranchPullRequest, staleHeads: ReadonlySet<string>): Promise<{ headSha: string | null; committed: boolean; attempts: number }> {
  const max = req.maxAttempts ?? 5;
  const sleep = req.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      const branchHead = await headOf(gh, repo, req.branch);
      // A branch still at the head of a closed (or merged) pull request is left over: start again from
      // the base branch and replace it. Any other existing branch is continued, fast-forward only.
      const fromBranch = branchHead !== null && !staleHeads.has(branchHead);
      const baseSha = (await gh.rest.git.getRef({ ...repo, ref: `heads/${req.base}` })).data.object.sha;
      const stateSha = fromBranch ? branchHead : baseSha;
      const read = stateReader(gh, repo, stateSha);
      const readBase = stateSha === baseSha ? read : stateReader(gh, repo, baseSha);
      const wanted = await req.changes(read, { sha: stateSha, fromBranch, readBase });
      const diff: FileChange[] = [];
      for (const c of wanted) {
        const current = await read(c.path);
        if (c.content === null ? current !== null : current === null || !current.equals(c.content)) diff.push(c);
      }
      if (diff.length === 0) return { headSha: fromBranch ? branchHead : null, committed: false, attempts: attempt };
      const stateCommit = await gh.rest.git.getCommit({ ...repo, commit_sha: stateSha });
      const entries = [];
      for (const c of diff) {
        if (c.content === null) {
          entries.push({ path: c.path, mode: '100644' as const, type: 'blob' as const, sha: null });
        } else {
          const blob = await gh.rest.git.createBlob({ ...repo, content: c.content.toString('base64'), encoding: 'base64' });
          entries.push({ path: c.path, mode: '100644' as const, type: 'blob' as const, sha: blob.data.sha });
        }
      }
      const tree = await gh.rest.git.createTree({ ...repo, base_tree: stateCommit.data.tree.sha, tree: entries });
      const commit = await gh.rest.git.createCommit({ ...repo, message: req.commitMessage, tree: tree.data.sha, parents: [stateSha] });
      if (branchHead === null) {
        await gh.rest.git.createRef({ ...repo, ref: `refs/heads/${req.branch}`, sha: commit.data.sha });
      } else {
        await gh.rest.git.updateRef({ ...repo, ref: `heads/${req.branch}`, sha: commit.data.sha, force: !fromBranch });
      }
      req.log?.(`policy-gate: committed ${diff.length} file(s) to ${req.branch} (${commit.data.sha.slice(0, 12)})`);
      return { headSha: commit.data.sha, committed: true, attempts: attempt };
    } catch (err) {
      if (!isConflict(err)) throw err;
      if (attempt >= max) {
        throw new RefConflictError(`branch ${req.branch} kept moving while policy-gate updated it (${attempt} attempts, last: ${errorMessage(err)}); run the workflow again`, { cause: err });
      }
      req.log?.(`policy-gate: ${req.branch} moved under us (${httpStatus(err)} ${errorMessage(err)}); re-reading and re-applying (attempt ${attempt + 1}/${max})`);
      await sleep(100 * 2 ** (attempt - 1) + Math.floor(Math.random() * 100));
    }
  }
}

/** Creates or updates the branch and its one open pull request (see the module comment). */
export async function upsertBranchPullRequest(gh: GitHubClient, repo: RepoRef, req: BranchPullRequest): Promise<BranchPullRequestOutcome> {
  let open = await findOpenPull(gh, repo, req.base, req.branch);
  const stale = new Set<string>();
  if (!open) {
    const closed = await gh.paginate(gh.rest.pulls.list, { ...repo, state: 'closed', head: `${repo.owner}:${req.branch}`, base: req.base, per_page: 100 });
    for (const p of closed) if (p.head.ref === req.branch && p.head.sha) stale.add(p.head.sha);
  }
  const pushed = await pushChanges(gh, repo, req, stale);
  const body = trimToBytes(req.body(), COMMENT_LIMIT, "> ✂️ Trimmed to GitHub's size limit; the full report is in the run's artifact.").text;
  const headSha = pushed.headSha;
  if (headSha === null) return { kind: 'nothing', attempts: pushed.attempts };
  if (!open) {
    try {
      const res = await gh.rest.pulls.create({ ...repo, base: req.base, head: req.branch, title: req.title(), body, maintainer_can_modify: true });
      return { kind: 'created', number: res.data.number, url: res.data.html_url, headSha, committed: pushed.committed, attempts: pushed.attempts };
    } catch (err) {
      // A concurrent run opened it first: update that one.
      if (httpStatus(err) !== 422) throw err;
      open = await findOpenPull(gh, repo, req.base, req.branch);
      if (!open) throw err;
    }
  }
  if (open.title === req.title() && (open.body ?? '') === body) {
    return { kind: pushed.committed ? 'updated' : 'unchanged', number: open.number, url: open.html_url, headSha, committed: pushed.committed, attempts: pushed.attempts };
  }
  await gh.rest.pulls.update({ ...repo, pull_number: open.number, title: req.title(), body });
  return { kind: 'updated', number: open.number, url: open.html_url, headSha, committed: pushed.committed, attempts: pushed.attempts };
}
