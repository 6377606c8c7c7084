/**
 * Hostile case: a model that crashes or hangs onnxruntime (threats.md O2, O4; docs/threat-model.md).
 *
 * onnxruntime runs in a child process (src/adapters/onnx/host.ts). A real malicious model is not needed
 * to prove the isolation: the test seam setOrtHostFaultsForTests makes the host itself abort, segfault
 * or spin while it loads or runs one named model — exactly what a native crash or a hang looks like
 * from the parent. Each case asserts the exact outcome: that model's error names it and says what
 * happened, the report is written, and every other model's results are the same bits as in a clean run.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, encodeMessage, encodeRun } from '../src/adapters/onnx/host-frame.js';
import { hostEnvironment, ortHost, ortHostStats, setOrtHostDeadlineClockForTests, setOrtHostFaultsForTests, shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { manualClock } from './helpers/deadline-clock.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { PolicyGateError } from '../src/core/errors.js';
import { buildMlp } from '../src/devtools/onnx-writer.js';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, MODELS_DIR, runCli, tempDir } from './helpers/e2e.js';

const CRASHER = `${MODELS_DIR}/BTCUSD_4Hour.onnx`;
const OTHERS = ['BTCUSD_1Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day'];

interface ModelJson {
  id: string;
  errors: string[];
  backtest: unknown;
  walkForward: unknown;
  decision: { tier: string } | null;
  [key: string]: unknown;
}

function readReport(dir: string): { models: ModelJson[]; conclusion: string; conclusionReasons: string[] } {
  return JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'));
}

/** A validate run of the example (its own output folder), with an optional config file. */
async function validate(config?: string): Promise<{ code: number; stdout: string; stderr: string; out: string }> {
  const cwd = tempDir('ort-cwd-');
  const out = path.join(cwd, 'out');
  const args = ['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out, '--end', '2024-09-10T00:00:00Z'];
  if (config) {
    writeFileSync(path.join(cwd, 'policy-gate.yml'), config);
    args.push('--config', 'policy-gate.yml');
  }
  return { ...(await runCli(args, cwd)), out };
}

function alive(pid: number): boolean {
  // A reaped process has no /proc entry; a zombie would still have one.
  if (existsSync('/proc')) return existsSync(`/proc/${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let clean: ReturnType<typeof readReport>;
/** Host processes a clean run starts (one per runtime.parallel_models slot it uses). */
let cleanStarts = 0;

beforeAll(async () => {
  await setOrtHostFaultsForTests(null);
  const before = ortHostStats().starts;
  const run = await validate();
  cleanStarts = ortHostStats().starts - before;
  expect(cleanStarts).toBe(2);
  expect(run.code, run.stderr).toBe(1); // the example's known verdict: failure
  clean = readReport(run.out);
}, 60_000);

afterEach(async () => {
  await setOrtHostFaultsForTests(null);
  await setOrtHostDeadlineClockForTests(null);
});

afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

/** The crashed model's error, and the other models' results unchanged. */
function expectOnlyCrasherLost(report: ReturnType<typeof readReport>, error: RegExp): void {
  const crashed = report.models.find((m) => m.id === 'BTCUSD_4Hour')!;
  expect(crashed.errors).toHaveLength(1);
  expect(crashed.errors[0]).toMatch(error);
  expect(crashed.walkForward).toBeNull();
  // Not evaluated is never a pass: the model is not decided above its request.
  expect(report.conclusion).toBe('failure');
  for (const id of OTHERS) {
    const a = report.models.find((m) => m.id === id)!;
    const b = clean.models.find((m) => m.id === id)!;
    expect(a, id).toEqual(b);
  }
}

describe('a model that crashes onnxruntime', () => {
  it.each([
    ['abort', 'SIGABRT'],
    ['segv', 'SIGSEGV'],
  ] as const)('native %s mid-backtest: that model fails naming itself; the others are the same bits; report written', async (action, signal) => {
    await setOrtHostFaultsForTests({ [CRASHER]: { at: 'run', action, afterRuns: 1 } });
    const before = ortHostStats();
    const run = await validate();
    expect(run.code).toBe(1);
    const report = readReport(run.out);
    expectOnlyCrasherLost(
      report,
      new RegExp(
        `^${CRASHER.replace(/[/.]/g, '\\$&')}: onnxruntime crashed while running the model \\(killed by signal ${signal}\\)\\. This model is not evaluated; the other models are, in a fresh onnxruntime process\\.`,
      ),
    );
    expect(run.stderr).toContain(`BTCUSD_4Hour: ${CRASHER}: onnxruntime crashed while running the model (killed by signal ${signal})`);
    // At most one fresh host, in the crashed slot, for the models after the crash (and none for the ones
    // before it); none when the other slot took every later model, which depends on the two slots' speed.
    const starts = ortHostStats().starts - before.starts;
    expect(starts).toBeGreaterThanOrEqual(cleanStarts);
    expect(starts).toBeLessThanOrEqual(cleanStarts + 1);
    expect(readFileSync(path.join(run.out, 'report.md'), 'utf8')).toContain('onnxruntime crashed while running the model');
    expect(existsSync(path.join(run.out, 'report.html'))).toBe(true);
  });

  it("a crash while loading the model is that model's error too", async () => {
    await setOrtHostFaultsForTests({ [CRASHER]: { at: 'load', action: 'segv' } });
    const run = await validate();
    expect(run.code).toBe(1);
    const report = readReport(run.out);
    expectOnlyCrasherLost(report, /onnxruntime crashed while loading the model \(killed by signal SIGSEGV\)/);
    expect(report.models.find((m) => m.id === 'BTCUSD_4Hour')!.backtest).toBeNull();
  });

  it('an exit code is reported as such, and the dead host leaves no zombie', async () => {
    await setOrtHostFaultsForTests({ 'BTCUSD_1Day.onnx': { at: 'run', action: 'exit' } });
    const bytes = buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes;
    const m = await loadPolicyModel(bytes, { device: 'cpu', label: 'x/BTCUSD_1Day.onnx' });
    const pid = ortHostStats().pid!;
    const err = await m.run({ obs: { data: new Float32Array(4), dims: [1, 4] } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as PolicyGateError).message).toMatch(/^x\/BTCUSD_1Day\.onnx: onnxruntime crashed while running the model \(exited with code 70\)/);
    expect((err as PolicyGateError).exitCode).toBe(2);
    expect((err as PolicyGateError).subject).toBe('x/BTCUSD_1Day.onnx');
    await expect.poll(() => alive(pid), { timeout: 2_000 }).toBe(false);
    // The session died with its host: a later call says so, and release() is harmless.
    await expect(m.run({ obs: { data: new Float32Array(4), dims: [1, 4] } })).rejects.toThrow(/the onnxruntime process that held this model stopped/);
    await m.release();
  });
});

describe('a model that hangs onnxruntime', () => {
  it('is stopped after runtime.inference_timeout_seconds; the run goes on and the report is written', async () => {
    // The deadlines run on a clock only the test moves: no other request can run out because this
    // machine is slow, and the hung request's deadline runs out when the test says its 1 s has passed.
    const clock = manualClock();
    await setOrtHostDeadlineClockForTests(clock.clock);
    await setOrtHostFaultsForTests({ [CRASHER]: { at: 'run', action: 'hang', afterRuns: 1 } });
    const running = validate('runtime:\n  inference_timeout_seconds: 1\n');
    const crasherRuns = (h: { label: string; what: string }): boolean => h.label === CRASHER && h.what === 'running';
    const first = await clock.next(crasherRuns);
    const hung = await clock.next((h) => crasherRuns(h) && h.id !== first.head.id, first.index + 1);
    expect(hung.head.timeoutMs).toBe(1000);
    clock.expire((h) => h.id === hung.head.id && h.label === CRASHER);
    const run = await running;
    expect(run.code).toBe(1);
    const report = readReport(run.out);
    expectOnlyCrasherLost(report, /onnxruntime did not finish running the model within 1 s \(runtime\.inference_timeout_seconds\), so its process was stopped\. This model is not evaluated/);
  });

  it('a hang while loading is stopped too, and the killed host is gone', async () => {
    await setOrtHostFaultsForTests({ 'slow.onnx': { at: 'load', action: 'hang' } });
    const bytes = buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes;
    const host = ortHost();
    await host.ready();
    const pid = ortHostStats().pid!;
    const err = await loadPolicyModel(bytes, { device: 'cpu', label: 'slow.onnx', timeoutSeconds: 0.5 }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^slow\.onnx: onnxruntime did not finish loading the model within 0\.5 s/);
    await expect.poll(() => alive(pid), { timeout: 2_000 }).toBe(false);
    // The next model gets a fresh host.
    const ok = await loadPolicyModel(bytes, { device: 'cpu', label: 'fine.onnx' });
    expect(ortHostStats().pid).not.toBe(pid);
    await ok.release();
  });

  it('refuses a timeout that is not a positive number', async () => {
    const bytes = buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes;
    await expect(loadPolicyModel(bytes, { device: 'cpu', label: 'a.onnx', timeoutSeconds: 0 })).rejects.toThrow(/inference_timeout_seconds must be a positive number/);
    const cwd = tempDir('ort-cfg-');
    writeFileSync(path.join(cwd, 'c.yml'), 'runtime:\n  inference_timeout_seconds: -3\n');
    const run = await runCli(['gate', EXAMPLE_ZIP, '--config', 'c.yml'], cwd);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('"runtime.inference_timeout_seconds" must be a number > 0 ≤ 86400, got -3');
  });
});

describe('the host process holds no secret (threats.md G5)', () => {
  const SECRETS: Record<string, string> = {
    APCA_API_KEY_ID: 'PKHOSTILE0123456789',
    APCA_API_SECRET_KEY: 'hostileSecretKey0123456789abcdef',
    ALPACA_KEYS_FILE: '/secret/keys.json',
    GITHUB_TOKEN: 'ghs_hostileToken0123456789',
    'INPUT_GITHUB-TOKEN': 'ghs_hostileInputToken0123',
    ACTIONS_RUNTIME_TOKEN: 'actions-runtime-token-value',
    ACTIONS_RESULTS_URL: 'http://127.0.0.1:9/results',
    GITHUB_OUTPUT: '/tmp/github-output-file',
    GITHUB_ENV: '/tmp/github-env-file',
    RUNNER_TEMP: '/tmp/runner-temp',
    NODE_OPTIONS: '--require /tmp/evil.js',
    CUDA_AUTH_TOKEN: 'looks-like-cuda-but-is-a-token',
  };
  /** The one runner variable kept: the runner finds and kills a job's leftover processes by it. */
  const TRACKING = { RUNNER_TRACKING_ID: 'github_0123abcd-tracking' };

  it('hostEnvironment keeps what a runtime needs and drops every credential and runner variable', () => {
    const env = hostEnvironment({
      ...SECRETS,
      ...TRACKING,
      PATH: '/usr/bin',
      HOME: '/home/runner',
      LD_LIBRARY_PATH: '/usr/local/cuda/lib64',
      CUDA_VISIBLE_DEVICES: '0',
      SystemRoot: 'C:\\Windows',
      OMP_NUM_THREADS: '1',
    });
    expect(env).toEqual({
      RUNNER_TRACKING_ID: 'github_0123abcd-tracking',
      PATH: '/usr/bin',
      HOME: '/home/runner',
      LD_LIBRARY_PATH: '/usr/local/cuda/lib64',
      CUDA_VISIBLE_DEVICES: '0',
      SystemRoot: 'C:\\Windows',
      OMP_NUM_THREADS: '1',
    });
  });

  it.runIf(process.platform === 'linux')("the running host's environment (/proc/<pid>/environ) has none of the parent's secrets", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, SECRETS, TRACKING);
    try {
      await shutdownOrtHost();
      const m = await loadPolicyModel(buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes, { device: 'cpu', label: 'env.onnx' });
      const pid = ortHostStats().pid!;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      const names = environ
        .split('\0')
        .filter(Boolean)
        .map((kv) => kv.slice(0, kv.indexOf('=')));
      for (const [name, value] of Object.entries(SECRETS)) {
        expect(names).not.toContain(name);
        expect(environ.includes(value), `${name}'s value`).toBe(false);
      }
      expect(names).toContain('PATH');
      expect(environ.split('\0')).toContain('RUNNER_TRACKING_ID=github_0123abcd-tracking');
      // glibc keeps what it frees for the next model instead of returning it (host.ts MALLOC_TUNING).
      expect(environ.split('\0')).toContain(`MALLOC_TRIM_THRESHOLD_=${2 ** 32}`);
      // Nor on its command line: the only argument is onnxruntime-node's path.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(cmdline.slice(1, 2)).toEqual(['-']);
      expect(cmdline[2]).toMatch(/onnxruntime-node[\\/].*\.js$/);
      expect(cmdline).toHaveLength(3);
      await m.release();
    } finally {
      for (const k of Object.keys({ ...SECRETS, ...TRACKING })) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
      await shutdownOrtHost();
    }
  });

  it('the fault seam is refused outside tests', async () => {
    const { VITEST, NODE_ENV } = process.env;
    delete process.env['VITEST'];
    process.env['NODE_ENV'] = 'production';
    try {
      await expect(setOrtHostFaultsForTests({ x: { at: 'run', action: 'abort' } })).rejects.toThrow(/test seam/);
    } finally {
      process.env['VITEST'] = VITEST;
      process.env['NODE_ENV'] = NODE_ENV;
    }
  });
});

describe("the host's working folder and temp folder", () => {
  it.runIf(process.platform === 'linux')('the host runs in an empty private folder (/proc/<pid>/cwd), with its own TMPDIR; both are gone when it ends', async () => {
    await shutdownOrtHost();
    const m = await loadPolicyModel(buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes, { device: 'cpu', label: 'cwd.onnx' });
    await m.run({ obs: { data: new Float32Array(4), dims: [1, 4] } });
    const pid = ortHostStats().pid!;
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    expect(cwd).not.toBe(process.cwd());
    expect(path.basename(cwd)).toBe('cwd');
    const root = path.dirname(cwd);
    expect(path.dirname(root)).toBe(tmpdir());
    expect(path.basename(root)).toMatch(/^policy-gate-ort-/);
    expect(readdirSync(cwd)).toEqual([]);
    expect(statSync(cwd).mode & 0o777).toBe(0o700);
    expect(statSync(root).mode & 0o777).toBe(0o700);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const tmp = path.join(root, 'tmp');
    for (const name of ['TMPDIR', 'TMP', 'TEMP']) expect(environ).toContain(`${name}=${tmp}`);
    expect(statSync(tmp).mode & 0o777).toBe(0o700);
    await m.release();
    await shutdownOrtHost();
    expect(existsSync(root)).toBe(false);
  });

  it('after a run — a clean model, one that crashes the runtime, one that hangs it — the temp folder holds nothing from it', async () => {
    const ws = tempDir('ort-tmp-ws-');
    writeFileSync(path.join(ws, 'c.yml'), 'runtime:\n  inference_timeout_seconds: 2\n');
    const fresh = mkdtempSync(path.join(tmpdir(), 'policy-gate-ort-tmpdir-'));
    const saved = process.env['TMPDIR'];
    await shutdownOrtHost();
    process.env['TMPDIR'] = fresh; // os.tmpdir() of policy-gate, and what a host would inherit
    try {
      await setOrtHostFaultsForTests({ 'BTCUSD_4Hour.onnx': { at: 'run', action: 'segv' }, 'BTCUSD_1Day.onnx': { at: 'run', action: 'hang' } });
      const run = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', 'out', '--end', '2024-09-10T00:00:00Z', '--config', 'c.yml'], ws);
      expect(run.code).toBe(1);
      const report = readReport(path.join(ws, 'out'));
      expect(report.models.find((m) => m.id === 'BTCUSD_4Hour')!.errors[0]).toMatch(/onnxruntime crashed while running the model \(killed by signal SIGSEGV\)/);
      expect(report.models.find((m) => m.id === 'BTCUSD_1Day')!.errors[0]).toMatch(/did not finish running the model within 2 s/);
      await shutdownOrtHost();
      // onnxruntime writes mat-debug-<pid>.log and .ses into TMPDIR: they went into each host's own folder, now removed.
      expect(readdirSync(fresh)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

describe('the wire format', () => {
  it('round-trips a message with arrays, and a run request, byte-exact', () => {
    const bytes = Uint8Array.from([1, 2, 3, 250]);
    const floats = Float32Array.from([1.5, -0, Number.MIN_VALUE, 3.4e38, NaN]);
    const frame = Buffer.concat(encodeMessage({ id: 7, op: 'create', bytes, nested: [{ floats }], text: '::error::x' }));
    expect(frame.readUInt32LE(0)).toBe(frame.length - 4);
    const back = decodeFrame(frame.subarray(4)) as { id: number; bytes: Uint8Array; nested: { floats: Float32Array }[]; text: string };
    expect(back.id).toBe(7);
    expect(Array.from(back.bytes)).toEqual([1, 2, 3, 250]);
    expect(Buffer.from(back.nested[0]!.floats.buffer, back.nested[0]!.floats.byteOffset, 20).equals(Buffer.from(floats.buffer))).toBe(true);
    expect(back.text).toBe('::error::x');

    const data = Float32Array.from({ length: 12 }, (_, i) => i / 3);
    const run = Buffer.concat(encodeRun(9, 4, 0, [{ input: 1, float64: false, dims: [2, 6], data: data.subarray(0, 12) }], [0, 2]));
    expect(run.readUInt32LE(0)).toBe(run.length - 4);
    expect(run.readUInt8(4)).toBe(2);
    expect(run.readUInt32LE(8)).toBe(9);
    // The observation bytes are the frame's last 48 bytes, unchanged.
    expect(run.subarray(run.length - 48).equals(Buffer.from(data.buffer))).toBe(true);
  });
});
