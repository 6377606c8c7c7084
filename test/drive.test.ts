/**
 * Where the simulation loop runs (src/core/drive.ts): inside the onnxruntime process, one request per
 * model (the default), or in policy-gate's own process, one request per step. The two must be the same
 * evaluation: the same report, the same equity curves to the byte, the same errors. Also: the deadline
 * bounds each inference call of a long in-host evaluation (beats), and runtime.parallel_models changes
 * nothing but speed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { ortHostRunCounts, ortHostStats, setOrtHostDeadlineClockForTests, setOrtHostFaultsForTests, shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { manualClock } from './helpers/deadline-clock.js';
import { defaultConfig } from '../src/config/schema.js';
import { parseConfigText } from '../src/config/load.js';
import { parseCard } from '../src/core/card.js';
import { bindModel, infer, type SimulationJob } from '../src/core/drive.js';
import { PolicyGateError } from '../src/core/errors.js';
import { FLAT_STATE, ObservationBuilder } from '../src/core/observation.js';
import type { ModelReport } from '../src/core/report.js';
import type { Timeframe } from '../src/core/types.js';
import { encodeModel } from '../src/devtools/onnx-writer.js';
import { callByCall, modelReport } from './helpers/evaluation.js';
import { cleanupTempDirs, dec, EXAMPLE_DATA, EXAMPLE_ZIP, exampleFiles, MODELS_DIR, runCli, tempDir } from './helpers/e2e.js';

const FILES = exampleFiles();
const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);

afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

async function evaluateBoth(bytes: Uint8Array, cardJson: unknown, id: string, timeframe: Timeframe) {
  const out: { report: ModelReport; error: unknown; csv: Record<string, string>; calls: number }[] = [];
  for (const where of ['model', 'here'] as const) {
    const loaded = await loadPolicyModel(bytes, { device: 'cpu', label: `${id}.onnx` });
    const counted = callByCall(loaded);
    const report = modelReport(id, timeframe);
    const equityOut = tempDir(`drive-${where}-`);
    let error: unknown = null;
    try {
      await evaluateModel(report, where === 'model' ? loaded : counted.model, cardJson, `${id}.card.json`, getBars, {
        config: defaultConfig(),
        endMs: Date.parse('2024-09-10T00:00:00Z'),
        backtestDays: 30,
        walkForward: { days: 180, folds: 5 },
        equityOut,
        log: () => {},
        drive: where,
      });
    } catch (err) {
      error = err;
    } finally {
      await loaded.release();
    }
    const csv = Object.fromEntries(readdirSync(equityOut).map((f) => [f, readFileSync(path.join(equityOut, f), 'utf8')]));
    out.push({ report, error, csv, calls: counted.calls() });
  }
  return { inHost: out[0]!, here: out[1]! };
}

describe('the loop in the onnxruntime process gives exactly the evaluation of the loop here', () => {
  it.each([
    ['BTCUSD_1Hour', '1Hour', 'position-aware discrete, in lockstep'],
    ['BTCUSD_2Hour', '2Hour', 'position-aware discrete, in lockstep'],
    ['BTCUSD_4Hour', '4Hour', 'no state features: batched'],
    ['BTCUSD_1Day', '1Day', 'recurrent continuous with position state'],
  ] as const)('%s (%s: %s)', async (id, timeframe, _kind) => {
    const bytes = FILES[`${MODELS_DIR}/${id}.onnx`]!;
    const cardJson = JSON.parse(dec(FILES[`${MODELS_DIR}/${id}.card.json`]!));
    const { inHost, here } = await evaluateBoth(bytes, cardJson, id, timeframe);
    expect(inHost.error).toBeNull();
    expect(here.error).toBeNull();
    expect(inHost.report.walkForward?.folds).toHaveLength(5);
    // In the onnxruntime process the position-aware MLPs run with their first layer split (the report
    // says so); the loop here runs the full model call by call. Everything else is the same.
    const { inference, ...hostReport } = inHost.report;
    expect(hostReport).toEqual(here.report);
    expect(inference?.path).toBe(_kind.includes('lockstep') ? 'split' : 'full');
    // 1 backtest + 5 folds, each curve the same bytes.
    expect(Object.keys(inHost.csv).sort()).toHaveLength(6);
    expect(inHost.csv).toEqual(here.csv);
    // The loop here really was call by call (the golden vectors are checked call by call on both sides).
    expect(here.calls).toBeGreaterThan(inHost.calls);
  });

  it('a model whose output is NaN fails with the same error, naming the model, either way', async () => {
    const card = JSON.parse(dec(FILES[`${MODELS_DIR}/BTCUSD_2Hour.card.json`]!));
    card.golden = [];
    const parsed = parseCard(card, 'x.card.json', { symbol: 'BTCUSD', timeframe: '2Hour' });
    const D = parsed.observation.window * parsed.observation.features.length;
    const A = parsed.action.type === 'discrete' ? parsed.action.meanings.length : 1;
    const bytes = encodeModel({
      graph: {
        name: 'nan-policy',
        nodes: [
          { opType: 'MatMul', inputs: ['obs', 'W'], outputs: ['z'] },
          { opType: 'Add', inputs: ['z', 'b'], outputs: ['logits'] },
        ],
        initializers: [
          { name: 'W', dims: [D, A], dataType: 'float32', data: new Float32Array(D * A) },
          { name: 'b', dims: [A], dataType: 'float32', data: Float32Array.from({ length: A }, (_, i) => (i === 1 ? NaN : 0)) },
        ],
        inputs: [{ name: 'obs', elemType: 'float32', shape: ['batch', D] }],
        outputs: [{ name: 'logits', elemType: 'float32', shape: ['batch', A] }],
      },
    });
    const { inHost, here } = await evaluateBoth(bytes, card, 'BTCUSD_2Hour', '2Hour');
    expect(inHost.error).toBeInstanceOf(PolicyGateError);
    expect((inHost.error as PolicyGateError).kind).toBe('input');
    expect((inHost.error as Error).message).toMatch(/^model BTCUSD_2Hour: output value 1 is NaN/);
    expect((inHost.error as Error).message).toBe((here.error as Error).message);
    expect((inHost.error as PolicyGateError).subject).toBe((here.error as PolicyGateError).subject);
  });
});

/** The example's position-aware hourly model, its card, all its bars and the default costs. */
async function hourlyExample() {
  const id = 'BTCUSD_1Hour';
  const card = parseCard(JSON.parse(dec(FILES[`${MODELS_DIR}/${id}.card.json`]!)), `${id}.card.json`, { symbol: 'BTCUSD', timeframe: '1Hour' });
  const { bars } = await getBars({ symbol: 'BTCUSD', timeframe: '1Hour', assetClass: 'crypto', endMs: undefined, days: 0, warmupBars: 0 });
  const costs = { feeBps: 25, slippageBps: 5, minTradeValue: 1, capital: 100_000, fill: 'next_open' as const, rebalanceBand: 0.05 };
  return { label: `${id}.onnx`, bytes: FILES[`${MODELS_DIR}/${id}.onnx`]!, card, bars, costs };
}

describe("the look-ahead audit's observations", () => {
  it('come back from the onnxruntime process as its own builder built them on the whole series, and only when asked for', async () => {
    const { label, bytes, card, bars, costs } = await hourlyExample();
    const model = await loadPolicyModel(bytes, { device: 'cpu', label });
    try {
      const job: SimulationJob = {
        label,
        card: { ...card, golden: [] },
        bars,
        binding: bindModel(model, card, label),
        simulations: [{ start: 3000, end: 3100, costs }],
        periodsPerYear: 8760,
      };
      const builder = new ObservationBuilder(card, bars);
      // Bars before, inside and after the simulated window, the last bar of the series among them.
      const observe = [builder.firstValidIndex, 2000, 3050, bars.time.length - 1];
      const asked = await model.simulate!({ ...job, observe });
      const want = new Float32Array(observe.length * builder.size);
      for (const [k, tau] of observe.entries()) builder.build(tau, FLAT_STATE, want, k * builder.size);
      expect(asked.observations).toEqual(want);
      const plain = await model.simulate!(job);
      expect(plain.observations).toBeNull();
      expect(plain.targets).toEqual(asked.targets);
    } finally {
      await model.release();
    }
  });
});

describe("the onnxruntime process's inference calls", () => {
  it("give the same outputs through the session's handler (the default) as through onnxruntime's public run", async () => {
    const { label, bytes, card, bars, costs } = await hourlyExample();
    const builder = new ObservationBuilder(card, bars);
    const obs = new Float32Array(3 * builder.size);
    for (let k = 0; k < 3; k++) builder.build(3000 + 7 * k, { position: k / 2, unrealizedReturn: 0.01 * k }, obs, k * builder.size);
    const runOnce = async () => {
      await shutdownOrtHost();
      const model = await loadPolicyModel(bytes, { device: 'cpu', label });
      try {
        const b = bindModel(model, card, label);
        const job: SimulationJob = {
          label,
          card: { ...card, golden: [] },
          bars,
          binding: b,
          simulations: [
            { start: 3000, end: 3300, costs },
            { start: 3100, end: 3200, costs },
          ],
          periodsPerYear: 8760,
        };
        const outcome = await model.simulate!(job);
        const { out } = await infer(model, b, card, obs, 3, null);
        return { targets: outcome.targets, inference: outcome.inference, out, runs: await ortHostRunCounts() };
      } finally {
        await model.release();
      }
    };
    const viaHandler = await runOnce();
    process.env['POLICY_GATE_ORT_PUBLIC_RUN'] = '1';
    let viaPublic: Awaited<ReturnType<typeof runOnce>>;
    try {
      viaPublic = await runOnce();
    } finally {
      delete process.env['POLICY_GATE_ORT_PUBLIC_RUN'];
      await shutdownOrtHost();
    }
    expect(viaHandler.inference.path).toBe('split');
    // Hundreds of head calls, the self-check's and the golden-style call: each through the path asked for.
    expect(viaHandler.runs.handler).toBeGreaterThan(300);
    expect(viaHandler.runs.public).toBe(0);
    expect(viaPublic.runs).toEqual({ handler: 0, public: viaHandler.runs.handler });
    expect({ ...viaPublic, runs: null }).toEqual({ ...viaHandler, runs: null });
    expect(viaHandler.out.length).toBe(3 * (card.action.type === 'discrete' ? card.action.meanings.length : 1));
  });
});

describe('the deadline of an evaluation in the onnxruntime process', () => {
  // The deadlines run on a clock only the test moves (setOrtHostDeadlineClockForTests): what is proven
  // is which requests a deadline bounds, never how fast this machine is.
  afterEach(async () => {
    await setOrtHostFaultsForTests(null);
    await setOrtHostDeadlineClockForTests(null);
  });

  it('bounds each inference call, not the whole loop: a slow evaluation many deadlines long finishes, because each beat restarts the deadline', async () => {
    // Every inference call of this model takes 25 ms more (test seam), so the host beats after each of
    // the 60 lockstep steps (beats come at most every deadline/4 = 25 ms). After every restart the test
    // moves the clock 99 ms on — just under the 0.1 s deadline — so the loop lasts one such stretch per
    // beat; were beats not restarting the deadline, the second stretch would run it out.
    const clock = manualClock();
    await setOrtHostDeadlineClockForTests(clock.clock);
    await setOrtHostFaultsForTests({ 'slow/BTCUSD_1Hour.onnx': { at: 'run', action: 'slow' } });
    const id = 'BTCUSD_1Hour';
    const label = `slow/${id}.onnx`;
    const bytes = FILES[`${MODELS_DIR}/${id}.onnx`]!;
    const card = parseCard(JSON.parse(dec(FILES[`${MODELS_DIR}/${id}.card.json`]!)), `${id}.card.json`, { symbol: 'BTCUSD', timeframe: '1Hour' });
    const { bars } = await getBars({ symbol: 'BTCUSD', timeframe: '1Hour', assetClass: 'crypto', endMs: undefined, days: 0, warmupBars: 0 });
    const timeoutSeconds = 0.1;
    const model = await loadPolicyModel(bytes, { device: 'cpu', label, timeoutSeconds });
    try {
      const costs = { feeBps: 25, slippageBps: 5, minTradeValue: 1, capital: 100_000, fill: 'next_open' as const, rebalanceBand: 0.05 };
      const start = 1000;
      const job: SimulationJob = {
        label,
        card: { ...card, golden: [] },
        bars,
        binding: bindModel(model, card, label),
        simulations: [
          { start, end: start + 59, costs },
          { start: start + 10, end: start + 40, costs },
        ],
        periodsPerYear: 8760,
      };
      const pid = ortHostStats().pid;
      let settled = false;
      const done = model.simulate!(job).finally(() => {
        settled = true;
      });
      const running = (h: { label: string; what: string }): boolean => h.label === label && h.what === 'running';
      let from = (await clock.next(running)).index + 1;
      let virtualMs = 0;
      for (;;) {
        clock.advance(timeoutSeconds * 1000 - 1);
        virtualMs += timeoutSeconds * 1000 - 1;
        const restarted = await Promise.race([
          clock.next(running, from),
          done.then(
            () => null,
            () => null,
          ),
        ]);
        if (restarted === null || settled) break;
        from = restarted.index + 1;
      }
      const targets = (await done).targets;
      // The targets of the two simulations, then their action codes (drive.ts driveJob).
      expect(targets.map((t) => t.length)).toEqual([60, 31, 60, 31]);
      // The loop outlived fifteen deadlines of virtual time, and was never stopped.
      expect(virtualMs).toBeGreaterThan(15 * timeoutSeconds * 1000);
      expect(ortHostStats().pid).toBe(pid); // not stopped and restarted
    } finally {
      await model.release();
    }
  });

  it('a simulation that hangs is still stopped at the deadline, naming the model', async () => {
    const clock = manualClock();
    await setOrtHostDeadlineClockForTests(clock.clock);
    await setOrtHostFaultsForTests({ 'hang/BTCUSD_1Hour.onnx': { at: 'run', action: 'hang' } });
    const id = 'BTCUSD_1Hour';
    const label = `hang/${id}.onnx`;
    const bytes = FILES[`${MODELS_DIR}/${id}.onnx`]!;
    const cardJson = JSON.parse(dec(FILES[`${MODELS_DIR}/${id}.card.json`]!));
    cardJson.golden = [];
    const model = await loadPolicyModel(bytes, { device: 'cpu', label, timeoutSeconds: 0.3 });
    const report = modelReport(id, '1Hour');
    const evaluation = evaluateModel(report, model, cardJson, `${id}.card.json`, getBars, {
      config: defaultConfig(),
      endMs: Date.parse('2024-09-10T00:00:00Z'),
      backtestDays: 30,
      walkForward: { days: 180, folds: 5 },
      equityOut: null,
      log: () => {},
    }).catch((e: unknown) => e);
    // The simulation request hangs forever; its deadline runs out once 0.3 s pass on the clock.
    await clock.next((h) => h.label === label && h.what === 'running');
    clock.advance(299);
    clock.advance(1);
    const err = await evaluation;
    expect((err as Error).message).toMatch(/^hang\/BTCUSD_1Hour\.onnx: onnxruntime did not finish running the model within 0\.3 s \(runtime\.inference_timeout_seconds\)/);
  });
});

describe('runtime.parallel_models', () => {
  it('is read from the config (1–64, an integer) and refused otherwise', () => {
    expect(defaultConfig().runtime.parallelModels).toBe(2);
    expect(parseConfigText('runtime:\n  parallel_models: 5\n', 'c.yml').runtime.parallelModels).toBe(5);
    for (const bad of ['0', '1.5', '65', '"two"']) {
      expect(() => parseConfigText(`runtime:\n  parallel_models: ${bad}\n`, 'c.yml'), bad).toThrow(/"runtime\.parallel_models" must be an integer/);
    }
  });

  it('changes nothing but speed: 1, 2 and 4 at a time write the same reports, logs and equity curves', async () => {
    const runs: { report: Record<string, unknown>; stderr: string; csv: Record<string, string> }[] = [];
    for (const n of [1, 2, 4]) {
      const cwd = tempDir(`parallel-${n}-`);
      const config = path.join(cwd, 'c.yml');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(config, `runtime:\n  parallel_models: ${n}\n`);
      const out = path.join(cwd, 'out');
      const equity = path.join(cwd, 'equity');
      const run = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out, '--end', '2024-09-10T00:00:00Z', '--config', config, '--equity-out', equity], cwd);
      expect(run.code, run.stderr).toBe(1);
      const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
      const csv = Object.fromEntries(readdirSync(equity).map((f) => [f, readFileSync(path.join(equity, f), 'utf8')]));
      runs.push({ report, stderr: run.stderr.replace(/\(\d+ ms, /g, '(… ms, ').replaceAll(cwd, '<cwd>'), csv });
    }
    const [one, ...others] = runs;
    expect(Object.keys(one!.csv).length).toBeGreaterThanOrEqual(24);
    for (const other of others) {
      expect(other.report['models']).toEqual(one!.report['models']);
      expect(other.report['conclusion']).toEqual(one!.report['conclusion']);
      expect(other.report['runtime']).toEqual(one!.report['runtime']);
      expect(other.report['data']).toEqual(one!.report['data']);
      expect(other.csv).toEqual(one!.csv);
      // The log lines come in archive order whatever order the models finish in.
      expect(other.stderr).toBe(one!.stderr);
    }
  });
});
