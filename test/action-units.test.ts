/**
 * The action's pieces, one by one: the workflow-command-safe logger, inputs, the GitHub context and the
 * mode, the retry policy, requested tiers and changed models, and the check run's verdict.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readContext } from '../src/action/context.js';
import { retryDelay } from '../src/action/github.js';
import { parseInputs, readInput, resolveConfig } from '../src/action/inputs.js';
import { info, neutralize } from '../src/action/log.js';
import { resolveMode } from '../src/action/main.js';
import { checkConclusion, checkTitle, decisions } from '../src/action/render.js';
import { changedModels, classifyChanges, readRequested, repoPath } from '../src/action/requested.js';
import { defaultConfig } from '../src/config/schema.js';
import { PolicyGateError } from '../src/core/errors.js';
import type { ModelReport, Report } from '../src/core/report.js';
import { emptyReport } from '../src/app/report-base.js';

const dirs: string[] = [];
function temp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'pg-action-unit-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A deterministic PRNG (mulberry32), so the property checks replay. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('neutralize: untrusted text never becomes a workflow command (threats.md G8)', () => {
  const COMMAND = /^\s*(::[a-zA-Z-]+|##\[)/;

  it('breaks :: at every line start (after any Unicode white space) and ##[ anywhere, leaves other text alone', () => {
    expect(neutralize('::add-mask::secret')).toBe(':\u200b:add-mask::secret');
    expect(neutralize('model ::warning:: inside')).toBe('model ::warning:: inside');
    expect(neutralize('ok\n::stop-commands::abc\r\n  ::error::x\r##[set-output name=a]b')).toBe('ok\n:\u200b:stop-commands::abc\n  :\u200b:error::x\n##\u200b[set-output name=a]b');
    expect(neutralize('\u00a0\u3000::error::x mid ##[warning]y')).toBe('\u00a0\u3000:\u200b:error::x mid ##\u200b[warning]y');
    expect(neutralize('')).toBe('');
  });

  it('holds for any string (seeded random check)', () => {
    const rand = rng(20240911);
    const alphabet = [':', ':', '#', '[', ']', '\n', '\r', ' ', '\t', 'a', 'Z', '-', 'error', 'add-mask', '%', '\u200b'];
    for (let n = 0; n < 2000; n++) {
      let s = '';
      const len = Math.floor(rand() * 40);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      for (const line of neutralize(s).split('\n')) expect(COMMAND.test(line), JSON.stringify(s)).toBe(false);
    }
  });

  it('info() writes the neutralised text', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      info('archive entry\n::add-mask::not-a-secret');
      const out = write.mock.calls.map((c) => String(c[0])).join('');
      expect(out).toContain(':\u200b:add-mask::not-a-secret');
      expect(out.split('\n').some((l) => l.startsWith('::add-mask::'))).toBe(false);
    } finally {
      write.mockRestore();
    }
  });
});

describe('inputs', () => {
  const env = (inputs: Record<string, string>): NodeJS.ProcessEnv => ({ 'INPUT_GITHUB-TOKEN': 't', ...inputs });

  it('reads INPUT_NAME-WITH-HYPHENS (JavaScript actions) and INPUT_NAME_WITH_UNDERSCORES (action.yml)', () => {
    expect(readInput({ 'INPUT_BACKTEST-DAYS': ' 7 ' }, 'backtest-days')).toBe('7');
    expect(readInput({ INPUT_BACKTEST_DAYS: '8' }, 'backtest-days')).toBe('8');
    expect(readInput({}, 'backtest-days')).toBe('');
  });

  it('parses every input once, with the defaults', () => {
    const i = parseInputs(env({}));
    expect(i).toEqual({
      archive: null,
      artifactName: 'training-archive',
      runId: null,
      config: null,
      data: null,
      days: null,
      folds: null,
      backtestDays: null,
      capital: null,
      endMs: null,
      device: null,
      token: 't',
      failOnRejection: true,
      mode: 'auto',
      reportDir: 'policy-gate-report',
      reportArtifact: 'policy-gate-report',
      shard: null,
      track: null,
    });
    expect(parseInputs(env({ INPUT_SHARD: '2/3' })).shard).toEqual({ index: 2, count: 3 });
    expect(parseInputs(env({ INPUT_TRACK: 'paper' })).track).toBe('paper');
    expect(() => parseInputs(env({ INPUT_TRACK: 'demo' }))).toThrow(/input "track"/);
    expect(parseInputs(env({ INPUT_MODE: 'merge' })).mode).toBe('merge');
    const j = parseInputs({
      INPUT_GITHUB_TOKEN: 'u',
      INPUT_ARCHIVE: 'models/run.zip',
      INPUT_RUN_ID: '123',
      INPUT_DAYS: '90',
      INPUT_FOLDS: '3',
      INPUT_BACKTEST_DAYS: '14',
      INPUT_CAPITAL: '5000',
      INPUT_END: '2024-09-11',
      INPUT_DEVICE: 'cuda',
      INPUT_FAIL_ON_REJECTION: 'False',
      INPUT_MODE: 'workflow_run',
      INPUT_UPLOAD_REPORT: 'false',
    });
    expect(j).toMatchObject({
      token: 'u',
      archive: 'models/run.zip',
      runId: 123,
      days: 90,
      folds: 3,
      backtestDays: 14,
      capital: 5000,
      device: 'cuda',
      failOnRejection: false,
      mode: 'workflow_run',
      reportArtifact: null,
    });
    expect(j.endMs).toBe(Date.UTC(2024, 8, 11));
  });

  it.each([
    [{ INPUT_DAYS: '-3' }, 'input "days" must be a positive number, got "-3"'],
    [{ INPUT_FOLDS: '2.5' }, 'input "folds" must be a positive integer, got "2.5"'],
    [{ INPUT_DEVICE: 'gpu' }, 'input "device" must be one of auto | cpu | cuda, got "gpu"'],
    [{ INPUT_MODE: 'push' }, 'input "mode" must be one of auto | pull_request | workflow_run | schedule | merge, got "push"'],
    [{ INPUT_SHARD: '4/3' }, 'input "shard" must be i/n with 1 ≤ i ≤ n (shards are numbered from 1), got "4/3"'],
    [{ INPUT_SHARD: '2/3', INPUT_MODE: 'merge' }, 'inputs "shard" and "mode: merge" exclude each other'],
    [{ INPUT_SHARD: '2/3', INPUT_UPLOAD_REPORT: 'false' }, 'input "upload-report" must not be false with "shard"'],
    [{ INPUT_FAIL_ON_REJECTION: 'yes' }, 'input "fail-on-rejection" must be true or false, got "yes"'],
    [{ INPUT_RUN_ID: '12abc' }, 'input "run-id" must be a workflow run id (a positive integer), got "12abc"'],
    [{ INPUT_END: 'yesterday' }, 'input "end" must be an ISO 8601 date or time (UTC unless it names an offset), got "yesterday"'],
    [{ 'INPUT_ARTIFACT-NAME': '../x' }, 'input "artifact-name" must be an artifact name'],
  ])('%o → an error naming the input', (extra, message) => {
    expect(() => parseInputs(env(extra))).toThrow(message);
    try {
      parseInputs(env(extra));
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyGateError);
      expect((err as PolicyGateError).exitCode).toBe(2);
    }
  });

  it('an empty token is an error naming github-token', () => {
    expect(() => parseInputs({})).toThrow(/^input "github-token" is empty/);
  });

  it('inputs override the config file, and the cross-field rules are checked again', async () => {
    const ws = temp();
    mkdirSync(path.join(ws, '.github'));
    mkdirSync(path.join(ws, 'bars'));
    writeFileSync(path.join(ws, '.github', 'policy-gate.yml'), 'walk_forward: { days: 120, folds: 4 }\nbacktest: { days: 20 }\ndata: { dir: bars }\n');
    const fromFile = await resolveConfig(parseInputs(env({})), ws);
    expect(fromFile.file).toBe('.github/policy-gate.yml');
    expect(fromFile.config.walkForward).toMatchObject({ days: 120, folds: 4 });
    expect(fromFile.config.backtest.days).toBe(20);
    expect(fromFile.config.data.dir).toBe(path.relative(process.cwd(), path.join(ws, 'bars')));
    const over = await resolveConfig(parseInputs(env({ INPUT_DAYS: '60', INPUT_FOLDS: '6', INPUT_DATA: 'alpaca', INPUT_DEVICE: 'cpu' })), ws);
    expect(over.config.walkForward).toMatchObject({ days: 60, folds: 6 });
    expect(over.config.data.source).toBe('alpaca');
    expect(over.config.runtime.device).toBe('cpu');
    await expect(resolveConfig(parseInputs(env({ INPUT_FOLDS: '5000' })), ws)).rejects.toThrow('action inputs: "walk_forward.folds" must be ≤ 1000');
    await expect(resolveConfig(parseInputs(env({ INPUT_DATA: 'nowhere' })), ws)).rejects.toThrow(/^input "data": the bars folder .*nowhere does not exist/);
    await expect(resolveConfig(parseInputs(env({ INPUT_CONFIG: 'missing.yml' })), ws)).rejects.toThrow(/config file missing.yml does not exist/);
  });
});

describe('the GitHub context, read in one place', () => {
  let dir: string;
  beforeEach(() => {
    dir = temp();
  });
  const base = (payload: unknown, event: string): NodeJS.ProcessEnv => {
    const p = path.join(dir, 'event.json');
    writeFileSync(p, JSON.stringify(payload));
    return { GITHUB_REPOSITORY: 'octo/policies', GITHUB_EVENT_NAME: event, GITHUB_EVENT_PATH: p, GITHUB_SHA: 'f'.repeat(40), GITHUB_RUN_ID: '77', RUNNER_TEMP: dir };
  };
  const pr = (head: string | null) => ({
    number: 5,
    pull_request: { number: 5, title: 't', head: { sha: 'a'.repeat(40), repo: head === null ? null : { full_name: head } }, base: { repo: { full_name: 'octo/policies' } } },
  });

  it('pull_request: the PR HEAD sha, not GITHUB_SHA (the merge commit); same-repo is not a fork', () => {
    const ctx = readContext(base(pr('octo/policies'), 'pull_request'));
    expect(ctx.pullRequest).toMatchObject({ number: 5, headSha: 'a'.repeat(40), isFork: false });
    expect(ctx.sha).toBe('f'.repeat(40));
    expect(ctx.repo).toEqual({ owner: 'octo', repo: 'policies' });
    expect(ctx.runId).toBe(77);
    expect(ctx.runnerTemp).toBe(dir);
  });

  it('fork detection: another head repository, or a deleted one', () => {
    expect(readContext(base(pr('forker/policies'), 'pull_request')).pullRequest!.isFork).toBe(true);
    expect(readContext(base(pr(null), 'pull_request')).pullRequest!.isFork).toBe(true);
    expect(readContext(base(pr('OCTO/Policies'), 'pull_request')).pullRequest!.isFork).toBe(false);
  });

  it('workflow_run: id and head_sha; a run from a fork is marked', () => {
    const wr = { workflow_run: { id: 42, head_sha: 'b'.repeat(40), conclusion: 'success', event: 'pull_request', head_repository: { full_name: 'forker/policies' } } };
    expect(readContext(base(wr, 'workflow_run')).workflowRun).toMatchObject({ id: 42, headSha: 'b'.repeat(40), isFork: true, conclusion: 'success' });
  });

  it('refuses a missing repository and a broken payload, naming the variable', () => {
    expect(() => readContext({})).toThrow(/^GITHUB_REPOSITORY must be "owner\/name"/);
    const env = base({}, 'push');
    writeFileSync(env['GITHUB_EVENT_PATH']!, '{not json');
    expect(() => readContext(env)).toThrow(/GITHUB_EVENT_PATH .*not valid JSON/);
    expect(() => readContext(base({ pull_request: { number: 1, head: { sha: 'nope' } } }, 'pull_request'))).toThrow(/no valid number and head.sha/);
  });

  it('the mode: auto from the event; pull_request_target refused (G1); explicit modes need their payload', () => {
    const inputs = (mode: string, runId: number | null = null) => ({ ...parseInputs({ INPUT_GITHUB_TOKEN: 't', INPUT_MODE: mode }), runId });
    expect(resolveMode(inputs('auto'), readContext(base(pr('octo/policies'), 'pull_request')))).toBe('pull_request');
    expect(resolveMode(inputs('auto'), readContext(base({ workflow_run: { id: 1, head_sha: 'b'.repeat(40) } }, 'workflow_run')))).toBe('workflow_run');
    expect(resolveMode(inputs('auto'), readContext(base({}, 'schedule')))).toBe('schedule');
    expect(resolveMode(inputs('auto'), readContext(base({ inputs: {} }, 'workflow_dispatch')))).toBe('schedule');
    expect(() => resolveMode(inputs('auto'), readContext(base(pr('forker/policies'), 'pull_request_target')))).toThrow(/does not run on pull_request_target/);
    expect(() => resolveMode(inputs('pull_request'), readContext(base({}, 'schedule')))).toThrow('input "mode" is pull_request but the schedule event has no pull_request payload');
    expect(() => resolveMode(inputs('workflow_run'), readContext(base({}, 'workflow_dispatch')))).toThrow(/set the run-id input/);
    expect(resolveMode(inputs('workflow_run', 99), readContext(base({}, 'workflow_dispatch')))).toBe('workflow_run');
  });
});

describe('retry policy (threats.md I7)', () => {
  const opts = { retries: 3, maxWaitSeconds: 120, now: 1_700_000_000_000 };
  const err = (status: number | undefined, headers: Record<string, string> = {}, message = '') => ({ status, message, response: { headers, data: { message } } });

  it('5xx and network failures: 1 s, 2 s, 4 s, then give up', () => {
    expect([0, 1, 2, 3].map((a) => retryDelay(err(502), a, opts))).toEqual([1, 2, 4, null]);
    expect(retryDelay(new TypeError('fetch failed'), 0, opts)).toBe(1);
  });

  it('never retries 400, 401, 404, 410, 422, 451 or a plain 403 (a permission problem)', () => {
    for (const s of [400, 401, 404, 410, 422, 451]) expect(retryDelay(err(s), 0, opts)).toBeNull();
    expect(retryDelay(err(403, {}, 'Resource not accessible by integration'), 0, opts)).toBeNull();
  });

  it('secondary rate limits: Retry-After honoured; x-ratelimit-reset when remaining is 0; too long a wait is not held', () => {
    expect(retryDelay(err(403, { 'retry-after': '7' }), 0, opts)).toBe(7);
    expect(retryDelay(err(429, { 'retry-after': '3' }), 2, opts)).toBe(3);
    expect(retryDelay(err(403, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(opts.now / 1000 + 30) }), 0, opts)).toBe(31);
    expect(retryDelay(err(403, {}, 'You have exceeded a secondary rate limit'), 0, opts)).toBe(60);
    expect(retryDelay(err(403, { 'retry-after': '3600' }), 0, opts)).toBeNull();
    expect(retryDelay(err(429), 0, opts)).toBe(1);
  });
});

describe('requested tiers and changed models', () => {
  it('reads the paper/live configs (JSON or YAML, missing = nothing requested); LIVE wins over PAPER', async () => {
    const ws = temp();
    mkdirSync(path.join(ws, 'deploy'));
    writeFileSync(path.join(ws, 'deploy', 'paper.json'), JSON.stringify({ models: { A: {}, B: {}, __proto__x: {} } }));
    writeFileSync(path.join(ws, 'deploy', 'live.json'), 'models:\n  B: { since: 2024-09-12 }\n  constructor: {}\n');
    const r = await readRequested(defaultConfig(), ws);
    expect({ ...r.tiers }).toEqual({ A: 'PAPER', B: 'LIVE', __proto__x: 'PAPER', constructor: 'LIVE' });
    expect(Object.getPrototypeOf(r.tiers)).toBeNull();
    expect(r.configs).toEqual([
      { tier: 'PAPER', path: 'deploy/paper.json', present: true, models: ['A', 'B', '__proto__x'] },
      { tier: 'LIVE', path: 'deploy/live.json', present: true, models: ['B', 'constructor'] },
    ]);
    const none = await readRequested(defaultConfig(), temp());
    expect({ ...none.tiers }).toEqual({});
    expect(none.configs.map((c) => c.present)).toEqual([false, false]);
  });

  it('a malformed deployment config is an error naming the file', async () => {
    const ws = temp();
    mkdirSync(path.join(ws, 'deploy'));
    writeFileSync(path.join(ws, 'deploy', 'live.json'), '{"models": ["A"]}');
    await expect(readRequested(defaultConfig(), ws)).rejects.toThrow('deploy/live.json: "models" must be a mapping keyed by model id, got a list');
    writeFileSync(path.join(ws, 'deploy', 'live.json'), '{"models": {');
    await expect(readRequested(defaultConfig(), ws)).rejects.toThrow(/^deploy\/live.json: not valid JSON or YAML/);
  });

  it('repoPath: workspace-relative POSIX paths, like pulls.listFiles', () => {
    expect(repoPath('/ws', './models/run.zip')).toBe('models/run.zip');
    expect(repoPath('/ws', '/ws/models/')).toBe('models');
    expect(repoPath('/ws', 'a/../b')).toBe('b');
  });

  const file = (filename: string, patch?: string, status = 'modified') => ({ filename, status, ...(patch === undefined ? {} : { patch }) });

  it('classifies the files a pull request changes', () => {
    const paths = { archive: 'models/run', configFile: '.github/policy-gate.yml', deploy: ['deploy/paper.json', 'deploy/live.json'] };
    expect(classifyChanges([file('README.md'), file('models/running.txt')], paths)).toEqual({ relevant: [], archiveChanged: false, configChanged: false, deployChanged: [] });
    const all = classifyChanges(
      [file('models/run/a.onnx'), file('.github/policy-gate.yml'), file('deploy/live.json'), { filename: 'x', status: 'renamed', previous_filename: 'models/run/b.onnx' }],
      paths,
    );
    expect(all).toEqual({ relevant: ['.github/policy-gate.yml', 'deploy/live.json', 'models/run/a.onnx', 'x'], archiveChanged: true, configChanged: true, deployChanged: ['deploy/live.json'] });
  });

  function report(models: Partial<ModelReport>[], kind: 'zip' | 'dir'): Report {
    const r = emptyReport('validate', defaultConfig(), null, new Date(0));
    r.archive = { path: 'models/run', kind, sha256: '0', summary: { path: 'summary.json', runId: null }, manifest: null, unreferenced: [] };
    r.models = models as ModelReport[];
    return r;
  }

  it('names the models a pull request changed and why', async () => {
    const rep = report(
      [
        { id: 'BTC_1H', model: { path: 'm/BTC_1H.onnx', sha256: '', inputs: [], outputs: [] }, card: { path: 'm/BTC_1H.card.json', inline: false } },
        { id: 'BTC_1H_v2', model: { path: 'm/BTC_1H_v2.onnx', sha256: '', inputs: [], outputs: [] }, card: null },
        { id: 'ETH_1H', model: { path: 'm/ETH_1H.onnx', sha256: '', inputs: [], outputs: [] }, card: null },
      ],
      'dir',
    );
    const requested = {
      tiers: {},
      configs: [
        { tier: 'PAPER' as const, path: 'deploy/paper.json', present: true, models: ['ETH_1H'] },
        { tier: 'LIVE' as const, path: 'deploy/live.json', present: true, models: ['BTC_1H_v2'] },
      ],
    };
    const files = [file('models/run/m/BTC_1H.card.json'), file('deploy/live.json', '@@ -1,3 +1,3 @@\n {\n-  "models": { "BTC_1H": {} }\n+  "models": { "BTC_1H_v2": {} }\n }')];
    const changed = changedModels(rep, files, { path: 'models/run', kind: 'dir' }, requested);
    expect(Object.fromEntries(changed)).toEqual({
      BTC_1H: ['its card models/run/m/BTC_1H.card.json changed', 'deploy/live.json no longer lists it'],
      BTC_1H_v2: ['deploy/live.json requests it at LIVE'],
    });
    // The training summary (or a zip archive) changing touches every model.
    const all = changedModels(rep, [file('models/run/summary.json')], { path: 'models/run', kind: 'dir' }, requested);
    expect([...all.keys()]).toEqual(['BTC_1H', 'BTC_1H_v2', 'ETH_1H']);
    const zip = report(rep.models, 'zip');
    expect(changedModels(zip, [file('models/run')], { path: 'models/run', kind: 'zip' }, requested).get('ETH_1H')).toEqual(['the archive models/run changed']);
    // A new deployment config without a patch (too large for the API to diff): every listed model.
    expect(changedModels(rep, [file('deploy/paper.json', undefined, 'added')], null, requested).get('ETH_1H')).toEqual(['deploy/paper.json requests it at PAPER']);
  });
});

describe('the verdict', () => {
  function model(id: string, tier: ModelReport['requested'] | null, requested: ModelReport['requested']): ModelReport {
    return { id, requested, decision: tier ? { tier, rule: '', reasons: [] } : null } as unknown as ModelReport;
  }
  let r: Report;
  beforeEach(() => {
    r = emptyReport('validate', defaultConfig(), null, new Date(0));
  });
  afterEach(() => vi.restoreAllMocks());

  it('success, failure, neutral (fail-on-rejection false), and run errors always fail', () => {
    r.conclusion = 'success';
    expect(checkConclusion(r, true)).toBe('success');
    r.conclusion = 'failure';
    expect(checkConclusion(r, true)).toBe('failure');
    expect(checkConclusion(r, false)).toBe('neutral');
    r.infraErrors.push('alpaca down');
    expect(checkConclusion(r, false)).toBe('failure');
  });

  it("a model not evaluated because of the run's bad input fails the check even when rejections are neutral", () => {
    r.conclusion = 'failure';
    r.models = [{ ...model('A', null, 'PAPER'), notEvaluated: { reason: 'no bars for A 1Hour', kind: 'model' } } as ModelReport];
    expect(checkConclusion(r, false)).toBe('neutral');
    r.models = [{ ...model('A', null, 'PAPER'), notEvaluated: { reason: 'no bars for A 1Hour', kind: 'input' } } as ModelReport];
    expect(checkConclusion(r, false)).toBe('failure');
    expect(checkTitle(r)).toBe('1 model: 1 not evaluated — 1 below the requested tier');
  });

  it('titles count the tiers and the shortfalls; decisions list every model', () => {
    r.models = [model('A', 'PAPER', 'PAPER'), model('B', 'DROP', 'PAPER'), model('C', null, 'PAPER'), model('D', 'LIVE', 'LIVE')];
    expect(checkTitle(r)).toBe('4 models: 1 LIVE, 1 PAPER, 1 DROP, 1 not evaluated — 2 below the requested tier');
    r.models = [model('A', 'PAPER', 'PAPER')];
    expect(checkTitle(r)).toBe('1 model: 1 PAPER — all earned their requested tier');
    expect(decisions(r)).toEqual([{ id: 'A', tier: 'PAPER', requested: 'PAPER' }]);
    r.errors.push('the archive is broken');
    expect(checkTitle(r)).toBe('error: the archive is broken');
  });
});

describe('the trim note and the preface', () => {
  it('points at the uploaded artifact, else at the run that has it, else at the log', async () => {
    const { trimNote } = await import('../src/action/render.js');
    expect(trimNote({ name: 'policy-gate-report', url: 'https://github.com/o/r/actions/runs/1/artifacts/9' }, 'https://github.com/o/r/actions/runs/1')('', '')).toContain(
      'the [`policy-gate-report` artifact](https://github.com/o/r/actions/runs/1/artifacts/9)',
    );
    expect(trimNote({ name: 'policy-gate-report', url: null }, 'https://github.com/o/r/actions/runs/1')('', '')).toContain(
      'the `policy-gate-report` artifact of [this run](https://github.com/o/r/actions/runs/1)',
    );
    expect(trimNote(null, 'https://x/run')('', '')).toContain('[the job log](https://x/run)');
  });

  it('escapes archive strings in the preface (markdown never comes from an archive)', async () => {
    const { actionMarkdown } = await import('../src/action/render.js');
    const r = emptyReport('validate', defaultConfig(), null, new Date(0));
    r.conclusion = 'success';
    const md = actionMarkdown(r, {
      mode: 'pull_request',
      headSha: 'a'.repeat(40),
      pullRequest: { number: 3, changed: new Map([['<img src=x>', ['its card `x` changed']]]), noChanges: null, relevantFiles: ['x'] },
    });
    expect(md.startsWith('## ✅ policy-gate: success\n\nPull request #3 at `aaaaaaa` changes 1 model(s).\n\n- **\\<img src=x\\>**: its card \\`x\\` changed\n')).toBe(true);
    expect(md).not.toMatch(/(?<!\\)<img/);
  });
});
