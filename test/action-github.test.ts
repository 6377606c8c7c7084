/**
 * The GitHub side against the loopback fake, through the real octokit client: the sticky comment
 * (pagination, author + marker matching, update in place, no-op when unchanged, duplicates removed,
 * 403), the check-run lifecycle, the token's identity, and the retry policy on the wire.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { completeCheck, startCheck } from '../src/action/checks.js';
import { ACTIONS_BOT, STICKY_MARKER, commentBody, tokenIdentity, upsertStickyComment } from '../src/action/comment.js';
import { createGitHub, type GitHubClient } from '../src/action/github.js';
import { expectNoViolations, type FakeGitHub, seedComments, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_unitTokenValue0123456789';
const repo = { owner: 'octo-org', repo: 'trading-policies' };
let fake: FakeGitHub;
let gh: GitHubClient;
let waits: number[];

beforeEach(async () => {
  fake = await startFakeGitHub({ ...repo, token: TOKEN });
  waits = [];
  gh = createGitHub({ token: TOKEN, baseUrl: fake.url, sleep: async (ms) => void waits.push(ms) });
});
afterEach(() => fake.close());

const ours = (n: number) => fake.state.comments.get(n)!.filter((c) => c.user.login === ACTIONS_BOT);

describe('sticky comment', () => {
  it('is created once, found again past the first page, updated in place; a user comment with the marker is never touched', async () => {
    seedComments(fake, 7, 150, (i) => (i === 3 ? { body: `${STICKY_MARKER} hijack attempt` } : {}));
    const identity = await tokenIdentity(gh);
    expect(identity).toBe('github-actions[bot]');

    const first = await upsertStickyComment(gh, repo, 7, commentBody('## result 1', 'note'), identity);
    expect(first).toMatchObject({ kind: 'created' });
    expect(fake.calls('GET comments').map((r) => r.query['page'] ?? '1')).toEqual(['1', '2']);
    expect(fake.calls('GET comments')[0]!.query['per_page']).toBe('100');

    seedComments(fake, 7, 60); // the bot's comment is now on page 2 of 3
    const second = await upsertStickyComment(gh, repo, 7, commentBody('## result 2', 'note'), identity);
    expect(second).toEqual({ kind: 'updated', id: (first as { id: number }).id, duplicatesRemoved: 0 });
    expect(ours(7)).toHaveLength(1);
    expect(ours(7)[0]!.body).toBe(`${STICKY_MARKER}\n## result 2`);
    expect(fake.state.comments.get(7)![3]!.body).toBe(`${STICKY_MARKER} hijack attempt`);
    expect(fake.calls('PATCH comments').map((r) => r.path)).toEqual([`/repos/octo-org/trading-policies/issues/comments/${(first as { id: number }).id}`]);
  });

  it('skips the PATCH when the body is unchanged', async () => {
    const body = commentBody('## same', 'note');
    await upsertStickyComment(gh, repo, 8, body, ACTIONS_BOT);
    const again = await upsertStickyComment(gh, repo, 8, body, ACTIONS_BOT);
    expect(again.kind).toBe('unchanged');
    expect(fake.calls('PATCH comments')).toHaveLength(0);
  });

  it('converges to one comment when a race left two: the oldest is kept, the rest deleted', async () => {
    seedComments(fake, 9, 2, (i) => ({ body: `${STICKY_MARKER}\nold ${i}`, user: { login: ACTIONS_BOT, type: 'Bot' } }));
    seedComments(fake, 9, 1, () => ({ body: `${STICKY_MARKER}\nby a person`, user: { login: 'mallory', type: 'User' } }));
    const oldest = fake.state.comments.get(9)![0]!.id;
    const r = await upsertStickyComment(gh, repo, 9, commentBody('new', 'note'), ACTIONS_BOT);
    expect(r).toEqual({ kind: 'updated', id: oldest, duplicatesRemoved: 1 });
    expect(ours(9).map((c) => c.id)).toEqual([oldest]);
    expect(fake.state.comments.get(9)!.some((c) => c.user.login === 'mallory')).toBe(true);
  });

  it('does not create a comment when asked not to, and reports a 403 as denied', async () => {
    expect(await upsertStickyComment(gh, repo, 10, 'x', ACTIONS_BOT, { createIfMissing: false })).toEqual({ kind: 'absent' });
    fake.state.faults.set('POST comments', { status: 403, body: { message: 'Resource not accessible by integration' } });
    const denied = await upsertStickyComment(gh, repo, 10, 'x', ACTIONS_BOT);
    expect(denied).toMatchObject({ kind: 'denied' });
    expect((denied as { reason: string }).reason).toMatch(/Resource not accessible by integration/);
    expect(fake.calls('POST comments')).toHaveLength(1);
  });

  it('identity: a GitHub App or user token is matched by its own login; GraphQL failure falls back to github-actions[bot]', async () => {
    fake.state.viewer = 'policy-bot[bot]';
    expect(await tokenIdentity(gh)).toBe('policy-bot[bot]');
    fake.state.faults.set('POST graphql', { status: 403, body: { message: 'Resource not accessible by integration' } });
    const lines: string[] = [];
    expect(await tokenIdentity(gh, (l) => lines.push(l))).toBe(ACTIONS_BOT);
    expect(lines[0]).toMatch(/assuming github-actions\[bot\]/);
  });
});

describe('check run', () => {
  it('is created in_progress on the given commit and completed with the conclusion and trimmed output', async () => {
    const sha = 'a'.repeat(40);
    const started = await startCheck(gh, repo, sha, { externalId: '1:1', detailsUrl: 'https://github.com/o/r/actions/runs/1', now: new Date(0) });
    expect(started).toMatchObject({ kind: 'created', headSha: sha });
    await completeCheck(gh, repo, (started as { id: number }).id, { conclusion: 'neutral', title: 'T', summary: 'x\n'.repeat(40_000), trimNote: 'trimmed' }, new Date(1000));
    const run = fake.state.checkRuns[0]!;
    expect(run).toMatchObject({ name: 'policy-gate', head_sha: sha, status: 'completed', conclusion: 'neutral' });
    expect(run.history).toEqual([
      { status: 'in_progress', conclusion: null },
      { status: 'completed', conclusion: 'neutral' },
    ]);
    expect(run.output!.summary!.length).toBeLessThanOrEqual(65_535);
    expect(run.output!.summary!.endsWith('trimmed\n')).toBe(true);
    expect(fake.calls('PATCH check-runs')[0]!.body).toMatchObject({ completed_at: '1970-01-01T00:00:01.000Z' });
  });

  it('a 403 (read-only token) is "denied", not an error', async () => {
    fake.state.faults.set('POST check-runs', { status: 403, body: { message: 'Resource not accessible by integration' } });
    const r = await startCheck(gh, repo, 'b'.repeat(40), { externalId: null, detailsUrl: null, now: new Date(0) });
    expect(r.kind).toBe('denied');
  });
});

describe('retries on the wire', () => {
  it('a 502 is retried with back-off and then succeeds', async () => {
    fake.state.faults.set('POST check-runs', { status: 502, times: 2 });
    const r = await startCheck(gh, repo, 'c'.repeat(40), { externalId: null, detailsUrl: null, now: new Date(0) });
    expect(r.kind).toBe('created');
    expect(fake.calls('POST check-runs').map((c) => c.status)).toEqual([502, 502, 201]);
    expect(waits).toEqual([1000, 2000]);
  });

  it('a secondary rate limit (403 + Retry-After) waits that long, then succeeds', async () => {
    fake.state.faults.set('POST comments', { status: 403, times: 1, headers: { 'retry-after': '2' }, body: { message: 'You have exceeded a secondary rate limit' } });
    const r = await upsertStickyComment(gh, repo, 11, 'body', ACTIONS_BOT);
    expect(r.kind).toBe('created');
    expect(waits).toEqual([2000]);
    expect(fake.calls('POST comments')).toHaveLength(2);
  });

  it('a 422 is not retried; a 500 that persists gives up after 3 retries', async () => {
    fake.state.faults.set('PATCH comments', { status: 422 });
    seedComments(fake, 12, 1, () => ({ body: `${STICKY_MARKER}\nold`, user: { login: ACTIONS_BOT, type: 'Bot' } }));
    await expect(upsertStickyComment(gh, repo, 12, 'new', ACTIONS_BOT)).rejects.toMatchObject({ status: 422 });
    expect(fake.calls('PATCH comments')).toHaveLength(1);
    fake.state.faults.set('GET pulls/files', { status: 500 });
    await expect(gh.paginate(gh.rest.pulls.listFiles, { ...repo, pull_number: 1, per_page: 100 })).rejects.toMatchObject({ status: 500 });
    expect(fake.calls('GET pulls/files')).toHaveLength(4);
    expect(waits).toEqual([1000, 2000, 4000]);
  });

  it('sends the token only to the API, as an Authorization header', async () => {
    await startCheck(gh, repo, 'd'.repeat(40), { externalId: null, detailsUrl: null, now: new Date(0) });
    const req = fake.calls('POST check-runs')[0]!;
    expect(req.headers['authorization']).toBe(`token ${TOKEN}`);
    expect(req.rawBody).not.toContain(TOKEN);
  });
});
