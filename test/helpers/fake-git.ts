/**
 * The Git Data, contents and pulls parts of GitHub's REST API for the loopback fake
 * (test/helpers/fake-github.ts installs it on every fake): an in-memory object store (blobs, flat
 * trees, commits), refs that move only forward unless forced, and pull requests.
 *
 *   GET   /repos/{o}/{r}                         default_branch
 *   GET   /repos/{o}/{r}/git/ref/{ref}            POST /git/refs · PATCH /git/refs/{ref} (force: false → fast-forward only)
 *   GET   /repos/{o}/{r}/git/commits/{sha}        POST /git/commits
 *   POST  /repos/{o}/{r}/git/blobs                GET /git/blobs/{sha}
 *   POST  /repos/{o}/{r}/git/trees                base_tree + entries by full path (sha null deletes)
 *   GET   /repos/{o}/{r}/contents/{path}?ref=     a branch name or a commit sha
 *   GET   /repos/{o}/{r}/pulls                    ?state, head (owner:branch), base; paginated
 *   POST  /repos/{o}/{r}/pulls                    GET/PATCH /pulls/{n}
 *
 * Errors follow GitHub: 422 "Reference already exists", 422 "Update is not a fast forward",
 * 422 "A pull request already exists", 404 "No commit found for the ref". `before(route, fn)` runs
 * `fn` once just before the next request of that route is handled — how a test makes another writer
 * move a branch between the action's read and its ref update.
 */
import { createHash } from 'node:crypto';
import type { FakeGitHub } from './fake-github.js';

export type GitObject =
  | { type: 'blob'; content: Buffer }
  /** Flat: full path → blob sha. */
  | { type: 'tree'; files: Map<string, string> }
  | { type: 'commit'; tree: string; parents: string[]; message: string };

export interface FakePull {
  number: number;
  state: 'open' | 'closed';
  title: string;
  body: string;
  head: string;
  base: string;
  merged: boolean;
  /** The head commit when it was closed or merged (GitHub keeps reporting that one). */
  closedHead?: string;
}

export interface FakeGit {
  objects: Map<string, GitObject>;
  /** "heads/main" → commit sha. */
  refs: Map<string, string>;
  pulls: FakePull[];
  defaultBranch: string;
  /** Runs `fn` once, before the next request of `route` (e.g. "PATCH git/refs"). */
  before(route: string, fn: () => void): void;
  /** Commits `files` (path → content, null deletes) on `branch` (created from the default branch when missing); returns the commit sha. */
  commit(branch: string, files: Record<string, string | Buffer | null>, message?: string): string;
  /** The files of a branch or commit: path → bytes. */
  files(ref: string): Map<string, Buffer>;
  /** One file of a branch or commit as text, or null. */
  read(ref: string, path: string): string | null;
  /** The commits reachable from a ref, newest first (first parents, then the rest). */
  history(ref: string): string[];
  /** Merges pull request `n` the way "squash and merge" would: the default branch takes its head's files; the pull request is closed. */
  merge(n: number): void;
}

function hash(obj: GitObject): string {
  const h = createHash('sha1');
  if (obj.type === 'blob') h.update(`blob ${obj.content.length}\0`).update(obj.content);
  else if (obj.type === 'tree') h.update(`tree\0${JSON.stringify([...obj.files].sort(([a], [b]) => (a < b ? -1 : 1)))}`);
  else h.update(`commit\0${JSON.stringify([obj.tree, obj.parents, obj.message])}`);
  return h.digest('hex');
}

export function installFakeGit(fake: FakeGitHub, opts: { defaultBranch?: string; files?: Record<string, string | Buffer> } = {}): FakeGit {
  const objects = new Map<string, GitObject>();
  const refs = new Map<string, string>();
  const pulls: FakePull[] = [];
  const hooks = new Map<string, (() => void)[]>();
  const put = (obj: GitObject): string => {
    const sha = hash(obj);
    objects.set(sha, obj);
    return sha;
  };
  const blob = (sha: string): Extract<GitObject, { type: 'blob' }> | null => {
    const o = objects.get(sha);
    return o?.type === 'blob' ? o : null;
  };
  const commitObj = (sha: string): Extract<GitObject, { type: 'commit' }> | null => {
    const o = objects.get(sha);
    return o?.type === 'commit' ? o : null;
  };
  const treeObj = (sha: string): Extract<GitObject, { type: 'tree' }> | null => {
    const o = objects.get(sha);
    return o?.type === 'tree' ? o : null;
  };
  const resolveRef = (ref: string): string | null => {
    if (/^[0-9a-f]{40}$/.test(ref) && commitObj(ref)) return ref;
    return refs.get(ref.replace(/^refs\//, '').replace(/^(?!heads\/|tags\/)/, 'heads/')) ?? null;
  };
  const isAncestor = (ancestor: string, of: string): boolean => {
    const seen = new Set<string>();
    const todo = [of];
    while (todo.length) {
      const sha = todo.pop()!;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      todo.push(...(commitObj(sha)?.parents ?? []));
    }
    return false;
  };
  const filesAt = (ref: string): Map<string, string> => {
    const sha = resolveRef(ref);
    if (!sha) throw new Error(`fake-git: no ref ${ref}`);
    return new Map(treeObj(commitObj(sha)!.tree)!.files);
  };

  const git: FakeGit = {
    objects,
    refs,
    pulls,
    defaultBranch: opts.defaultBranch ?? 'main',
    before(route, fn) {
      hooks.set(route, [...(hooks.get(route) ?? []), fn]);
    },
    commit(branch, files, message = 'another writer') {
      const head = refs.get(`heads/${branch}`) ?? refs.get(`heads/${git.defaultBranch}`) ?? null;
      const tree = head ? new Map(treeObj(commitObj(head)!.tree)!.files) : new Map<string, string>();
      for (const [p, c] of Object.entries(files)) {
        if (c === null) tree.delete(p);
        else tree.set(p, put({ type: 'blob', content: Buffer.isBuffer(c) ? c : Buffer.from(c) }));
      }
      const sha = put({ type: 'commit', tree: put({ type: 'tree', files: tree }), parents: head ? [head] : [], message });
      refs.set(`heads/${branch}`, sha);
      return sha;
    },
    files(ref) {
      return new Map([...filesAt(ref)].map(([p, sha]) => [p, blob(sha)!.content]));
    },
    read(ref, path) {
      const sha = filesAt(ref).get(path);
      return sha ? blob(sha)!.content.toString('utf8') : null;
    },
    history(ref) {
      const out: string[] = [];
      const todo = [resolveRef(ref)!];
      while (todo.length) {
        const sha = todo.shift()!;
        if (out.includes(sha)) continue;
        out.push(sha);
        todo.push(...(commitObj(sha)?.parents ?? []));
      }
      return out;
    },
    merge: () => undefined,
  };
  git.merge = (n) => {
    const p = pulls.find((x) => x.number === n && x.state === 'open');
    if (!p) throw new Error(`fake-git: no open pull request #${n}`);
    const head = refs.get(`heads/${p.head}`)!;
    const main = refs.get(`heads/${p.base}`)!;
    refs.set(`heads/${p.base}`, put({ type: 'commit', tree: commitObj(head)!.tree, parents: [main], message: `${p.title} (#${n})` }));
    Object.assign(p, { state: 'closed', merged: true, closedHead: head });
  };
  git.commit(git.defaultBranch, opts.files ?? { 'README.md': '# trading policies\n' }, 'initial commit');

  const { owner, repo } = fake.state;
  const prefix = `/repos/${owner}/${repo}`;
  const commitJson = (sha: string) => {
    const c = commitObj(sha)!;
    return { sha, tree: { sha: c.tree }, parents: c.parents.map((p) => ({ sha: p })), message: c.message };
  };
  const pullJson = (p: FakePull) => ({
    number: p.number,
    state: p.state,
    title: p.title,
    body: p.body,
    merged: p.merged,
    html_url: `https://github.com/${owner}/${repo}/pull/${p.number}`,
    head: { ref: p.head, sha: p.state === 'closed' ? (p.closedHead ?? null) : (refs.get(`heads/${p.head}`) ?? null), label: `${owner}:${p.head}`, repo: { full_name: `${owner}/${repo}` } },
    base: { ref: p.base, sha: refs.get(`heads/${p.base}`) ?? null, label: `${owner}:${p.base}`, repo: { full_name: `${owner}/${repo}` } },
  });
  const unprocessable = (message: string) => ({ message, documentation_url: 'https://docs.github.com/rest' });
  let nextPull = 1;

  type Send = (status: number, body?: unknown, headers?: Record<string, string>) => void;
  type Handler = (m: RegExpExecArray, req: { query: Record<string, string>; body: any; base: string; url: string }, send: Send) => void;
  const route = (name: string, pattern: RegExp, handle: Handler): void => {
    fake.state.extraRoutes.push({
      route: name,
      pattern,
      handle: (m, req, send) => {
        const pending = hooks.get(name);
        if (pending?.length) pending.shift()!();
        handle(m, req, send);
      },
    });
  };

  route('GET repo', new RegExp(`^${prefix}$`), (_m, _r, send) => send(200, { id: 1296269, name: repo, full_name: `${owner}/${repo}`, default_branch: git.defaultBranch, owner: { login: owner } }));
  route('GET git/ref', new RegExp(`^${prefix}/git/ref/(.+)$`), (m, _r, send) => {
    const sha = refs.get(decodeURIComponent(m[1]!));
    if (!sha) return send(404, { message: 'Not Found' });
    send(200, { ref: `refs/${decodeURIComponent(m[1]!)}`, object: { sha, type: 'commit' } });
  });
  route('POST git/refs', new RegExp(`^${prefix}/git/refs$`), (_m, { body }, send) => {
    const ref = String(body.ref ?? '').replace(/^refs\//, '');
    if (!ref.startsWith('heads/')) return send(422, unprocessable('Reference name must start with refs/heads/'));
    if (refs.has(ref)) return send(422, unprocessable('Reference already exists'));
    if (!commitObj(String(body.sha))) return send(422, unprocessable('Object does not exist'));
    refs.set(ref, String(body.sha));
    send(201, { ref: `refs/${ref}`, object: { sha: body.sha, type: 'commit' } });
  });
  route('PATCH git/refs', new RegExp(`^${prefix}/git/refs/(.+)$`), (m, { body }, send) => {
    const ref = decodeURIComponent(m[1]!);
    const current = refs.get(ref);
    if (!current) return send(422, unprocessable('Reference does not exist'));
    const sha = String(body.sha);
    if (!commitObj(sha)) return send(422, unprocessable('Object does not exist'));
    if (body.force !== true && !isAncestor(current, sha)) return send(422, unprocessable('Update is not a fast forward'));
    refs.set(ref, sha);
    send(200, { ref: `refs/${ref}`, object: { sha, type: 'commit' } });
  });
  route('GET git/commit', new RegExp(`^${prefix}/git/commits/([0-9a-f]{40})$`), (m, _r, send) => {
    if (!commitObj(m[1]!)) return send(404, { message: 'Not Found' });
    send(200, commitJson(m[1]!));
  });
  route('POST git/commits', new RegExp(`^${prefix}/git/commits$`), (_m, { body }, send) => {
    const parents: string[] = body.parents ?? [];
    if (!treeObj(String(body.tree)) || parents.some((p) => !commitObj(p))) return send(422, unprocessable('Tree or parent does not exist'));
    const sha = put({ type: 'commit', tree: String(body.tree), parents, message: String(body.message ?? '') });
    send(201, commitJson(sha));
  });
  route('POST git/blobs', new RegExp(`^${prefix}/git/blobs$`), (_m, { body }, send) => {
    const content = Buffer.from(String(body.content ?? ''), body.encoding === 'base64' ? 'base64' : 'utf8');
    send(201, { sha: put({ type: 'blob', content }), url: '' });
  });
  route('GET git/blob', new RegExp(`^${prefix}/git/blobs/([0-9a-f]{40})$`), (m, _r, send) => {
    const b = blob(m[1]!);
    if (!b) return send(404, { message: 'Not Found' });
    send(200, { sha: m[1], size: b.content.length, encoding: 'base64', content: b.content.toString('base64') });
  });
  route('POST git/trees', new RegExp(`^${prefix}/git/trees$`), (_m, { body }, send) => {
    let files = new Map<string, string>();
    if (body.base_tree !== undefined) {
      const base = treeObj(String(body.base_tree));
      if (!base) return send(422, unprocessable('base_tree does not exist'));
      files = new Map(base.files);
    }
    for (const e of body.tree ?? []) {
      if (e.sha === null) files.delete(e.path);
      else if (typeof e.content === 'string') files.set(e.path, put({ type: 'blob', content: Buffer.from(e.content) }));
      else if (blob(String(e.sha))) files.set(e.path, String(e.sha));
      else return send(422, unprocessable(`tree.sha ${e.sha} is not a blob`));
    }
    const sha = put({ type: 'tree', files });
    send(201, { sha, tree: [...files].map(([path, s]) => ({ path, mode: '100644', type: 'blob', sha: s })) });
  });
  route('GET contents', new RegExp(`^${prefix}/contents/(.+)$`), (m, { query }, send) => {
    const sha = resolveRef(query['ref'] ?? git.defaultBranch);
    if (!sha) return send(404, { message: `No commit found for the ref ${query['ref']}` });
    const path = decodeURIComponent(m[1]!);
    const blobSha = treeObj(commitObj(sha)!.tree)!.files.get(path);
    if (!blobSha) return send(404, { message: 'Not Found' });
    const content = blob(blobSha)!.content;
    send(200, {
      type: 'file',
      encoding: 'base64',
      size: content.length,
      name: path.split('/').pop(),
      path,
      sha: blobSha,
      // GitHub wraps the base64 at 60 characters.
      content: content.toString('base64').replace(/.{60}/g, '$&\n'),
    });
  });
  route('GET pulls', new RegExp(`^${prefix}/pulls$`), (_m, { query, base, url }, send) => {
    const state = query['state'] ?? 'open';
    const head = query['head'];
    const list = pulls
      .filter((p) => state === 'all' || p.state === state)
      .filter((p) => head === undefined || `${owner}:${p.head}` === head)
      .filter((p) => query['base'] === undefined || p.base === query['base']);
    const perPage = Math.min(100, Math.max(1, Number(query['per_page'] ?? 30)));
    const page = Math.max(1, Number(query['page'] ?? 1));
    const last = Math.max(1, Math.ceil(list.length / perPage));
    const link = (p: number): string => {
      const u = new URL(base + url.split('?')[0]);
      for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
      u.searchParams.set('page', String(p));
      u.searchParams.set('per_page', String(perPage));
      return u.toString();
    };
    send(200, list.slice((page - 1) * perPage, page * perPage).map(pullJson), page < last ? { link: `<${link(page + 1)}>; rel="next", <${link(last)}>; rel="last"` } : {});
  });
  // GitHub's own limits on a pull request (422 "Validation Failed" past them): a title of at most 256
  // characters, a body of at most 65,536.
  const tooLong = (body: Record<string, unknown>): string | null => {
    if (typeof body.title === 'string' && [...body.title].length > 256) return 'title is too long (maximum is 256 characters)';
    if (typeof body.body === 'string' && [...body.body].length > 65_536) return 'body is too long (maximum is 65536 characters)';
    return null;
  };
  route('POST pulls', new RegExp(`^${prefix}/pulls$`), (_m, { body }, send) => {
    const limit = tooLong(body);
    if (limit) return send(422, { message: 'Validation Failed', errors: [{ resource: 'Issue', code: 'custom', field: limit.split(' ')[0], message: limit }] });
    const head = String(body.head).replace(`${owner}:`, '');
    if (!refs.has(`heads/${head}`)) return send(422, unprocessable(`head ${head} does not exist`));
    if (pulls.some((p) => p.state === 'open' && p.head === head && p.base === body.base)) {
      return send(422, { message: 'Validation Failed', errors: [{ resource: 'PullRequest', code: 'custom', message: `A pull request already exists for ${owner}:${head}.` }] });
    }
    const p: FakePull = { number: nextPull++, state: 'open', title: String(body.title), body: String(body.body ?? ''), head, base: String(body.base), merged: false };
    pulls.push(p);
    send(201, pullJson(p));
  });
  route('GET pull', new RegExp(`^${prefix}/pulls/(\\d+)$`), (m, _r, send) => {
    const p = pulls.find((x) => x.number === Number(m[1]));
    if (!p) return send(404, { message: 'Not Found' });
    send(200, pullJson(p));
  });
  route('PATCH pull', new RegExp(`^${prefix}/pulls/(\\d+)$`), (m, { body }, send) => {
    const p = pulls.find((x) => x.number === Number(m[1]));
    if (!p) return send(404, { message: 'Not Found' });
    const limit = tooLong(body);
    if (limit) return send(422, { message: 'Validation Failed', errors: [{ resource: 'Issue', code: 'custom', field: limit.split(' ')[0], message: limit }] });
    if (typeof body.title === 'string') p.title = body.title;
    if (typeof body.body === 'string') p.body = body.body;
    if (body.state === 'closed' && p.state === 'open') p.closedHead = refs.get(`heads/${p.head}`);
    if (body.state === 'open' || body.state === 'closed') p.state = body.state;
    send(200, pullJson(p));
  });
  return git;
}
