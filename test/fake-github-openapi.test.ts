/**
 * The loopback GitHub checks every REST request against GitHub's published description
 * (@octokit/openapi): a request the description allows is served; one it forbids is answered 422,
 * naming the problem, and listed in `fake.violations` — which fails the test that sent it
 * (expectNoViolations, run after each test by every file that starts a fake).
 */
import { getOctokit } from '@actions/github';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectNoViolations, NOT_REST, startFakeGitHub, type FakeGitHub } from './helpers/fake-github.js';
import { checkRequest, findOperation, toJsonSchema } from './helpers/github-openapi.js';

const TOKEN = 'ghs_openapiTestToken0123456789';
const repo = { owner: 'octo-org', repo: 'trading-policies' };
const SHA = 'a'.repeat(40);
let fake: FakeGitHub;
let octokit: ReturnType<typeof getOctokit>;

beforeEach(async () => {
  fake = await startFakeGitHub({ ...repo, token: TOKEN });
  octokit = getOctokit(TOKEN, { baseUrl: fake.url });
});
afterEach(async () => {
  await fake.close();
  expectNoViolations();
});

/** The request's error, which must be the fake's 422. */
async function rejected(p: Promise<unknown>): Promise<{ status: number; message: string }> {
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as { status?: number; response?: { data?: { message?: string } } } | null;
  expect(err, 'the request should have been refused').not.toBeNull();
  return { status: err!.status ?? 0, message: err!.response?.data?.message ?? '' };
}

/** The one violation recorded; clears it, so that the file's afterEach passes. */
function takeOnlyViolation(): FakeGitHub['violations'][number] {
  expect(fake.violations).toHaveLength(1);
  return fake.violations.splice(0)[0]!;
}

describe('requests the description allows', () => {
  it('checks.create and checks.update through the real client are served and leave no violation', async () => {
    const created = await octokit.rest.checks.create({
      ...repo,
      name: 'policy-gate',
      head_sha: SHA,
      status: 'in_progress',
      output: { title: 'Evaluating', summary: 'running' },
    });
    expect(created.status).toBe(201);
    const updated = await octokit.rest.checks.update({ ...repo, check_run_id: created.data.id, conclusion: 'success', output: { title: 'PASS', summary: 'ok' } });
    expect(updated.status).toBe(200);
    expect(fake.state.checkRuns[0]).toMatchObject({ conclusion: 'success' });
    expect(fake.violations).toEqual([]);
    expect(() => expectNoViolations(fake)).not.toThrow();
  });

  it('paginated lists with per_page/page, and a GHES base path (/api/v3, GraphQL at /api/graphql)', async () => {
    await fake.close();
    fake = await startFakeGitHub({ ...repo, token: TOKEN, basePath: '/api/v3' });
    const ghes = getOctokit(TOKEN, { baseUrl: `${fake.url}/api/v3` });
    fake.state.pullFiles.set(
      3,
      Array.from({ length: 5 }, (_, i) => ({ filename: `f${i}.json`, status: 'added' })),
    );
    const files = await ghes.paginate(ghes.rest.pulls.listFiles, { ...repo, pull_number: 3, per_page: 2 });
    expect(files).toHaveLength(5);
    expect(fake.calls('GET pulls/files').map((r) => r.query['page'] ?? '1')).toEqual(['1', '2', '3']);
    const viewer = await ghes.graphql<{ viewer: { login: string } }>('query { viewer { login } }');
    expect(viewer.viewer.login).toBe('github-actions[bot]');
    expect(fake.violations).toEqual([]);
  });

  it('a multi-segment path parameter (a file path with slashes) matches its operation', () => {
    const found = findOperation('GET', '/repos/o/r/contents/models/policy/card.json');
    expect(found?.op.operationId).toBe('repos/get-content');
    expect(found?.params['path']).toBe('models/policy/card.json');
    // A literal segment wins over a parameter: pulls/comments is not pull number "comments".
    expect(findOperation('GET', '/repos/o/r/pulls/comments')?.op.operationId).toBe('pulls/list-review-comments-for-repo');
  });
});

describe('requests the description forbids are answered 422 and recorded', () => {
  it('a body with a value outside an enum (conclusion: "passed")', async () => {
    const r = await rejected(octokit.rest.checks.create({ ...repo, name: 'policy-gate', head_sha: SHA, conclusion: 'passed' as 'success' }));
    expect(r.status).toBe(422);
    expect(r.message).toContain('body.conclusion must be one of');
    const v = takeOnlyViolation();
    expect(v).toMatchObject({ method: 'POST', path: '/repos/octo-org/trading-policies/check-runs', operationId: 'checks/create' });
    expect(v.problems).toEqual([expect.stringMatching(/^body\.conclusion must be one of "action_required", .*"success"/)]);
    expect(fake.state.checkRuns).toEqual([]); // not served
  });

  it('a body without a required field (head_sha)', async () => {
    const r = await rejected(octokit.request('POST /repos/{owner}/{repo}/check-runs', { ...repo, name: 'policy-gate' } as never));
    expect(r.status).toBe(422);
    expect(r.message).toContain('body.head_sha is required');
    expect(takeOnlyViolation().problems).toEqual(['body.head_sha is required']);
  });

  it('completing a check run without a conclusion (the update schema requires one with status: completed)', async () => {
    const created = await octokit.rest.checks.create({ ...repo, name: 'policy-gate', head_sha: SHA });
    await rejected(octokit.rest.checks.update({ ...repo, check_run_id: created.data.id, status: 'completed' }));
    expect(takeOnlyViolation().problems).toContain('body.conclusion is required');
  });

  it('a path no operation has', async () => {
    const r = await rejected(octokit.request('GET /repos/{owner}/{repo}/check-runs/{id}/verdict', { ...repo, id: 5 }));
    expect(r.status).toBe(422);
    const v = takeOnlyViolation();
    expect(v.operationId).toBeNull();
    expect(v.problems).toEqual(["GET /repos/octo-org/trading-policies/check-runs/5/verdict is not an operation of GitHub's REST API"]);
  });

  it('a method the path does not take', async () => {
    await rejected(octokit.request('DELETE /repos/{owner}/{repo}/check-runs/{check_run_id}', { ...repo, check_run_id: 5 }));
    expect(takeOnlyViolation().problems[0]).toMatch(/^DELETE .* is not an operation/);
  });

  it('a query parameter of the wrong type (per_page=lots), and one the operation does not declare', async () => {
    const r = await rejected(octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/files', { ...repo, pull_number: 3, per_page: 'lots' } as never));
    expect(r.status).toBe(422);
    expect(r.message).toContain('query parameter per_page must be integer');
    expect(takeOnlyViolation().problems).toEqual(['query parameter per_page must be integer']);

    await rejected(octokit.request('GET /repos/{owner}/{repo}/pulls/{pull_number}/files', { ...repo, pull_number: 3, sort: 'newest' } as never));
    expect(takeOnlyViolation().problems).toEqual(['query parameter sort is not a parameter of pulls/list-files']);
  });

  it('a path parameter its schema rejects (a check run id that is not a number)', async () => {
    await rejected(octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', { ...repo, check_run_id: 'latest', status: 'in_progress' } as never));
    expect(takeOnlyViolation().problems).toEqual(['path parameter check_run_id must be integer']);
  });

  it('fails the test that sent it: expectNoViolations throws, naming request and problem, then starts clean', async () => {
    await rejected(octokit.rest.checks.create({ ...repo, name: 'policy-gate', head_sha: SHA, conclusion: 'passed' as 'success' }));
    expect(() => expectNoViolations()).toThrow(/POST \/repos\/octo-org\/trading-policies\/check-runs \(checks\/create\): body\.conclusion must be one of/);
    expect(fake.violations).toEqual([]);
    expect(() => expectNoViolations()).not.toThrow();
  });
});

describe('the checker itself', () => {
  it('query values are coerced as the schema says: integers and booleans from text, and checked after', () => {
    const check = (q: string) => checkRequest({ method: 'GET', path: '/repos/o/r/actions/runs/7/artifacts', search: new URLSearchParams(q), body: undefined }).problems;
    expect(check('per_page=100&page=2&name=policy-gate-report')).toEqual([]);
    expect(check('per_page=1.5')).toEqual(['query parameter per_page must be integer']);
    const bools = (q: string) => checkRequest({ method: 'GET', path: '/repos/o/r/pulls/comments', search: new URLSearchParams(q), body: undefined }).problems;
    expect(bools('direction=asc')).toEqual([]);
    expect(bools('direction=up')[0]).toMatch(/^query parameter direction must be one of "asc", "desc"/);
  });

  it("OpenAPI 3.0's nullable becomes a null type (and a null enum member)", () => {
    expect(toJsonSchema({ type: 'string', nullable: true, enum: ['a'] })).toEqual({ type: ['string', 'null'], enum: ['a', null] });
    expect(toJsonSchema({ oneOf: [{ type: 'string' }, { type: 'integer' }], nullable: true })).toEqual({ anyOf: [{ oneOf: [{ type: 'string' }, { type: 'integer' }] }, { type: 'null' }] });
    expect(toJsonSchema({ type: 'object', properties: { description: { type: 'string', nullable: false } } })).toEqual({ type: 'object', properties: { description: { type: 'string' } } });
  });

  it('what is exempt is not REST: no operation of the description has those paths, and each says why', () => {
    expect(NOT_REST.map((x) => x.method)).toEqual(['POST', 'GET', 'POST', 'PUT']);
    for (const x of NOT_REST) {
      expect(x.pattern.test(x.example)).toBe(true);
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) expect(findOperation(method, x.example), `${method} ${x.example}`).toBeNull();
      expect(x.why.length).toBeGreaterThan(20);
    }
    // While a REST request on the same server is checked.
    expect(findOperation('GET', '/repos/o/r/actions/artifacts/1001/zip')?.op.operationId).toBe('actions/download-artifact');
  });
});
