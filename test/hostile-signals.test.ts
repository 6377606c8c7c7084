/**
 * Hostile case: a model that hangs onnxruntime, and policy-gate is stopped (a cancelled workflow sends
 * SIGINT then SIGTERM, a closed terminal SIGHUP, a runner's cleanup SIGKILL). A hung onnxruntime
 * process must not outlive policy-gate (docs/threat-model.md).
 *
 * Each test runs the real command line, main() of src/cli.ts (or the Action's entry point,
 * src/action/index.ts, against a loopback fake of GitHub), in a child process: a small driver
 * bundled from the sources sets the test seam (setOrtHostFaultsForTests, src/adapters/onnx/host.ts) so
 * that one model hangs its onnxruntime process for good (runtime.inference_timeout_seconds is a day),
 * then calls main() exactly as bin/policy-gate.js does. Nothing is bounded by a duration: each test
 * waits until the state it needs is there (a host process busy in the hang, a process gone), with the
 * test's own timeout as the only limit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, exampleFiles, MODELS_DIR, REPO, tempDir } from './helpers/e2e.js';
import { expectNoViolations, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const linux = process.platform === 'linux';
/** Inside the repository, so the bundles resolve onnxruntime-node and package.json as src/ does. */
const DRIVER = path.join(REPO, 'node_modules', '.cache', `cli-signals-driver-${process.pid}.mjs`);
const ACTION_DRIVER = path.join(REPO, 'node_modules', '.cache', `action-signals-driver-${process.pid}.mjs`);
const SET_FAULTS = "await setOrtHostFaultsForTests(JSON.parse(process.env['POLICY_GATE_TEST_ORT_FAULTS'] ?? 'null'));";
const ENDLESS = 'runtime:\n  inference_timeout_seconds: 86400\n  parallel_models: 1\n';

/** Bundles `lines` (an ES module in the repository root) into `outfile`, with the packages left to node_modules. */
async function bundle(outfile: string, lines: string[]): Promise<void> {
  await build({
    stdin: { contents: lines.join('\n'), resolveDir: REPO, loader: 'ts', sourcefile: path.basename(outfile, '.mjs') + '.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'silent',
  });
}

beforeAll(async () => {
  if (!linux) return;
  mkdirSync(path.dirname(DRIVER), { recursive: true });
  // The command line: main() as bin/policy-gate.js calls it.
  await bundle(DRIVER, [
    "import { setOrtHostFaultsForTests } from './src/adapters/onnx/host.js';",
    "import { main } from './src/cli.js';",
    SET_FAULTS,
    'process.exitCode = await main(process.argv.slice(2));',
  ]);
  // The Action: its entry point, src/action/index.ts, the module dist/index.js is bundled from.
  await bundle(ACTION_DRIVER, ["import { setOrtHostFaultsForTests } from './src/adapters/onnx/host.js';", SET_FAULTS, "await import('./src/action/index.js');"]);
}, 60_000);

afterAll(() => {
  rmSync(DRIVER, { force: true });
  rmSync(ACTION_DRIVER, { force: true });
  cleanupTempDirs();
});

interface Cli {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The command line in a child process, with `hang` (a model file name) hanging onnxruntime while it runs the model. */
function startCli(args: string[], cwd: string, hang: string, opts: { driver?: string; env?: NodeJS.ProcessEnv } = {}): Cli {
  const child = spawn(process.execPath, [opts.driver ?? DRIVER, ...args], {
    cwd,
    env: { ...(opts.env ?? process.env), NODE_ENV: 'test', POLICY_GATE_TEST_ORT_FAULTS: JSON.stringify({ [hang]: { at: 'run', action: 'hang' } }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, stdout: () => out, exited };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, …, utime (11), stime (12), …], or null when gone. */
function stat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Gone, or a zombie (exited; reaping an orphan is its new parent's business). */
const ended = (pid: number): boolean => {
  const s = stat(pid);
  return s === null || s[0] === 'Z';
};

/** The onnxruntime host processes (`node - <onnxruntime-node>`) whose parent is `pid`. */
function hostsOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (!s || Number(s[1]) !== pid || s[0] === 'Z') continue;
    let cmdline: string[];
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (cmdline[1] === '-' && /onnxruntime-node/.test(cmdline[2] ?? '')) out.push(Number(name));
  }
  return out;
}

/** CPU time a process has used, in clock ticks (utime + stime). */
const cpuTicks = (pid: number): number => {
  const s = stat(pid);
  return s ? Number(s[11]) + Number(s[12]) : 0;
};

async function until<T>(probe: () => T | null | undefined | false): Promise<T> {
  for (;;) {
    const v = probe();
    if (v) return v;
    await sleep(25);
  }
}

/**
 * The host of `cli` once it is spinning in the hang: it has used 100 more clock ticks (a second at the
 * usual 100 Hz) of CPU since it was first seen, far more than loading a model takes, and a host waiting
 * for a request uses none.
 */
async function spinningHost(cli: Cli, pid: number): Promise<number> {
  const host = await until(() => hostsOf(pid)[0]);
  const start = cpuTicks(host);
  await until(() => cpuTicks(host) >= start + 100 || cli.child.exitCode !== null);
  expect(cli.child.exitCode, cli.stderr()).toBeNull();
  return host;
}

/** A folder with one model (it hangs) and its card, for `backtest --model`. */
function oneModel(): string {
  const ws = tempDir('signals-');
  const files = exampleFiles();
  mkdirSync(path.join(ws, 'm'));
  for (const ext of ['onnx', 'card.json']) writeFileSync(path.join(ws, 'm', `BTCUSD_4Hour.${ext}`), files[`${MODELS_DIR}/BTCUSD_4Hour.${ext}`]!);
  writeFileSync(path.join(ws, 'c.yml'), ENDLESS);
  return ws;
}

interface ReportJson {
  conclusion: string;
  conclusionReasons: string[];
  errors: string[];
  models: { id: string; errors: string[]; decision: unknown; walkForward: { summary: unknown } | null }[];
}

describe.runIf(linux)('policy-gate stopped while a model hangs onnxruntime', () => {
  it('SIGTERM during validate: the host is killed, the report says the run was interrupted, evaluated models keep their results, none is decided; exit 143', async () => {
    const ws = tempDir('signals-validate-');
    writeFileSync(path.join(ws, 'c.yml'), ENDLESS);
    // BTCUSD_1Day is evaluated last (archive order 1Hour, 4Hour, 2Hour, 1Day; one model at a time).
    const cli = startCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', 'out', '--end', '2024-09-10T00:00:00Z', '--config', 'c.yml'], ws, 'BTCUSD_1Day.onnx');
    const pid = cli.child.pid!;
    await until(() => cli.stderr().includes('BTCUSD_2Hour: backtest'));
    const host = await spinningHost(cli, pid);
    const folder = path.dirname(readlinkSync(`/proc/${host}/cwd`));
    expect(existsSync(folder)).toBe(true);

    cli.child.kill('SIGTERM');
    const exit = await cli.exited;
    expect(exit, cli.stderr()).toEqual({ code: 143, signal: null });
    await until(() => ended(host));
    expect(existsSync(folder)).toBe(false);
    expect(cli.stderr()).toContain('policy-gate: error: interrupted by SIGTERM: the onnxruntime processes were stopped; the run did not finish and decides nothing');
    expect(cli.stderr()).toContain('policy-gate: wrote ');

    const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')) as ReportJson;
    expect(report.conclusion).toBe('failure');
    expect(report.conclusionReasons).toEqual(['run interrupted by SIGTERM: nothing was decided']);
    expect(report.errors).toEqual(['the run was interrupted by SIGTERM before it finished (the onnxruntime processes were stopped); 3 of 7 models were evaluated, none was decided']);
    for (const id of ['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour']) {
      const m = report.models.find((x) => x.id === id)!;
      expect(m.errors, id).toEqual([]);
      expect(m.walkForward?.summary, id).not.toBeNull();
    }
    const hung = report.models.find((x) => x.id === 'BTCUSD_1Day')!;
    expect(hung.errors).toEqual(['not evaluated: the run was interrupted by SIGTERM before it finished']);
    expect(hung.walkForward).toBeNull();
    // Nothing decided: in particular no DROP, which a deployment would act on.
    for (const m of report.models) expect(m.decision, m.id).toBeNull();
    expect(readdirSync(path.join(ws, 'out')).sort()).toEqual(['report.html', 'report.json', 'report.md']);
  }, 180_000);

  it.each([
    ['SIGINT', 130],
    ['SIGHUP', 129],
  ] as const)(
    '%s during backtest: the host is killed, the report is written, exit %i',
    async (signal, code) => {
      const ws = oneModel();
      const cli = startCli(['backtest', '--model', 'm/BTCUSD_4Hour.onnx', '--data', EXAMPLE_DATA, '--out', 'out', '--config', 'c.yml'], ws, 'BTCUSD_4Hour.onnx');
      const host = await spinningHost(cli, cli.child.pid!);
      cli.child.kill(signal);
      const exit = await cli.exited;
      expect(exit, cli.stderr()).toEqual({ code, signal: null });
      await until(() => ended(host));
      const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')) as ReportJson;
      expect(report.conclusion).toBe('failure');
      expect(report.errors).toEqual([`the run was interrupted by ${signal} before it finished (the onnxruntime processes were stopped); 0 of 1 models were evaluated, none was decided`]);
      expect(report.models.map((m) => [m.id, m.errors, m.decision])).toEqual([['BTCUSD_4Hour', [`not evaluated: the run was interrupted by ${signal} before it finished`], null]]);
    },
    180_000,
  );

  it('SIGKILL of policy-gate (no handler runs): the host notices mid-inference, removes its folder and ends by itself', async () => {
    const ws = oneModel();
    const cli = startCli(['backtest', '--model', 'm/BTCUSD_4Hour.onnx', '--data', EXAMPLE_DATA, '--out', 'out', '--config', 'c.yml'], ws, 'BTCUSD_4Hour.onnx');
    const host = await spinningHost(cli, cli.child.pid!);
    const folder = path.dirname(readlinkSync(`/proc/${host}/cwd`));
    cli.child.kill('SIGKILL');
    expect(await cli.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // The host's main thread is stuck in the hang; its watchdog thread sees the lifeline close.
    await until(() => ended(host));
    await until(() => !existsSync(folder));
    expect(existsSync(path.join(ws, 'out'))).toBe(false);
  }, 180_000);

  it('SIGTERM to the Action (a cancelled job): the host is killed, the report folder says the run was interrupted, the step fails; exit 143', async () => {
    const fake = await startFakeGitHub({ owner: 'octo-org', repo: 'policies', token: 'ghs_signalsTestToken0123456789' });
    try {
      const ws = tempDir('signals-action-');
      const runnerTemp = tempDir('signals-runner-');
      mkdirSync(path.join(ws, '.github'));
      writeFileSync(path.join(ws, '.github', 'policy-gate.yml'), ENDLESS);
      writeFileSync(path.join(runnerTemp, 'event.json'), '{}');
      const outputFile = path.join(runnerTemp, 'output');
      writeFileSync(outputFile, '');
      const env: NodeJS.ProcessEnv = {
        PATH: process.env['PATH'] ?? '',
        HOME: runnerTemp,
        GITHUB_ACTIONS: 'true',
        CI: 'true',
        GITHUB_EVENT_NAME: 'workflow_dispatch',
        GITHUB_EVENT_PATH: path.join(runnerTemp, 'event.json'),
        GITHUB_REPOSITORY: 'octo-org/policies',
        GITHUB_REPOSITORY_OWNER: 'octo-org',
        GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
        GITHUB_REF: 'refs/heads/main',
        GITHUB_RUN_ID: '9001',
        GITHUB_RUN_ATTEMPT: '1',
        GITHUB_SERVER_URL: 'https://github.com',
        GITHUB_API_URL: fake.url,
        GITHUB_WORKSPACE: ws,
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: path.join(runnerTemp, 'summary'),
        RUNNER_TEMP: runnerTemp,
        RUNNER_TRACKING_ID: 'github_signals-test',
        'INPUT_GITHUB-TOKEN': 'ghs_signalsTestToken0123456789',
        INPUT_ARCHIVE: EXAMPLE_ZIP,
        INPUT_DATA: EXAMPLE_DATA,
      };
      // BTCUSD_1Hour is evaluated first: the run hangs right away.
      const action = startCli([], ws, 'BTCUSD_1Hour.onnx', { driver: ACTION_DRIVER, env });
      const host = await spinningHost(action, action.child.pid!);
      expect(readFileSync(`/proc/${host}/environ`, 'utf8').split('\0')).toContain('RUNNER_TRACKING_ID=github_signals-test');
      action.child.kill('SIGTERM');
      const exit = await action.exited;
      expect(exit, action.stdout() + action.stderr()).toEqual({ code: 143, signal: null });
      await until(() => ended(host));
      expect(action.stdout()).toContain('::error::policy-gate: interrupted by SIGTERM: the onnxruntime processes were stopped; the run did not finish and decides nothing');
      expect(readFileSync(outputFile, 'utf8')).toMatch(/^conclusion<<(.+)\ncancelled\n\1$/m);
      // The check run, created in_progress, is completed as cancelled before the process exits.
      expect(fake.state.checkRuns.map((c) => c.history)).toEqual([
        [
          { status: 'in_progress', conclusion: null },
          { status: 'completed', conclusion: 'cancelled' },
        ],
      ]);
      const report = JSON.parse(readFileSync(path.join(ws, 'policy-gate-report', 'report.json'), 'utf8')) as ReportJson;
      expect(report.conclusion).toBe('failure');
      expect(report.errors[0]).toMatch(/^the run was interrupted by SIGTERM before it finished \(the onnxruntime processes were stopped\); 0 of \d+ models were evaluated, none was decided$/);
      expect(report.models.find((m) => m.id === 'BTCUSD_1Hour')!.errors).toEqual(['not evaluated: the run was interrupted by SIGTERM before it finished']);
      for (const m of report.models) expect(m.decision, m.id).toBeNull();
    } finally {
      await fake.close();
    }
  }, 180_000);
});
