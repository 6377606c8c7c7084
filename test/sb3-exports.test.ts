/**
 * Policies exported the way stable-baselines3 and sb3-contrib users export them, evaluated on real
 * bars (examples/data BTCUSD 1Hour): every decision of the backtest and of each walk-forward fold must
 * equal torch's step-by-step decision of the same network (test/fixtures/sb3, made by
 * scripts/export/make_test_models.py; see its PROVENANCE.md). The observation rows the script
 * computed with numpy are the cards' {at, obs} goldens, so the observation builder is checked too.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { loadPolicyModel, type PolicyModel } from '../src/adapters/onnx/session.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { defaultConfig } from '../src/config/schema.js';
import type { SimulationJob } from '../src/core/drive.js';
import { PolicyGateError } from '../src/core/errors.js';
import { callByCall, modelReport } from './helpers/evaluation.js';
import { expectScriptRegenerates, hasTorch } from './helpers/torch-fixtures.js';
import { cleanupTempDirs, EXAMPLE_DATA, REPO, runCli } from './helpers/e2e.js';

const DIR = path.join(REPO, 'test', 'fixtures', 'sb3');
const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);
/** CLOSE, BUY, SELL on a card that may short: the target names the action. */
const TARGET_OF = [0, 1, -1];

afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

interface Reference {
  torch: string;
  end: string;
  backtest_days: number;
  walk_forward: { days: number; folds: number };
  kind: 'discrete' | 'continuous';
  windows: { window: string; first_decision: string; start: string; end: string; actions?: number[]; log_probs?: number[]; means?: number[]; actions_without_memory?: number[] }[];
}

const fixture = (name: string) => ({
  bytes: new Uint8Array(readFileSync(path.join(DIR, `${name}.onnx`))),
  card: JSON.parse(readFileSync(path.join(DIR, `${name}.card.json`), 'utf8')) as Record<string, unknown>,
  ref: JSON.parse(readFileSync(path.join(DIR, `${name}.reference.json`), 'utf8')) as Reference,
});

/** Evaluates like `validate` (backtest + folds, in the model's runtime process) and returns each window's targets. */
async function evaluate(name: string, cardJson: unknown, ref: Reference, opts: { here?: boolean } = {}) {
  const loaded = await loadPolicyModel(fixture(name).bytes, { device: 'cpu', label: `${name}.onnx` });
  let targets: Float64Array[] = [];
  let job: SimulationJob | null = null;
  const counted = callByCall(loaded);
  const model: PolicyModel = opts.here
    ? counted.model
    : {
        ...counted.model,
        run: (feeds, names) => loaded.run(feeds, names),
        simulate: async (j: SimulationJob) => {
          job = j;
          const recorded = await loaded.simulate!(j);
          // The targets of each simulation come first, then their action codes (drive.ts driveJob).
          targets = recorded.targets.slice(0, j.simulations.length);
          return recorded;
        },
      };
  const report = modelReport('BTCUSD_1Hour', '1Hour');
  let error: unknown = null;
  try {
    await evaluateModel(report, model, cardJson, `${name}.card.json`, getBars, {
      config: defaultConfig(),
      endMs: Date.parse(ref.end),
      backtestDays: ref.backtest_days,
      walkForward: ref.walk_forward,
      equityOut: null,
      log: () => {},
      evidence: false,
      ...(opts.here ? { drive: 'here' as const } : {}),
    });
  } catch (err) {
    error = err;
  } finally {
    await loaded.release();
  }
  return { report, targets, job: job as SimulationJob | null, error, calls: counted.calls(), loaded };
}

function expectedDiscrete(ref: Reference): number[][] {
  return ref.windows.map((w) => w.actions!.map((a) => TARGET_OF[a]!));
}

describe('stable-baselines3 and sb3-contrib exports decide as torch does, step by step, on real bars', () => {
  for (const name of ['sb3_discrete', 'sb3_logits', 'sb3_vecnormalize', 'recurrent_ppo', 'window_rank3']) {
    it(`${name}: every decision of the backtest and of each fold equals torch's; golden vectors pass`, async () => {
      const { card, ref } = fixture(name);
      const { report, targets, error } = await evaluate(name, card, ref);
      expect(error).toBeNull();
      expect(report.errors).toEqual([]);
      expect(report.flags).toEqual([]);
      const goldenInference = (card['golden'] as { output?: unknown }[]).filter((g) => g.output !== undefined).length;
      expect(report.notes).toContain(`golden vectors: ${goldenInference} inference and 3 observation parity checks passed`);
      // The windows are the ones the reference was computed for.
      expect(report.backtest!.start).toBe(new Date(ref.windows[0]!.start).toISOString());
      expect(report.walkForward!.folds.map((f) => f.start)).toEqual(ref.windows.slice(1).map((w) => new Date(w.start).toISOString()));
      expect(targets).toHaveLength(ref.windows.length);
      const expected = expectedDiscrete(ref);
      targets.forEach((t, i) => {
        expect(t).toHaveLength(expected[i]!.length);
        expect(Array.from(t), `${name} ${ref.windows[i]!.window}`).toEqual(expected[i]);
      });
    });
  }

  it("sb3_discrete (SB3's recipe as is: int64 action, value, log_prob, no output named) is read as the action index, with a note", async () => {
    const { card, ref } = fixture('sb3_discrete');
    const { report, loaded } = await evaluate('sb3_discrete', card, ref);
    expect(loaded.outputs.map((o) => o.type)).toEqual(['int64', 'float32', 'float32']);
    expect(loaded.outputs[0]!.shape).toEqual([1]);
    const note = report.notes.find((n) => n.includes('read as the action index'));
    expect(note).toContain(`output "${loaded.outputs[0]!.name}" [1] is int64`);
  });

  it('recurrent_ppo: the LSTM state is fed back (without it torch decides differently), windows start new episodes, all windows share each call', async () => {
    const { card, ref } = fixture('recurrent_ppo');
    const memoryless = ref.windows.map((w) => w.actions_without_memory!.map((a) => TARGET_OF[a]!));
    const expected = expectedDiscrete(ref);
    expect(memoryless[0]).not.toEqual(expected[0]); // the fixture would catch a state that is not fed back
    const { targets, job, calls, report } = await evaluate('recurrent_ppo', card, ref);
    expect(Array.from(targets[0]!)).toEqual(expected[0]);
    // The state's batch is on axis 1 ([layers, batch, hidden]) and every window rides in one call per step.
    expect(job!.binding.state.map((s) => [s.input, s.batchAxis, s.size])).toEqual([
      ['h_in', 1, 16],
      ['c_in', 1, 16],
    ]);
    expect(job!.binding.batchable).toBe(true);
    expect(job!.binding.extra).toEqual([{ input: 'episode_starts', size: 1, dims: [1], batchAxis: 0, value: 'episode_start' }]);
    expect(calls).toBe(0);
    expect(report.errors).toEqual([]);
    // Driven here, call by call: one batched call per step for the 4 windows (720 steps), the same decisions.
    const here = await evaluate('recurrent_ppo', card, ref, { here: true });
    expect(here.error).toBeNull();
    expect(here.calls).toBe(2 + 720); // 2 inference goldens, then one call per step
    expect(here.report.backtest).toEqual(report.backtest);
  });

  it('a constant extra input is fed as given: episode_starts held at 1 makes the policy memoryless', async () => {
    const { card, ref } = fixture('recurrent_ppo');
    const constant = { ...card, extra_inputs: [{ name: 'episode_starts', value: 1 }], golden: [] };
    const { targets, error } = await evaluate('recurrent_ppo', constant, ref);
    expect(error).toBeNull();
    expect(Array.from(targets[0]!)).toEqual(ref.windows[0]!.actions_without_memory!.map((a) => TARGET_OF[a]!));
  });

  it('sb3_continuous: the Gaussian mean, clipped to [-1, 1], is the target, as torch computes it', async () => {
    const { card, ref } = fixture('sb3_continuous');
    const { targets, error, report } = await evaluate('sb3_continuous', card, ref);
    expect(error).toBeNull();
    expect(report.errors).toEqual([]);
    const means = ref.windows.map((w) => w.means!);
    expect(means[0]!.some((m) => Math.abs(m) > 1)).toBe(true); // the clip is exercised
    targets.forEach((t, i) => {
      expect(t).toHaveLength(means[i]!.length);
      t.forEach((v, k) => {
        expect(Math.abs(v - Math.max(-1, Math.min(1, means[i]![k]!)))).toBeLessThan(1e-5);
      });
    });
  });

  it("min_confidence reads the log-probability output of SB3's recipe: a chosen action below it is HOLD", async () => {
    const { card, ref, bytes } = fixture('sb3_discrete');
    const probe = await loadPolicyModel(bytes, { device: 'cpu', label: 'probe' });
    const [action, , logProb] = probe.outputs.map((o) => o.name);
    await probe.release();
    const minConfidence = 0.5;
    const withConfidence = {
      ...card,
      action: { meanings: ['CLOSE', 'BUY', 'SELL'], output: action, output_kind: 'action_index', log_prob_output: logProb, min_confidence: minConfidence },
    };
    const { targets, error } = await evaluate('sb3_discrete', withConfidence, ref);
    expect(error).toBeNull();
    ref.windows.forEach((w, i) => {
      let target = 0;
      let held = 0;
      const expected = w.actions!.map((a, k) => {
        if (Math.exp(w.log_probs![k]!) < minConfidence) held++;
        else target = TARGET_OF[a]!;
        return target;
      });
      expect(held).toBeGreaterThan(10);
      expect(Array.from(targets[i]!)).toEqual(expected);
    });
  });
});

describe('mis-set cards for several outputs are named, with what to do', () => {
  it('several outputs and no action.output: every output is listed with its shape, type and the card setting that reads it', async () => {
    const { card, ref } = fixture('sb3_continuous');
    const unnamed = { ...card, action: { type: 'continuous' } };
    const { error } = await evaluate('sb3_continuous', unnamed, ref);
    expect(error).toBeInstanceOf(PolicyGateError);
    const msg = (error as Error).message;
    expect(msg).toContain('BTCUSD_1Hour has 3 outputs and sb3_continuous.card.json does not say which one holds the action; set action.output');
    expect(msg).toContain('- "action" [batch, 1] float32: action.output (continuous: its first value is the target)');
    expect(msg).toContain('- "value" [batch, 1] float32');
    expect(msg).toContain('- "log_prob" [batch] float32');
  });

  it('logits goldens beside an action index output: the card is mis-set, not the export', async () => {
    const { card, ref } = fixture('sb3_discrete');
    const logitsGoldens = { ...card, golden: [{ obs: (card['golden'] as { obs: number[] }[])[0]!.obs, output: [0.3, 1.2, -0.4] }] };
    const { error, report } = await evaluate('sb3_discrete', logitsGoldens, ref);
    const msg = (error as Error).message;
    expect(msg).toContain('golden[0].output has 3 values but the output the card reads');
    expect(msg).toContain('an action index, one value per decision');
    expect(msg).toContain('these goldens look like scores per action');
    expect(msg).not.toContain('does not reproduce');
    expect(report.flags).not.toContain('INFERENCE_MISMATCH');
  });

  it('output_kind "logits" on an integer output says it is an action index', async () => {
    const { card, ref, bytes } = fixture('sb3_discrete');
    const probe = await loadPolicyModel(bytes, { device: 'cpu', label: 'probe' });
    const first = probe.outputs[0]!.name;
    await probe.release();
    const wrong = { ...card, action: { meanings: ['CLOSE', 'BUY', 'SELL'], output: first, output_kind: 'logits' }, golden: [] };
    const { error } = await evaluate('sb3_discrete', wrong, ref);
    expect((error as Error).message).toContain(`action.output_kind is "logits" but output "${first}" [1] is int64, an integer tensor: an action index`);
  });

  it('a recurrent export whose extra input the card does not feed names it and the card key to use', async () => {
    const { card, ref } = fixture('recurrent_ppo');
    const { extra_inputs: _, ...noExtra } = card;
    const { error } = await evaluate('recurrent_ppo', noExtra, ref);
    expect((error as Error).message).toContain('input "episode_starts" [batch] float32 is not fed by recurrent_ppo.card.json');
    expect((error as Error).message).toContain('"extra_inputs"');
  });
});

describe('the command line on an exported policy', () => {
  it('backtest --walk-forward runs the RecurrentPPO export end to end', async () => {
    const res = await runCli([
      'backtest',
      '--model',
      path.join(DIR, 'recurrent_ppo.onnx'),
      '--card',
      path.join(DIR, 'recurrent_ppo.card.json'),
      '--data',
      EXAMPLE_DATA,
      '--days',
      '30',
      '--walk-forward',
      '3',
      '--end',
      '2024-09-10T00:00:00Z',
      '--json',
    ]);
    expect(res.stderr).not.toContain('error');
    const report = JSON.parse(res.stdout);
    // A walk-forward backtest decides (SPEC section 7) and its exit code follows the decision.
    expect(report.models[0].decision.tier).toMatch(/^(PAPER|RETRAIN|DROP)$/);
    expect(res.code).toBe(report.conclusion === 'success' ? 0 : 1);
    expect(report.models[0].errors).toEqual([]);
    expect(report.models[0].walkForward.folds).toHaveLength(3);
  });
});

describe('the fixtures come from the committed script', () => {
  it.skipIf(!hasTorch)('make_test_models.py regenerates test/fixtures/sb3 byte for byte', () => expectScriptRegenerates('make_test_models.py', 'POLICY_GATE_SB3_OUT', DIR), 120_000);
});
