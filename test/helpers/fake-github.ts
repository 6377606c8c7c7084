/**
 * A loopback server that speaks the parts of GitHub's REST (and GraphQL) API the action uses, with
 * in-memory state and a log of every request. Real clients (octokit, @actions/artifact) talk to it
 * through GITHUB_API_URL, so the tests exercise the real request shapes, pagination (Link headers)
 * and redirects. It listens on 127.0.0.1 only.
 *
 *   POST  /graphql                                      viewer { login }
 *   GET   /repos/{o}/{r}/pulls/{n}/files                paginated (per_page, page, Link)
 *   POST  /repos/{o}/{r}/check-runs                     PATCH /repos/{o}/{r}/check-runs/{id}
 *   GET   /repos/{o}/{r}/issues/{n}/comments            paginated; POST creates
 *   PATCH /repos/{o}/{r}/issues/comments/{id}           DELETE too
 *   GET   /repos/{o}/{r}/actions/runs/{id}              head_sha
 *   GET   /repos/{o}/{r}/actions/runs/{id}/artifacts    ?name= filter (what @actions/artifact findBy calls)
 *   GET   /repos/{o}/{r}/actions/artifacts/{id}/zip     302 → /blobs/{id} (application/zip)
 *
 * and the Actions results service @actions/artifact uploads through (ACTIONS_RESULTS_URL, a Bearer
 * ACTIONS_RUNTIME_TOKEN): twirp CreateArtifact → a signed blob URL on this server, where the Azure SDK
 * stages blocks (PUT ?comp=block) and commits them (PUT ?comp=blocklist), then FinalizeArtifact.
 * Uploaded artifacts land in `state.uploads`.
 *
 * Faults are injected per route key ("POST check-runs", "GET pulls/files", ...): a status, headers and
 * a body, for the next `times` requests (default: every request), then the fault in `then`, if any.
 *
 * More routes plug in through `state.extraRoutes` (faults apply to them too): every fake gets the Git
 * Data, contents and pulls API of test/helpers/fake-git.ts as `fake.git`.
 *
 * Every request to the REST API is checked against GitHub's published description of it
 * (test/helpers/github-openapi.ts): an operation that does not exist, a path or query parameter GitHub
 * does not declare or whose value its schema rejects, a missing required one, or a JSON body its
 * requestBody schema rejects is a spec violation. The fake answers it 422 with the problems (as GitHub
 * answers a body it rejects) and lists it in `fake.violations`; `expectNoViolations()` (every test file
 * that starts a fake runs it after each test) fails the test that sent it. The endpoints that are not
 * part of api.github.com's REST API are listed in NOT_REST, each with the reason.
 *
 * `basePath` serves the REST API under a prefix, as GitHub Enterprise Server does (/api/v3, with
 * GraphQL at /api/graphql).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { installFakeGit, type FakeGit } from './fake-git.js';
import { checkRequest, loadGitHubDescription } from './github-openapi.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  route: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  rawBody: string;
  status: number;
}

export interface FakeComment {
  id: number;
  body: string;
  user: { login: string; type: 'User' | 'Bot' };
  created_at: string;
}

export interface FakeCheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  output: { title?: string; summary?: string } | null;
  history: { status: string; conclusion: string | null }[];
}

export interface FakeArtifact {
  id: number;
  name: string;
  runId: number;
  bytes: Buffer;
  digest?: string;
}

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** How many requests fail; undefined = all of them. */
  times?: number;
  /**
   * A transport fault instead of an answer: 'reset' drops the connection, 'truncate' promises the
   * body's length and closes after half of it, 'hang' never answers.
   */
  transport?: 'reset' | 'truncate' | 'hang';
  /** The fault that takes over once `times` requests have failed (a sequence of faults on one route). */
  then?: Fault;
}

/** A route added from outside this file; `send` answers with JSON. */
export interface ExtraRoute {
  route: string;
  pattern: RegExp;
  handle(m: RegExpExecArray, req: { query: Record<string, string>; body: any; base: string; url: string }, send: (status: number, body?: unknown, headers?: Record<string, string>) => void): void;
}

export interface FakeState {
  owner: string;
  repo: string;
  token: string;
  /** The login the token acts as (GraphQL viewer). */
  viewer: string;
  pullFiles: Map<number, { filename: string; status: string; patch?: string; previous_filename?: string }[]>;
  comments: Map<number, FakeComment[]>;
  checkRuns: FakeCheckRun[];
  runs: Map<number, { head_sha: string }>;
  artifacts: FakeArtifact[];
  faults: Map<string, Fault>;
  /** The results service's runtime token (the JWT the runner gives JavaScript actions). */
  runtimeToken: string;
  uploads: { id: number; name: string; bytes: Buffer }[];
  extraRoutes: ExtraRoute[];
}

/** An unsigned JWT with the claim @actions/artifact reads its backend ids from. */
export function fakeRuntimeToken(): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ scp: 'Actions.GenericRead:1 Actions.Results:run-backend-1:job-backend-1' })}.c2ln`;
}

/** A request GitHub's REST description forbids, and what is wrong with it. */
export interface SpecViolation {
  method: string;
  /** The path as received (base prefix included) and its query string. */
  path: string;
  /** The operation it matched (e.g. "checks/create"), or null when none did. */
  operationId: string | null;
  problems: string[];
}

/**
 * What this fake serves that is not part of api.github.com's REST API, so not in its description:
 * each is checked by what it is, not skipped by accident.
 */
export const NOT_REST: { method: string; pattern: RegExp; example: string; why: string }[] = [
  {
    method: 'POST',
    pattern: /^\/graphql$/,
    example: '/graphql',
    why: 'the GraphQL API: one endpoint whose queries GitHub describes in its GraphQL schema, not in the REST description',
  },
  {
    method: 'GET',
    pattern: /^\/blobs\/\d+$/,
    example: '/blobs/1001',
    why: 'an artifact download: the pre-signed storage URL GET /repos/{o}/{r}/actions/artifacts/{id}/zip redirects to (blob storage, not api.github.com)',
  },
  {
    method: 'POST',
    pattern: /^\/twirp\/github\.actions\.results\.api\.v1\.ArtifactService\/\w+$/,
    example: '/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact',
    why: "the Actions results service (ACTIONS_RESULTS_URL) @actions/artifact uploads through: a twirp API on the runner's backend, not REST",
  },
  {
    method: 'PUT',
    pattern: /^\/upload\/devstoreaccount1\/actions-results\/.+\.zip$/,
    example: '/upload/devstoreaccount1/actions-results/run-backend-1%2Freport.zip',
    why: 'the signed upload URL the results service hands out: Azure Blob Storage (Put Block, Put Block List), not api.github.com',
  },
];

export interface FakeGitHub {
  /** The server's root; the REST API is at `url + basePath`. */
  url: string;
  /** The REST API's prefix ('' like api.github.com, '/api/v3' like GitHub Enterprise Server). */
  basePath: string;
  /** Requests GitHub's REST description forbids (answered 422). */
  violations: SpecViolation[];
  state: FakeState;
  requests: RecordedRequest[];
  /** Requests whose route matches, e.g. "POST check-runs". */
  calls(route: string): RecordedRequest[];
  close(): Promise<void>;
  closed: boolean;
  /** The repository's git objects, refs and pull requests (test/helpers/fake-git.ts). */
  git: FakeGit;
}

let nextId = 1000;

/** Every fake this process started, until its violations have been looked at. */
const started = new Set<FakeGitHub>();

/**
 * Throws when a fake answered a request GitHub's REST description forbids since the last call: the
 * test that sent it fails, naming the request and the problems. Every test file that starts a fake
 * runs it after each test: `afterEach(() => expectNoViolations())`. Given a fake, only that one's.
 * The violations it reports are cleared.
 */
export function expectNoViolations(fake?: FakeGitHub): void {
  const fakes = fake && Array.isArray(fake.violations) ? [fake] : [...started];
  const found: SpecViolation[] = [];
  for (const f of fakes) {
    found.push(...f.violations.splice(0));
    if (f.closed) started.delete(f);
  }
  if (found.length) {
    throw new Error(`requests GitHub's REST description forbids:\n${found.map((v) => `  ${v.method} ${v.path}${v.operationId ? ` (${v.operationId})` : ''}: ${v.problems.join('; ')}`).join('\n')}`);
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

function paginate<T>(req: IncomingMessage, base: string, items: T[], query: Record<string, string>): { page: T[]; link: string | null } {
  const perPage = Math.min(100, Math.max(1, Number(query['per_page'] ?? 30)));
  const page = Math.max(1, Number(query['page'] ?? 1));
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const pageItems = items.slice((page - 1) * perPage, page * perPage);
  const url = (p: number): string => {
    const u = new URL(base + (req.url ?? '').split('?')[0]);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    u.searchParams.set('per_page', String(perPage));
    u.searchParams.set('page', String(p));
    return u.toString();
  };
  const links: string[] = [];
  if (page < last) links.push(`<${url(page + 1)}>; rel="next"`, `<${url(last)}>; rel="last"`);
  if (page > 1) links.push(`<${url(1)}>; rel="first"`, `<${url(page - 1)}>; rel="prev"`);
  return { page: pageItems, link: links.length ? links.join(', ') : null };
}

export async function startFakeGitHub(init: Partial<Pick<FakeState, 'owner' | 'repo' | 'token' | 'viewer'>> & { basePath?: string } = {}): Promise<FakeGitHub> {
  // Read before the server answers anything: the first request must not wait seconds for it.
  loadGitHubDescription();
  const basePath = (init.basePath ?? '').replace(/\/+$/, '');
  const violations: SpecViolation[] = [];
  const state: FakeState = {
    owner: init.owner ?? 'octo-org',
    repo: init.repo ?? 'trading-policies',
    token: init.token ?? 'ghs_testtoken',
    viewer: init.viewer ?? 'github-actions[bot]',
    pullFiles: new Map(),
    comments: new Map(),
    checkRuns: [],
    runs: new Map(),
    artifacts: [],
    faults: new Map(),
    runtimeToken: fakeRuntimeToken(),
    uploads: [],
    extraRoutes: [],
  };
  const staged = new Map<string, Map<string, Buffer>>();
  const pending = new Map<string, { name: string; bytes: Buffer | null }>();
  const requests: RecordedRequest[] = [];
  let base = '';

  const handle = (req: IncomingMessage, res: ServerResponse, rawBytes: Buffer): void => {
    const rawBody = rawBytes.toString('utf8');
    const u = new URL(req.url ?? '/', base);
    const query = Object.fromEntries(u.searchParams.entries());
    const method = req.method ?? 'GET';
    // Under a base path (GHES): REST at {basePath}/..., GraphQL at /api/graphql.
    let path = u.pathname;
    if (basePath) {
      if (path === '/api/graphql') path = '/graphql';
      else if (path.startsWith(`${basePath}/`)) path = path.slice(basePath.length);
    }
    let body: unknown;
    if (rawBody) {
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = rawBody;
      }
    }
    const record = (route: string, status: number): void => {
      requests.push({ method, path, query, route, headers: req.headers, body, rawBody, status });
    };

    if (!NOT_REST.some((x) => x.method === method && x.pattern.test(path))) {
      const rest = basePath && !u.pathname.startsWith(`${basePath}/`) ? null : path;
      const check =
        rest === null
          ? { operationId: null, problems: [`${method} ${u.pathname} is outside the REST API's base path ${basePath}`] }
          : checkRequest({ method, path: rest, search: u.searchParams, body: rawBytes.length ? body : undefined, contentType: String(req.headers['content-type'] ?? '') });
      if (check.problems.length) {
        violations.push({ method, path: u.pathname + u.search, operationId: check.operationId, problems: check.problems });
        record('spec violation', 422);
        return json(res, 422, {
          message: `fake-github: GitHub's REST description forbids this request: ${check.problems.join('; ')}`,
          errors: check.problems,
          documentation_url: 'https://docs.github.com/rest',
        });
      }
    }

    // Blob downloads are pre-signed URLs: no token (like Azure blob storage).
    const blob = /^\/blobs\/(\d+)$/.exec(path);
    if (method === 'GET' && blob) {
      const blobFault = state.faults.get('GET blob');
      if (blobFault && (blobFault.times === undefined || blobFault.times > 0)) {
        if (blobFault.times !== undefined) blobFault.times--;
        if (blobFault.times === 0 && blobFault.then) state.faults.set('GET blob', blobFault.then);
        record('GET blob', blobFault.status);
        if (blobFault.transport === 'reset') return void req.socket.destroy();
        return json(res, blobFault.status, blobFault.body ?? { message: 'injected fault' }, blobFault.headers ?? {});
      }
      const a = state.artifacts.find((x) => x.id === Number(blob[1]));
      record('GET blob', a ? 200 : 404);
      if (!a) return json(res, 404, { message: 'Not Found' });
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(a.bytes.length) });
      res.end(a.bytes);
      return;
    }

    // The results service (twirp, JSON) and its signed blob URLs.
    const twirp = /^\/twirp\/github\.actions\.results\.api\.v1\.ArtifactService\/(\w+)$/.exec(path);
    if (method === 'POST' && twirp) {
      if (req.headers['authorization'] !== `Bearer ${state.runtimeToken}`) {
        record('twirp unauthorized', 401);
        return json(res, 401, { code: 'unauthenticated', msg: 'bad runtime token' });
      }
      const twirpFault = state.faults.get(`twirp ${twirp[1]}`);
      if (twirpFault && (twirpFault.times === undefined || twirpFault.times > 0)) {
        if (twirpFault.times !== undefined) twirpFault.times--;
        record(`twirp ${twirp[1]}`, twirpFault.status);
        return json(res, twirpFault.status, twirpFault.body ?? { code: 'internal', msg: 'injected fault' }, twirpFault.headers ?? {});
      }
      const b = body as { name?: string; workflowRunBackendId?: string };
      if (twirp[1] === 'CreateArtifact') {
        const key = `${b.workflowRunBackendId}/${b.name}`;
        pending.set(key, { name: b.name!, bytes: null });
        record('twirp CreateArtifact', 200);
        return json(res, 200, { ok: true, signedUploadUrl: `${base}/upload/devstoreaccount1/actions-results/${encodeURIComponent(key)}.zip?sig=signed` });
      }
      if (twirp[1] === 'FinalizeArtifact') {
        const key = `${b.workflowRunBackendId}/${b.name}`;
        const p = pending.get(key);
        if (!p?.bytes) {
          record('twirp FinalizeArtifact', 404);
          return json(res, 404, { code: 'not_found', msg: 'no upload' });
        }
        const id = nextId++;
        state.uploads.push({ id, name: p.name, bytes: p.bytes });
        record('twirp FinalizeArtifact', 200);
        return json(res, 200, { ok: true, artifactId: String(id) });
      }
      record(`twirp ${twirp[1]}`, 404);
      return json(res, 404, { code: 'bad_route', msg: 'not implemented' });
    }
    const upload = /^\/upload\/devstoreaccount1\/actions-results\/(.+)\.zip$/.exec(path);
    if (method === 'PUT' && upload) {
      const key = decodeURIComponent(upload[1]!);
      const blocks = staged.get(key) ?? new Map<string, Buffer>();
      staged.set(key, blocks);
      const headers = { 'x-ms-request-id': `req-${nextId++}`, 'x-ms-version': '2025-01-05', date: new Date().toUTCString(), etag: '"0x1"', 'last-modified': new Date().toUTCString() };
      if (query['comp'] === 'block') {
        blocks.set(query['blockid']!, Buffer.from(rawBytes));
        record('PUT block', 201);
        res.writeHead(201, headers).end();
        return;
      }
      if (query['comp'] === 'blocklist') {
        const ids = [...rawBody.matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]+)<\//g)].map((m) => m[1]!);
        const p = pending.get(key);
        if (p) p.bytes = Buffer.concat(ids.map((id) => blocks.get(id) ?? Buffer.alloc(0)));
        record('PUT blocklist', 201);
        res.writeHead(201, headers).end();
        return;
      }
      // A single-shot upload (PUT without comp).
      const p = pending.get(key);
      if (p) p.bytes = Buffer.from(rawBytes);
      record('PUT blob', 201);
      res.writeHead(201, headers).end();
      return;
    }

    const auth = String(req.headers['authorization'] ?? '');
    if (auth !== `token ${state.token}` && auth !== `bearer ${state.token}` && auth !== `Bearer ${state.token}`) {
      record('unauthorized', 401);
      return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    }

    const repoPrefix = `/repos/${state.owner}/${state.repo}`;
    const routes: [string, RegExp, (m: RegExpExecArray) => void][] = [
      ['POST graphql', /^\/graphql$/, () => json(res, 200, { data: { viewer: { login: state.viewer } } })],
      [
        'GET pulls/files',
        new RegExp(`^${repoPrefix}/pulls/(\\d+)/files$`),
        (m) => {
          const files = state.pullFiles.get(Number(m[1])) ?? [];
          const p = paginate(
            req,
            base,
            files.map((f, i) => ({ sha: `${i}`.padStart(40, '0'), additions: 1, deletions: 0, changes: 1, ...f })),
            query,
          );
          json(res, 200, p.page, p.link ? { link: p.link } : {});
        },
      ],
      [
        'POST check-runs',
        new RegExp(`^${repoPrefix}/check-runs$`),
        () => {
          const b = body as { name: string; head_sha: string; status?: string; conclusion?: string; output?: FakeCheckRun['output'] };
          const run: FakeCheckRun = {
            id: nextId++,
            name: b.name,
            head_sha: b.head_sha,
            status: b.status ?? 'queued',
            conclusion: b.conclusion ?? null,
            output: b.output ?? null,
            history: [{ status: b.status ?? 'queued', conclusion: b.conclusion ?? null }],
          };
          state.checkRuns.push(run);
          json(res, 201, { id: run.id, name: run.name, head_sha: run.head_sha, status: run.status });
        },
      ],
      [
        'PATCH check-runs',
        new RegExp(`^${repoPrefix}/check-runs/(\\d+)$`),
        (m) => {
          const run = state.checkRuns.find((r) => r.id === Number(m[1]));
          if (!run) return json(res, 404, { message: 'Not Found' });
          const b = body as { status?: string; conclusion?: string; output?: FakeCheckRun['output'] };
          if (b.status) run.status = b.status;
          if (b.conclusion) run.conclusion = b.conclusion;
          if (b.output) run.output = b.output;
          run.history.push({ status: run.status, conclusion: run.conclusion });
          json(res, 200, { id: run.id, status: run.status, conclusion: run.conclusion });
        },
      ],
      [
        'GET comments',
        new RegExp(`^${repoPrefix}/issues/(\\d+)/comments$`),
        (m) => {
          const list = state.comments.get(Number(m[1])) ?? [];
          const p = paginate(req, base, list, query);
          json(res, 200, p.page, p.link ? { link: p.link } : {});
        },
      ],
      [
        'POST comments',
        new RegExp(`^${repoPrefix}/issues/(\\d+)/comments$`),
        (m) => {
          const n = Number(m[1]);
          const c: FakeComment = { id: nextId++, body: String((body as { body: string }).body), user: { login: state.viewer, type: 'Bot' }, created_at: new Date().toISOString() };
          state.comments.set(n, [...(state.comments.get(n) ?? []), c]);
          json(res, 201, c);
        },
      ],
      [
        'PATCH comments',
        new RegExp(`^${repoPrefix}/issues/comments/(\\d+)$`),
        (m) => {
          for (const list of state.comments.values()) {
            const c = list.find((x) => x.id === Number(m[1]));
            if (c) {
              c.body = String((body as { body: string }).body);
              return json(res, 200, c);
            }
          }
          json(res, 404, { message: 'Not Found' });
        },
      ],
      [
        'DELETE comments',
        new RegExp(`^${repoPrefix}/issues/comments/(\\d+)$`),
        (m) => {
          for (const [n, list] of state.comments)
            state.comments.set(
              n,
              list.filter((x) => x.id !== Number(m[1])),
            );
          res.writeHead(204);
          res.end();
        },
      ],
      [
        'GET run',
        new RegExp(`^${repoPrefix}/actions/runs/(\\d+)$`),
        (m) => {
          const run = state.runs.get(Number(m[1]));
          if (!run) return json(res, 404, { message: 'Not Found' });
          json(res, 200, { id: Number(m[1]), head_sha: run.head_sha, status: 'completed', conclusion: 'success' });
        },
      ],
      [
        'GET run artifacts',
        new RegExp(`^${repoPrefix}/actions/runs/(\\d+)/artifacts$`),
        (m) => {
          const list = state.artifacts.filter((a) => a.runId === Number(m[1]) && (query['name'] === undefined || a.name === query['name']));
          json(res, 200, {
            total_count: list.length,
            artifacts: list.map((a) => ({
              id: a.id,
              name: a.name,
              size_in_bytes: a.bytes.length,
              created_at: '2024-09-11T12:00:00Z',
              expired: false,
              ...(a.digest ? { digest: a.digest } : {}),
              workflow_run: { id: a.runId },
            })),
          });
        },
      ],
      [
        'GET artifact zip',
        new RegExp(`^${repoPrefix}/actions/artifacts/(\\d+)/zip$`),
        (m) => {
          const a = state.artifacts.find((x) => x.id === Number(m[1]));
          if (!a) return json(res, 404, { message: 'Not Found' });
          res.writeHead(302, { location: `${base}/blobs/${a.id}?sig=signed` });
          res.end();
        },
      ],
    ];

    for (const r of state.extraRoutes) {
      routes.push([r.route, r.pattern, (m) => r.handle(m, { query, body: body ?? {}, base, url: req.url ?? '' }, (status, b, headers) => json(res, status, b, headers))]);
    }
    for (const [route, re, fn] of routes) {
      if (route.split(' ')[0] !== method) continue;
      const m = re.exec(path);
      if (!m) continue;
      const fault = state.faults.get(route);
      if (fault && (fault.times === undefined || fault.times > 0)) {
        if (fault.times !== undefined) fault.times--;
        if (fault.times === 0 && fault.then) state.faults.set(route, fault.then);
        record(route, fault.status);
        if (fault.transport === 'reset') return void req.socket.destroy();
        if (fault.transport === 'hang') return;
        if (fault.transport === 'truncate') {
          const text = JSON.stringify(fault.body ?? { message: 'injected fault', padding: 'x'.repeat(200) });
          res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
          res.write(text.slice(0, text.length >> 1));
          setTimeout(() => req.socket.destroy(), 5);
          return;
        }
        return json(res, fault.status, fault.body ?? { message: 'injected fault' }, fault.headers ?? {});
      }
      const before = res.statusCode;
      fn(m);
      record(route, res.statusCode || before);
      return;
    }
    record(`unknown ${method} ${path}`, 404);
    json(res, 404, { message: `fake-github: no route for ${method} ${path}` });
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fake: FakeGitHub = {
    url: base,
    basePath,
    violations,
    state,
    requests,
    calls: (route) => requests.filter((r) => r.route === route),
    closed: false,
    close: () =>
      new Promise<void>((resolve) => {
        fake.closed = true;
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    git: undefined as unknown as FakeGit,
  };
  fake.git = installFakeGit(fake);
  started.add(fake);
  return fake;
}

/** `count` comments by other people, with ascending ids and times. */
export function seedComments(fake: FakeGitHub, issue: number, count: number, make: (i: number) => Partial<FakeComment> = () => ({})): void {
  const list = fake.state.comments.get(issue) ?? [];
  for (let i = 0; i < count; i++) {
    list.push({
      id: nextId++,
      body: `comment ${i}`,
      user: { login: `reviewer-${i % 7}`, type: 'User' },
      created_at: new Date(Date.UTC(2024, 8, 1, 0, i)).toISOString(),
      ...make(i),
    });
  }
  fake.state.comments.set(issue, list);
}
