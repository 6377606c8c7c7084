/**
 * Promotion and demotion pull requests against the loopback GitHub (test/helpers/fake-git.ts), through
 * the real octokit client: one branch and one pull request per promotion, updated on a rerun; a ref
 * that moved under the update (422 "not a fast forward") is re-read and re-applied until it converges;
 * a branch created concurrently is continued, a branch left by a merged pull request restarted; the
 * promotion commits exactly what `policy-gate promote` writes locally; a model whose bytes differ from
 * the report is refused before any write; the pull request's own check run passes on the evidence.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/schema.js';
import { reportJson } from '../src/app/output.js';
import { readDeployFiles, runPromote } from '../src/app/promote.js';
import { runRevalidate } from '../src/app/revalidate.js';
import { runValidate } from '../src/app/validate.js';
import { upsertBranchPullRequest, type FileChange } from '../src/action/branch-pr.js';
import { createGitHub, type GitHubClient } from '../src/action/github.js';
import { DEMOTE_BRANCH, diffDeploy, openDemotionPullRequest, openPromotionPullRequest, pullRequestDeploy, withChangedEntries } from '../src/action/promotion.js';
import { emptyDoc } from '../src/core/promotion.js';
import type { Report } from '../src/core/report.js';
import { sha256 } from '../src/util/hash.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFolder, MODELS_DIR, NOW, tempDir } from './helpers/e2e.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_promotionTokenValue0123456789';
const repo = { owner: 'octo-org', repo: 'trading-policies' };
const PATHS = { paper: 'deploy/paper.json', live: 'deploy/live.json' };
let fake: FakeGitHub;
let gh: GitHubClient;
let archive: string;
let report: Report;
let reportText: string;

beforeAll(async () => {
  archive = exampleFolder();
  const config = defaultConfig();
  config.data.dir = EXAMPLE_DATA;
  report = await runValidate(archive, config, null, { now: NOW, log: () => {}, endMs: undefined, equityOut: null });
  reportText = reportJson(report) + '\n';
}, 60_000);
afterAll(cleanupTempDirs);

beforeEach(async () => {
  await fake?.close();
  fake = await startFakeGitHub({ ...repo, token: TOKEN });
  gh = createGitHub({ token: TOKEN, baseUrl: fake.url, sleep: async () => {} });
});

const noSleep = async (): Promise<void> => {};
const file = (p: string, text: string): FileChange => ({ path: p, content: Buffer.from(text) });

function request(branch: string, changes: (read: (p: string) => Promise<Buffer | null>) => Promise<FileChange[]>, body = 'body') {
  return { base: 'main', branch, title: () => `title of ${branch}`, body: () => body, commitMessage: 'msg', changes, sleep: noSleep };
}

describe('one branch, one pull request', () => {
  it('creates them, and a rerun with the same files makes no commit and no second pull request', async () => {
    const changes = async () => [file('deploy/paper.json', '{"models":{}}\n')];
    const first = await upsertBranchPullRequest(gh, repo, request('policy-gate/promote-1', changes));
    expect(first).toMatchObject({ kind: 'created', number: 1, committed: true, attempts: 1 });
    expect(fake.git.read('policy-gate/promote-1', 'deploy/paper.json')).toBe('{"models":{}}\n');
    expect(fake.git.read('policy-gate/promote-1', 'README.md')).toBe('# trading policies\n');
    expect(fake.calls('POST pulls')).toHaveLength(1);

    const again = await upsertBranchPullRequest(gh, repo, request('policy-gate/promote-1', changes));
    expect(again).toMatchObject({ kind: 'unchanged', number: 1, committed: false, headSha: (first as { headSha: string }).headSha });
    expect(fake.calls('POST git/commits')).toHaveLength(1);
    expect(fake.calls('PATCH pull')).toHaveLength(0);

    const newBody = await upsertBranchPullRequest(gh, repo, request('policy-gate/promote-1', changes, 'a new report'));
    expect(newBody).toMatchObject({ kind: 'updated', number: 1, committed: false });
    expect(fake.git.pulls).toHaveLength(1);
    expect(fake.git.pulls[0]!.body).toBe('a new report');
    // The open pull request is searched by its head branch, every page.
    expect(fake.calls('GET pulls')[0]!.query).toMatchObject({ state: 'open', head: 'octo-org:policy-gate/promote-1', base: 'main', per_page: '100' });
  });

  it('nothing to change on the base branch and no pull request open: nothing is pushed', async () => {
    const res = await upsertBranchPullRequest(
      gh,
      repo,
      request('policy-gate/promote-2', async () => [file('README.md', '# trading policies\n')]),
    );
    expect(res).toEqual({ kind: 'nothing', attempts: 1 });
    expect(fake.calls('POST git/refs')).toHaveLength(0);
    expect(fake.calls('POST pulls')).toHaveLength(0);
  });

  it('a ref update conflict (someone pushed in between) is re-read and re-applied, and converges with both changes', async () => {
    const branch = 'policy-gate/promote-3';
    // The change is a pure function of the state it is applied to: add our id to the list file.
    const addLine = (id: string) => async (read: (p: string) => Promise<Buffer | null>) => {
      const current = (await read('deploy/ids.txt'))?.toString('utf8') ?? '';
      const ids = new Set(current.split('\n').filter(Boolean));
      ids.add(id);
      return [file('deploy/ids.txt', [...ids].sort().join('\n') + '\n')];
    };
    await upsertBranchPullRequest(gh, repo, request(branch, addLine('A')));
    // Between our read and our ref update, another writer pushes to the branch (twice in a row).
    let other = '';
    const otherWriter = () => {
      other = fake.git.commit(branch, { 'deploy/ids.txt': `${fake.git.read(branch, 'deploy/ids.txt')}Z${other ? 'Z' : ''}\n`, 'notes/other.txt': 'kept\n' });
    };
    fake.git.before('PATCH git/refs', otherWriter);
    fake.git.before('PATCH git/refs', otherWriter);
    const res = await upsertBranchPullRequest(gh, repo, request(branch, addLine('B')));
    expect(res).toMatchObject({ kind: 'updated', number: 1, committed: true, attempts: 3 });
    expect(fake.calls('PATCH git/refs').map((r) => r.status)).toEqual([422, 422, 200]);
    // Both writers' changes are on the branch, the other writer's commits are in its history.
    expect(fake.git.read(branch, 'deploy/ids.txt')).toBe('A\nB\nZ\nZZ\n');
    expect(fake.git.read(branch, 'notes/other.txt')).toBe('kept\n');
    expect(fake.git.history(branch)).toContain(other);
    expect(fake.git.pulls).toHaveLength(1);
  });

  it('gives up after the bounded number of attempts, naming the branch', async () => {
    const branch = 'policy-gate/promote-4';
    await upsertBranchPullRequest(
      gh,
      repo,
      request(branch, async () => [file('a.txt', '1\n')]),
    );
    for (let i = 0; i < 5; i++) fake.git.before('PATCH git/refs', () => fake.git.commit(branch, { [`noise-${i}.txt`]: 'x' }));
    await expect(upsertBranchPullRequest(gh, repo, { ...request(branch, async () => [file('a.txt', '2\n')]), maxAttempts: 5 })).rejects.toThrow(
      /^branch policy-gate\/promote-4 kept moving while policy-gate updated it \(5 attempts, last: Update is not a fast forward/,
    );
    expect(fake.calls('PATCH git/refs')).toHaveLength(5);
  });

  it('a branch another run created between our read and our create is continued, never overwritten', async () => {
    const branch = 'policy-gate/promote-5';
    fake.git.before('POST git/refs', () => fake.git.commit(branch, { 'theirs.txt': 'theirs\n' }));
    const res = await upsertBranchPullRequest(
      gh,
      repo,
      request(branch, async () => [file('ours.txt', 'ours\n')]),
    );
    expect(res).toMatchObject({ kind: 'created', attempts: 2 });
    expect(fake.calls('POST git/refs').map((r) => r.status)).toEqual([422]);
    expect(fake.calls('PATCH git/refs').map((r) => [r.status, (r.body as { force: boolean }).force])).toEqual([[200, false]]);
    expect(fake.git.read(branch, 'theirs.txt')).toBe('theirs\n');
    expect(fake.git.read(branch, 'ours.txt')).toBe('ours\n');
  });

  it('a branch left by a merged pull request starts again from the base branch', async () => {
    const branch = 'policy-gate/promote-6';
    await upsertBranchPullRequest(
      gh,
      repo,
      request(branch, async () => [file('a.txt', '1\n')]),
    );
    fake.git.merge(1);
    expect(
      (
        await upsertBranchPullRequest(
          gh,
          repo,
          request(branch, async () => [file('a.txt', '1\n')]),
        )
      ).kind,
    ).toBe('nothing');
    fake.git.commit('main', { 'later.txt': 'on main\n' });
    const res = await upsertBranchPullRequest(
      gh,
      repo,
      request(branch, async () => [file('a.txt', '2\n')]),
    );
    expect(res).toMatchObject({ kind: 'created', number: 2 });
    expect(fake.git.read(branch, 'later.txt')).toBe('on main\n');
    expect(fake.calls('PATCH git/refs').map((r) => (r.body as { force: boolean }).force)).toEqual([true]);
  });
});

describe('the promotion pull request (workflow_run)', () => {
  const req = () => ({
    report,
    reportSha256: sha256(reportText),
    markdown: '## the report',
    archivePath: archive,
    paths: PATHS,
    modelsDir: 'models',
    runId: 4242,
    runUrl: null,
    now: NOW,
    externalId: '9001:1:promotion',
    log: () => {},
    sleep: noSleep,
  });

  it('commits what `policy-gate promote` writes, opens one pull request, posts its passing check; a rerun opens no second one', async () => {
    const res = (await openPromotionPullRequest(gh, repo, req()))!;
    expect(res.outcome).toMatchObject({ kind: 'created', number: 1, committed: true });
    const branch = 'policy-gate/promote-4242';
    const pr = fake.git.pulls[0]!;
    expect(pr).toMatchObject({ head: branch, base: 'main', title: 'policy-gate: promote BTCUSD_4Hour → PAPER, BTCUSD_2Hour → PAPER (training run 4242)' });
    expect(pr.body).toContain('| BTCUSD\\_4Hour | — | PAPER | PAPER | `deploy/paper.json` |');
    expect(pr.body).toContain('## the report');
    expect(pr.body).toContain(`report sha256 \`${sha256(reportText)}\``);

    // Byte for byte what the CLI writes from the same report into a repository.
    const local = tempDir('local-');
    const reportFile = path.join(local, 'report.json');
    writeFileSync(reportFile, reportText);
    const cli = await runPromote({ root: local, reportPath: reportFile, paths: PATHS, modelsDir: 'models', archive, now: NOW, runUrl: null });
    const onBranch = fake.git.files(branch);
    for (const written of cli.writes.written) expect(onBranch.get(written), written).toEqual(readFileSync(path.join(local, written)));
    expect([...onBranch.keys()].sort()).toEqual(['README.md', ...cli.writes.written].sort());

    // Its own check run: on the branch head, success (the configs request exactly what was earned).
    const check = fake.state.checkRuns.find((c) => c.head_sha === (res.outcome as { headSha: string }).headSha)!;
    expect(check).toMatchObject({ name: 'policy-gate', status: 'completed', conclusion: 'success' });
    expect(check.output!.title).toBe('2 deployment change(s), each on the evidence of the report');
    expect(res.check).toBe('success');

    const rerun = (await openPromotionPullRequest(gh, repo, req()))!;
    expect(rerun.outcome).toMatchObject({ kind: 'unchanged', number: 1, committed: false });
    expect(rerun.committed!.changes).toEqual([]); // the branch already holds it
    expect(rerun.plan!.changes.map((c) => c.id)).toEqual(['BTCUSD_4Hour', 'BTCUSD_2Hour']); // what the pull request does
    expect(fake.calls('PATCH pull')).toHaveLength(0);
    expect(fake.git.pulls).toHaveLength(1);
    expect(fake.calls('POST git/commits')).toHaveLength(1);
  });

  it("applies the plan to the configs as they are on the default branch (people's keys and other models kept)", async () => {
    fake.git.commit('main', { 'deploy/paper.json': '{"models": {"ETHUSD_1Hour": {"owner": "desk-2"}}}\n', 'deploy/live.json': '{"models": {"BTCUSD_4Hour": {"since": "2024-09-12"}}}\n' });
    const res = (await openPromotionPullRequest(gh, repo, req()))!;
    expect(res.plan!.changes.map((c) => [c.id, c.kind])).toEqual([
      ['BTCUSD_4Hour', 'demoted'],
      ['BTCUSD_2Hour', 'added'],
    ]);
    const branch = 'policy-gate/promote-4242';
    expect(JSON.parse(fake.git.read(branch, 'deploy/live.json')!)).toEqual({ models: {} });
    const paper = JSON.parse(fake.git.read(branch, 'deploy/paper.json')!);
    expect(Object.keys(paper.models)).toEqual(['BTCUSD_2Hour', 'BTCUSD_4Hour', 'ETHUSD_1Hour']);
    expect(paper.models.BTCUSD_4Hour.since).toBe('2024-09-12');
    expect(paper.models.ETHUSD_1Hour).toEqual({ owner: 'desk-2' });
  });

  it('refuses a model whose bytes differ from the report before anything is sent', async () => {
    const changed = exampleFolder((files) => {
      const p = `${MODELS_DIR}/BTCUSD_4Hour.onnx`;
      files[p] = new Uint8Array([...files[p]!, 0]);
    });
    await expect(openPromotionPullRequest(gh, repo, { ...req(), archivePath: changed })).rejects.toThrow(/BTCUSD_4Hour\.onnx: sha256 is [0-9a-f]{64}, but the report validated/);
    expect(fake.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('no model earned a tier: no pull request, no request at all', async () => {
    const none = { ...report, models: report.models.filter((m) => m.decision?.tier !== 'PAPER') } as Report;
    expect(await openPromotionPullRequest(gh, repo, { ...req(), report: none })).toBeNull();
    expect(fake.requests).toEqual([]);
  });
});

describe('the demotion pull request (schedule)', () => {
  it('demotes a live model that only earns PAPER, once; a rerun updates the same pull request; after the merge nothing is left to do', async () => {
    // The default branch and a checkout of it: promote's files, with BTCUSD_2Hour moved to live.
    const ws = tempDir('ws-');
    const reportFile = path.join(ws, 'validated.json');
    writeFileSync(reportFile, reportText);
    await runPromote({ root: ws, reportPath: reportFile, paths: PATHS, modelsDir: 'models', archive, now: NOW, runUrl: null });
    const paper = JSON.parse(readFileSync(path.join(ws, PATHS.paper), 'utf8'));
    const live = { models: { BTCUSD_2Hour: { ...paper.models.BTCUSD_2Hour, tier: 'LIVE' } } };
    delete paper.models.BTCUSD_2Hour;
    writeFileSync(path.join(ws, PATHS.paper), JSON.stringify(paper, null, 2) + '\n');
    writeFileSync(path.join(ws, PATHS.live), JSON.stringify(live, null, 2) + '\n');
    fake.git.commit('main', { [PATHS.paper]: readFileSync(path.join(ws, PATHS.paper)), [PATHS.live]: readFileSync(path.join(ws, PATHS.live)) });

    const config = defaultConfig();
    config.data.dir = EXAMPLE_DATA;
    const { report: rv } = await runRevalidate(config, null, { root: ws, paths: PATHS, now: NOW, log: () => {}, endMs: undefined, equityOut: null });
    expect(rv.models.map((m) => [m.id, m.requested, m.decision?.tier])).toEqual([
      ['BTCUSD_2Hour', 'LIVE', 'PAPER'],
      ['BTCUSD_4Hour', 'PAPER', 'PAPER'],
    ]);
    const req = { report: rv, reportSha256: sha256(reportJson(rv)), markdown: '## re-validation', paths: PATHS, runUrl: null, now: NOW, externalId: null, log: () => {}, sleep: noSleep };
    const res = await openDemotionPullRequest(gh, repo, req);
    expect(res.outcome).toMatchObject({ kind: 'created', number: 1 });
    expect(fake.git.pulls[0]!.title).toBe('policy-gate: demote BTCUSD_2Hour → PAPER');
    expect(fake.git.pulls[0]!.head).toBe(DEMOTE_BRANCH);
    expect(JSON.parse(fake.git.read(DEMOTE_BRANCH, PATHS.live)!)).toEqual({ models: {} });
    expect(JSON.parse(fake.git.read(DEMOTE_BRANCH, PATHS.paper)!).models.BTCUSD_2Hour).toMatchObject({ tier: 'PAPER', model: live.models.BTCUSD_2Hour.model });
    expect(res.check).toBe('success');

    const again = await openDemotionPullRequest(gh, repo, req);
    expect(again.outcome).toMatchObject({ kind: 'unchanged', number: 1 });
    expect(fake.git.pulls).toHaveLength(1);

    fake.git.merge(1);
    expect((await openDemotionPullRequest(gh, repo, req)).outcome.kind).toBe('nothing');
    expect(fake.git.pulls).toHaveLength(1);
  }, 30_000);
});

describe("a pull request's changed entries", () => {
  it("are judged on the file they deploy: the archive's model when it is that file, else the entry's own file", async () => {
    const ws = tempDir('pr-ws-');
    const m4 = report.models.find((m) => m.id === 'BTCUSD_4Hour')!;
    const m2 = report.models.find((m) => m.id === 'BTCUSD_2Hour')!;
    const put = (p: string, from: string): void => {
      mkdirSync(path.dirname(path.join(ws, p)), { recursive: true });
      writeFileSync(path.join(ws, p), readFileSync(path.join(archive, from)));
    };
    // BTCUSD_4Hour: the archive's own file. BTCUSD_2Hour: another file (the final model, not the checkpoint the archive evaluated).
    put('models/a/BTCUSD_4Hour.onnx', m4.model!.path);
    put('models/a/BTCUSD_4Hour.card.json', m4.card!.path!);
    const finalModel = `${MODELS_DIR}/BTCUSD_2Hour.onnx`;
    put('models/b/BTCUSD_2Hour.onnx', finalModel);
    put('models/b/BTCUSD_2Hour.card.json', `${MODELS_DIR}/BTCUSD_2Hour.card.json`);
    const finalSha = sha256(readFileSync(path.join(archive, finalModel)));
    expect(finalSha).not.toBe(m2.model!.sha256);
    mkdirSync(path.join(ws, 'deploy'));
    writeFileSync(
      path.join(ws, PATHS.paper),
      JSON.stringify({
        models: {
          BTCUSD_4Hour: { model: 'models/a/BTCUSD_4Hour.onnx', model_sha256: m4.model!.sha256, gating: 'REVIEW' },
          BTCUSD_2Hour: { model: 'models/b/BTCUSD_2Hour.onnx', model_sha256: finalSha, gating: 'APPROVED' },
        },
      }),
    );
    const head = await readDeployFiles(ws, PATHS);
    const deploy = { head, diff: diffDeploy({ paper: emptyDoc(), live: emptyDoc() }, head.configs), baseSha: null };
    const config = defaultConfig();
    config.data.dir = EXAMPLE_DATA;
    const merged = await withChangedEntries(structuredClone(report), deploy, config, null, { root: ws, paths: PATHS, now: NOW, log: () => {}, endMs: undefined, equityOut: null });
    expect(merged.models.filter((m) => m.id === 'BTCUSD_4Hour')).toHaveLength(1);
    expect(merged.models.find((m) => m.id === 'BTCUSD_4Hour')!.model!.path).toBe(m4.model!.path); // the archive's evaluation
    const deployed2 = merged.models.filter((m) => m.id === 'BTCUSD_2Hour');
    expect(deployed2).toHaveLength(1);
    expect(deployed2[0]!.model).toMatchObject({ path: 'models/b/BTCUSD_2Hour.onnx', sha256: finalSha });
    expect(deployed2[0]!.notes).toContain("the archive's BTCUSD_2Hour is another file than the one this pull request deploys: the deployed file was evaluated instead");
    expect(deployed2[0]!.decision).not.toBeNull();
    expect(merged.models).toHaveLength(report.models.length);
  }, 30_000);
});

describe('what a pull request changes in the deployment configs', () => {
  it('compares the checkout with the base (pulls.get, contents API); a deployed file changed in place marks its entry', async () => {
    const base = { models: { BTCUSD_4Hour: { model: 'models/x/BTCUSD_4Hour.onnx', tier: 'PAPER' }, ETHUSD_1Hour: { tier: 'LIVE' } } };
    fake.git.commit('main', { [PATHS.paper]: JSON.stringify({ models: { BTCUSD_4Hour: base.models.BTCUSD_4Hour } }), [PATHS.live]: JSON.stringify({ models: { ETHUSD_1Hour: {} } }) });
    fake.git.commit('feature', {});
    fake.git.pulls.push({ number: 3, state: 'open', title: 't', body: '', head: 'feature', base: 'main', merged: false });
    const ws = tempDir('diff-ws-');
    mkdirSync(path.join(ws, 'deploy'));
    writeFileSync(path.join(ws, PATHS.paper), JSON.stringify({ models: { BTCUSD_4Hour: base.models.BTCUSD_4Hour, SOLUSD_1Hour: {} } }));
    writeFileSync(path.join(ws, PATHS.live), '{"models": {}}');
    const lines: string[] = [];
    const res = await pullRequestDeploy(gh, repo, 3, ws, PATHS, (l) => lines.push(l));
    expect(res.baseSha).toBe(fake.git.refs.get('heads/main'));
    expect(res.diff).toEqual([
      { id: 'ETHUSD_1Hour', from: 'LIVE', to: null, edited: false },
      { id: 'SOLUSD_1Hour', from: null, to: 'PAPER', edited: false },
    ]);
    expect(lines).toEqual(['ETHUSD_1Hour: LIVE → removed', 'SOLUSD_1Hour: not deployed → PAPER']);
    const touched = await pullRequestDeploy(gh, repo, 3, ws, PATHS, () => {}, ['models/x/BTCUSD_4Hour.onnx']);
    expect(touched.diff).toContainEqual({ id: 'BTCUSD_4Hour', from: 'PAPER', to: 'PAPER', edited: true });
    // An unknown pull request (404): every entry counts as changed.
    const unknown = await pullRequestDeploy(gh, repo, 99, ws, PATHS, () => {});
    expect(unknown.baseSha).toBeNull();
    expect(unknown.diff.map((d) => d.id)).toEqual(['BTCUSD_4Hour', 'SOLUSD_1Hour']);
  });
});
