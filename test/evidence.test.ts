/**
 * Evidence in the pipeline (docs/evidence.md): the statistics on the example's real walk-forwards, the
 * cost stress (equal to the normal run at 1×, different at 2×, replaying inference where it can), the
 * look-ahead audit catching a planted feature that reads the next bar, champion/challenger on two of the
 * example's models, the evidence rules, and the config section.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, parseConfig } from '../src/config/schema.js';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { decideWithEvidence } from '../src/app/validate.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { parseCard, type PolicyCard } from '../src/core/card.js';
import { decide } from '../src/core/decide.js';
import { applyEvidenceRules, binomialNote, compareChampion, computeEvidence, evaluateEvidenceRules, type Evidence } from '../src/core/evidence.js';
import { summarizeFolds } from '../src/core/folds.js';
import { auditLookahead, sampleBars, truncateSeries, type ObservationSource } from '../src/core/lookahead.js';
import { FLAT_STATE, ObservationBuilder, type ObservationState } from '../src/core/observation.js';
import { mulberry32 } from '../src/core/stats/bootstrap.js';
import { pairedTTest, signTest } from '../src/core/stats/binomial.js';
import type { BarSeries, Decision } from '../src/core/types.js';
import { callByCall, modelReport } from './helpers/evaluation.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, MODELS_DIR, cleanupTempDirs, dec, exampleFiles, runCli, tempDir, writeTree } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

const byId = (report: any): Record<string, any> => Object.fromEntries(report.models.map((m: any) => [m.id, m]));
const EVALUATED = ['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day'];

async function validateJson(extra: string[] = [], cwd?: string, configYaml?: string): Promise<{ code: number; report: any; stderr: string }> {
  const dir = cwd ?? tempDir('ev-cwd-');
  const args = ['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--json', ...extra];
  if (configYaml !== undefined) {
    writeTree(dir, { 'policy-gate.yml': configYaml });
    args.push('--config', path.join(dir, 'policy-gate.yml'));
  }
  const r = await runCli(args, dir);
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr };
}

describe('evidence on the example archive (default config)', () => {
  let report: any;
  let models: Record<string, any>;
  beforeAll(async () => {
    ({ report } = await validateJson());
    models = byId(report);
  });

  it('every evaluated model has evidence; decisions are those of SPEC section 7 (every rule is off)', () => {
    for (const id of EVALUATED) {
      const e = models[id].evidence;
      expect(e, id).toBeTruthy();
      expect(e.rules, id).toEqual([]);
    }
    expect(Object.fromEntries(EVALUATED.map((id) => [id, models[id].decision.tier]))).toEqual({
      BTCUSD_1Hour: 'DROP',
      BTCUSD_4Hour: 'PAPER',
      BTCUSD_2Hour: 'PAPER',
      BTCUSD_1Day: 'RETRAIN',
    });
    for (const id of ['ETHUSD_1Hour', 'SOLUSD_1Hour', 'UNIUSD_1Hour']) expect(models[id].evidence, id).toBeNull();
  });

  it("pools the folds: T = the folds' bars, total return = the folds compounded, binomial note says how often no edge does this", () => {
    const m = models['BTCUSD_4Hour'];
    const e = m.evidence;
    const folds = m.walkForward.folds;
    expect(e.returns.observations).toBe(folds.reduce((s: number, f: any) => s + f.bars, 0));
    const compounded = folds.reduce((g: number, f: any) => g * (1 + f.metrics.totalReturn), 1) - 1;
    expect(e.returns.totalReturn).toBeCloseTo(compounded, 12);
    expect(e.bootstrap.totalReturnPoint).toBe(e.returns.totalReturn);
    expect(e.folds).toEqual({
      positive: 4,
      k: 5,
      binomialP: 0.1875,
      note: '4 of 5 positive folds happens 18.75 % of the time with no edge (P(X ≥ 4), each fold a fair coin flip)',
    });
    expect(models['BTCUSD_1Hour'].evidence.folds.binomialP).toBe(1);
    expect(models['BTCUSD_1Day'].evidence.folds.binomialP).toBe(31 / 32);
  });

  it('PSR, MinTRL and DSR are consistent with each other on the real returns', () => {
    for (const id of EVALUATED) {
      const e = models[id].evidence;
      expect(e.psr, id).toBeGreaterThan(0);
      expect(e.psr, id).toBeLessThan(1);
      // The DSR is a PSR against a higher benchmark (SR₀ > 0 with N > 1 trials), so it is lower.
      expect(e.dsr.trials, id).toBe(models[id].gating.points);
      expect(e.dsr.expectedMaxSharpe, id).toBeGreaterThan(0);
      expect(e.dsr.value, id).toBeLessThan(e.psr);
      expect(e.dsr.trialSharpeVariance, id).toBeCloseTo(1 / (e.returns.observations - 1), 15);
      if (e.returns.sharpe > 0) {
        expect(e.minTrl.observations, id).toBeGreaterThan(1);
        expect(e.minTrl.met, id).toBe(e.returns.observations >= e.minTrl.observations);
        expect(e.minTrl.met, id).toBe(e.psr >= 0.95);
      } else {
        expect(e.minTrl, id).toBeNull();
        expect(e.undefinedReasons.minTrl, id).toContain('does not exceed');
      }
    }
  });

  it('the bootstrap interval records its seed and contains the point estimate here', () => {
    for (const id of EVALUATED) {
      const b = models[id].evidence.bootstrap;
      expect(b).toMatchObject({ seed: 20240911, samples: 2000, confidence: 0.9, blockLengthSource: 'auto' });
      expect(b.blockLength).toBe(Math.ceil(Math.cbrt(models[id].evidence.returns.observations) - 1e-9));
      expect(b.sharpe[0]).toBeLessThan(b.sharpePoint);
      expect(b.sharpe[1]).toBeGreaterThan(b.sharpePoint);
      expect(b.totalReturn[0]).toBeLessThan(b.totalReturnPoint);
      expect(b.totalReturn[1]).toBeGreaterThan(b.totalReturnPoint);
    }
  });

  it('the look-ahead audit checks 16 seeded bars per model and finds nothing in the real feature code', () => {
    for (const id of EVALUATED) {
      const la = models[id].evidence.lookahead;
      expect(la).toMatchObject({ samples: 16, seed: 20240911, checked: 16, mismatches: 0, details: [], historyDependent: 0, historyDetails: [] });
      expect(models[id].flags).not.toContain('LOOKAHEAD');
    }
  });

  it('the CLI has no deployment configs in its empty working folder, so no champion, and says so', () => {
    expect(models['BTCUSD_2Hour'].evidence.champion).toBeNull();
    expect(models['BTCUSD_2Hour'].evidence.undefinedReasons.champion).toBe('no deployed champion: neither deploy/live.json nor deploy/paper.json lists BTCUSD_2Hour');
  });

  it('the same seed reproduces the same evidence; another seed moves only the bootstrap and the audit sample', async () => {
    const again = byId((await validateJson()).report);
    for (const id of EVALUATED) expect(again[id].evidence, id).toEqual(models[id].evidence);
    const other = byId((await validateJson([], undefined, 'evidence:\n  bootstrap: { seed: 7 }\n  lookahead_audit: { seed: 7 }\n')).report);
    const a = models['BTCUSD_4Hour'].evidence;
    const b = other['BTCUSD_4Hour'].evidence;
    expect(b.bootstrap.seed).toBe(7);
    expect(b.bootstrap.sharpe).not.toEqual(a.bootstrap.sharpe);
    expect(b.lookahead.bars).not.toEqual(a.lookahead.bars);
    expect(b.psr).toBe(a.psr);
    expect(b.dsr).toEqual(a.dsr);
  });
});

describe('cost stress', () => {
  it('at 1× the stressed folds equal the normal folds exactly (batched, stepwise and recurrent policies)', async () => {
    const { report } = await validateJson([], undefined, 'evidence:\n  cost_stress: { multiplier: 1 }\n');
    for (const m of report.models.filter((x: any) => EVALUATED.includes(x.id))) {
      const cs = m.evidence.costStress;
      expect(cs.multiplier).toBe(1);
      expect(
        cs.folds.map((f: any) => [f.totalReturn, f.sharpe, f.trades]),
        m.id,
      ).toEqual(m.walkForward.folds.map((f: any) => [f.metrics.totalReturn, f.metrics.sharpe, f.metrics.trades]));
      expect(cs.summary, m.id).toEqual(m.walkForward.summary);
      expect(cs.decisionUnderStress, m.id).toBe(m.decision.tier);
      expect(cs.holds, m.id).toBe(true);
    }
  });

  it('at 2× (the default) fees and slippage double, and every fold that traded returns something else', async () => {
    const { report } = await validateJson();
    for (const m of report.models.filter((x: any) => EVALUATED.includes(x.id))) {
      const cs = m.evidence.costStress;
      expect(cs).toMatchObject({ multiplier: 2, feeBps: 50, slippageBps: 10 });
      m.walkForward.folds.forEach((f: any, i: number) => {
        if (f.metrics.trades > 0) expect(cs.folds[i].totalReturn, `${m.id} fold ${f.index}`).not.toBe(f.metrics.totalReturn);
      });
    }
    // The 4Hour policy has no state features: the same actions replayed at higher cost lose more in every fold.
    const m4 = byId(report)['BTCUSD_4Hour'];
    m4.walkForward.folds.forEach((f: any, i: number) => {
      expect(m4.evidence.costStress.folds[i].totalReturn).toBeLessThan(f.metrics.totalReturn);
    });
    expect(m4.evidence.costStress.decisionUnderStress).toBe('PAPER');
  });

  it('the require_hold rule lowers a decision that does not survive the stress', async () => {
    // At 20× costs (5 % fee per trade) the 4Hour model's folds turn negative.
    const { report } = await validateJson([], undefined, 'evidence:\n  cost_stress: { multiplier: 20, require_hold: true }\n');
    const m = byId(report)['BTCUSD_4Hour'];
    expect(m.evidence.costStress.decisionUnderStress).not.toBe('PAPER');
    expect(m.evidence.costStress.holds).toBe(false);
    expect(m.decision.tier).toBe('RETRAIN');
    expect(m.decision.reasons[0]).toMatch(/^evidence rule cost_stress\.require_hold: at 20× costs the walk-forward earns (RETRAIN|DROP), below PAPER → PAPER lowered to RETRAIN$/);
    expect(m.evidence.rules).toEqual([expect.objectContaining({ rule: 'cost_stress.require_hold', passed: false })]);
  });
});

// ------------------------------------------------------------------ direct evaluation helpers

const FILES = exampleFiles();

const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);

async function evaluate4Hour(
  plan: { evidence?: boolean; observationBuilder?: (card: PolicyCard, bars: BarSeries) => ObservationBuilder },
  opts: { withoutObservationGolden?: boolean; timeframe?: '4Hour' | '2Hour' } = {},
) {
  const tf = opts.timeframe ?? '4Hour';
  const bytes = FILES[`${MODELS_DIR}/BTCUSD_${tf}.onnx`]!;
  const cardJson = JSON.parse(dec(FILES[`${MODELS_DIR}/BTCUSD_${tf}.card.json`]!));
  // Observation parity vectors ({at, obs}) would also catch a leak, at their own bars; most cards have none.
  if (opts.withoutObservationGolden) cardJson.golden = cardJson.golden.filter((g: { at?: unknown }) => g.at === undefined);
  const loaded = await loadPolicyModel(bytes, { device: 'cpu', label: `BTCUSD_${tf}.onnx` });
  const { model, calls } = callByCall(loaded);
  const report = modelReport(`BTCUSD_${tf}`, tf);
  try {
    await evaluateModel(report, model, cardJson, `BTCUSD_${tf}.card.json`, getBars, {
      config: defaultConfig(),
      endMs: undefined,
      backtestDays: 30,
      walkForward: { days: 180, folds: 5 },
      equityOut: null,
      log: () => {},
      ...plan,
    });
  } finally {
    await loaded.release();
  }
  return { report, calls: calls() };
}

describe('the cost stress costs no extra inference calls', () => {
  it.each(['4Hour', '2Hour'] as const)('BTCUSD_%s (4Hour: batched, no state features; 2Hour: position-aware, in lockstep): the stressed folds ride in the same calls', async (timeframe) => {
    const plain = await evaluate4Hour({ evidence: false }, { timeframe });
    const withEvidence = await evaluate4Hour({}, { timeframe });
    expect(plain.report.evidence).toBeNull();
    expect(withEvidence.report.evidence?.costStress?.multiplier).toBe(2);
    expect(withEvidence.calls).toBe(plain.calls);
    expect(plain.calls).toBeGreaterThan(timeframe === '2Hour' ? 400 : 0);
    // and the normal results do not depend on what else was in the batch
    expect(withEvidence.report.walkForward).toEqual(plain.report.walkForward);
    expect(withEvidence.report.backtest).toEqual(plain.report.backtest);
  });
});

// ------------------------------------------------------------------ look-ahead

/**
 * A planted look-ahead feature: the builder's first value is nudged by the NEXT bar's return, the way
 * a centred moving average or a label leaking into the features would do it.
 */
class PeekingBuilder extends ObservationBuilder {
  private readonly series: BarSeries;
  constructor(card: PolicyCard, bars: BarSeries) {
    super(card, bars);
    this.series = bars;
  }
  override build(tau: number, state: ObservationState, out: Float32Array, offset = 0): Float32Array {
    super.build(tau, state, out, offset);
    const next = this.series.close[tau + 1];
    out[offset] = out[offset]! + (next === undefined ? NaN : next / this.series.close[tau]! - 1);
    return out;
  }
}

describe('look-ahead audit', () => {
  it('catches a planted feature that reads bar τ + 1: LOOKAHEAD, and the decision is DROP (rule 1)', async () => {
    const { report } = await evaluate4Hour({ observationBuilder: (card, bars) => new PeekingBuilder(card, bars) }, { withoutObservationGolden: true });
    const la = report.evidence!.lookahead!;
    expect(la.checked).toBe(16);
    expect(la.mismatches).toBe(16);
    expect(la.details[0]).toMatch(
      /^observation at \d{4}-\d\d-\d\dT[\d:.]+Z: value 0 \(return\(lag=1\) in row 0 \(2 bars before the decision bar\)\) is -?[\d.e-]+ with the full data but NaN without the bars after it$/,
    );
    expect(report.flags).toContain('LOOKAHEAD');
    expect(report.errors[0]).toMatch(/^LOOKAHEAD: 16 of 16 sampled observations change when the bars after their decision bar are removed/);
    const d = decide({ gating: report.gating!, flags: report.flags, folds: report.walkForward!.summary, notEvaluated: null }, defaultConfig().decision)!;
    expect(d.tier).toBe('DROP');
    expect(d.rule).toMatch(/^rule 1/);
    expect(d.reasons[0]).toContain('LOOKAHEAD');
  });

  it('the honest builder passes the same audit (the control)', async () => {
    const { report } = await evaluate4Hour({ observationBuilder: (card, bars) => new ObservationBuilder(card, bars) }, { withoutObservationGolden: true });
    expect(report.evidence!.lookahead!.mismatches).toBe(0);
    expect(report.flags).not.toContain('LOOKAHEAD');
  });

  it('a truncated series is a view ending at τ; the sampler draws distinct bars inside the range, seeded', () => {
    const card = parseCard(JSON.parse(dec(FILES[`${MODELS_DIR}/BTCUSD_4Hour.card.json`]!)), 'card.json');
    const full = new Float64Array([1, 2, 3, 4, 5]);
    const bars: BarSeries = { symbol: 'X', timeframe: '4Hour', time: full, open: full, high: full, low: full, close: full, volume: full };
    const t = truncateSeries(bars, 2);
    expect(Array.from(t.close)).toEqual([1, 2, 3]);
    expect(t.close.buffer).toBe(full.buffer);
    const s = sampleBars(100, 200, 16, mulberry32(1));
    expect(new Set(s).size).toBe(16);
    expect(s.every((x) => x >= 100 && x <= 200)).toBe(true);
    expect(s).toEqual([...s].sort((a, b) => a - b));
    expect(sampleBars(100, 200, 16, mulberry32(1))).toEqual(s);
    expect(sampleBars(5, 7, 16, mulberry32(1))).toEqual([5, 6, 7]);
    expect(card.observation.window).toBe(3);
  });

  it('a builder that throws without the future counts as a mismatch, with the reason', async () => {
    const values = new Float64Array(50).map((_, i) => 100 + i);
    const bars: BarSeries = { symbol: 'X', timeframe: '1Hour', time: values.map((_, i) => i * 3_600_000), open: values, high: values, low: values, close: values, volume: values };
    const source = (b: BarSeries): ObservationSource => ({
      size: 1,
      firstValidIndex: 0,
      build: (tau, _state, out) => {
        if (tau + 1 >= b.close.length) throw new Error(`bar ${tau + 1} is missing`);
        out[0] = b.close[tau + 1]!;
        return out;
      },
    });
    const audit = await auditLookahead(bars, source(bars), source, [10, 20], { samples: 2, seed: 1, state: FLAT_STATE });
    expect(audit.mismatches).toBe(2);
    expect(audit.details[0]).toBe('observation at 1970-01-01T10:00:00.000Z: it cannot be built without the bars after it (bar 11 is missing)');
    expect(audit.historyDependent).toBe(0);
  });

  it('a feature that reads more history than its warm-up is a history dependence, not a look-ahead', async () => {
    const values = new Float64Array(60).map((_, i) => 100 + i);
    const bars: BarSeries = { symbol: 'X', timeframe: '1Hour', time: values.map((_, i) => i * 3_600_000), open: values, high: values, low: values, close: values, volume: values };
    // Declares a warm-up of 5 bars but sums every close since the start of the series.
    const source = (b: BarSeries): ObservationSource => ({
      size: 1,
      firstValidIndex: 5,
      build: (tau, _state, out) => {
        let s = 0;
        for (let i = 0; i <= tau; i++) s += b.close[i]!;
        out[0] = s;
        return out;
      },
    });
    const audit = await auditLookahead(bars, source(bars), source, [3, 30, 40], { samples: 3, seed: 1, state: FLAT_STATE });
    expect(audit.mismatches).toBe(0);
    // τ = 3 is inside the first warm-up (its view starts at bar 0), so only 30 and 40 differ.
    expect(audit.historyDependent).toBe(2);
    expect(audit.historyDetails[0]).toMatch(/^observation at 1970-01-02T06:00:00\.000Z: value 0 \(value 0\) is \d+ with the full data but \d+ without the bars after it and those before its warm-up$/);
  });
});

// ------------------------------------------------------------------ champion / challenger

describe('champion/challenger on the example', () => {
  const deployFinal = (cwd: string, file = 'deploy/paper.json', id = 'BTCUSD_2Hour', model = 'BTCUSD_2Hour'): void => {
    writeTree(cwd, {
      [file]: JSON.stringify({ models: { [id]: { model: `models/${model}.onnx`, card: `models/${model}.card.json`, since: '2024-09-01' } } }, null, 2),
      [`models/${model}.onnx`]: FILES[`${MODELS_DIR}/${model}.onnx`]!,
      [`models/${model}.card.json`]: FILES[`${MODELS_DIR}/${model}.card.json`]!,
    });
  };

  it('the checkpoint (challenger) and the deployed final model (champion) run on the same folds; the report pairs them', async () => {
    const cwd = tempDir('champion-');
    deployFinal(cwd);
    const { report, stderr } = await validateJson([], cwd);
    const m = byId(report)['BTCUSD_2Hour'];
    expect(m.candidate).toBe('checkpoint:3');
    const c = m.evidence.champion;
    expect(c).toMatchObject({ source: 'deploy/paper.json', tier: 'PAPER', path: 'models/BTCUSD_2Hour.onnx', card: 'models/BTCUSD_2Hour.card.json' });
    expect(stderr).toContain('BTCUSD_2Hour: vs champion models/BTCUSD_2Hour.onnx (PAPER)');

    // The champion's folds are what `policy-gate backtest` gives for the final model on the same 180 days.
    const bt = await runCli(['backtest', '--model', 'models/BTCUSD_2Hour.onnx', '--data', EXAMPLE_DATA, '--days', '180', '--walk-forward', '5', '--json'], cwd);
    const alone = JSON.parse(bt.stdout).models[0].walkForward.folds;
    expect(c.folds.map((f: any) => f.champion)).toEqual(alone.map((f: any) => f.metrics.totalReturn));
    expect(c.folds.map((f: any) => f.championSharpe)).toEqual(alone.map((f: any) => f.metrics.sharpe));
    expect(c.folds.map((f: any) => f.challenger)).toEqual(m.walkForward.folds.map((f: any) => f.metrics.totalReturn));
    const diffs = c.folds.map((f: any) => f.challenger - f.champion);
    expect(c.folds.map((f: any) => f.difference)).toEqual(diffs);
    expect(c.tTest).toEqual(pairedTTest(diffs));
    expect(c.signTest).toEqual(signTest(diffs));
    // Here the checkpoint beats the final model in all 5 folds: the t-test finds it (p < 0.01), while the
    // sign test cannot go below 2/32 = 6.25 % with 5 folds — the report says so.
    expect(c.signTest).toMatchObject({ positive: 5, negative: 0, p: 0.0625 });
    expect(c.tTest.p).toBeLessThan(0.01);
    expect(c.notWorse).toBe(true);
    expect(c.note).toContain('cannot go below p = 6.25 %');
    // The comparison is evidence only: the decision is unchanged without the rule.
    expect(m.decision.tier).toBe('PAPER');
  });

  it('with challenger_not_worse on, a challenger that is not worse keeps its decision and the rule is recorded as passed', async () => {
    const cwd = tempDir('champion-rule-');
    deployFinal(cwd, 'deploy/live.json');
    const { report } = await validateJson([], cwd, 'evidence:\n  rules: { challenger_not_worse: true }\n');
    const m = byId(report)['BTCUSD_2Hour'];
    expect(m.evidence.champion.tier).toBe('LIVE');
    expect(m.evidence.rules).toEqual([expect.objectContaining({ rule: 'challenger_not_worse', passed: true })]);
    expect(m.decision.tier).toBe('PAPER');
  });

  it('a deployment config that deploys this very file is not a champion; a champion on other bars is not compared', async () => {
    const cwd = tempDir('champion-same-');
    writeTree(cwd, {
      'deploy/paper.json': JSON.stringify({ models: { BTCUSD_2Hour: { model: 'models/cp.onnx', card: 'models/cp.card.json' } } }),
      'models/cp.onnx': FILES[`${MODELS_DIR}/checkpoints/BTCUSD_2Hour_3.onnx`]!,
      'models/cp.card.json': FILES[`${MODELS_DIR}/checkpoints/BTCUSD_2Hour_3.card.json`]!,
    });
    const same = byId((await validateJson([], cwd)).report)['BTCUSD_2Hour'].evidence;
    expect(same.champion).toBeNull();
    expect(same.undefinedReasons.champion).toContain('already deploys this exact model');

    const cwd2 = tempDir('champion-other-');
    deployFinal(cwd2, 'deploy/paper.json', 'BTCUSD_2Hour', 'BTCUSD_4Hour');
    const other = byId((await validateJson([], cwd2)).report)['BTCUSD_2Hour'].evidence;
    expect(other.champion).toBeNull();
    expect(other.undefinedReasons.champion).toMatch(/folds do not cover the same bars|could not be evaluated/);
  });
});

describe('evidence in the outputs and the decision', () => {
  it('report.md (and so the PR comment and job summary) has an Evidence block per evaluated model; the terminal an EVIDENCE block', async () => {
    const cwd = tempDir('ev-md-');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', 'out'], cwd);
    const md = readFileSync(path.join(cwd, 'out', 'report.md'), 'utf8');
    expect(md.match(/\*\*Evidence\*\* — the folds' \d+ bar returns pooled/g)).toHaveLength(4);
    expect(md).toContain('| Fold binomial p                |              0.1875 | 4 of 5 positive folds happens 18.75 % of the time with no edge');
    expect(md).toMatch(/\| Bootstrap 90 % Sharpe +\| +\[-?\d+\.\d\d, -?\d+\.\d\d\] \| point -?\d+\.\d\d; stationary bootstrap, seed 20240911, 2000 resamples, mean block \d+ bars/);
    expect(md).not.toMatch(/\bNaN\b|Infinity|undefined/);
    expect(r.stdout.match(/^EVIDENCE \(the folds' \d+ bar returns pooled: Sharpe -?\d+\.\d\d, total return -?\d+\.\d\d%; docs\/evidence\.md\)$/gm)).toHaveLength(4);
    expect(r.stdout.match(/^ {2}Look-ahead audit: 0 of 16 bars differ$/gm)).toHaveLength(4);
    expect(r.stdout).toContain('  Folds: 4 of 5 positive folds happens 18.75 % of the time with no edge');
  });

  it('min_psr on: the models whose PSR falls short drop a tier, and the run says why', async () => {
    const { report } = await validateJson([], undefined, 'evidence:\n  rules: { min_psr: 0.95, max_binomial_p: 0.2 }\n');
    const models = byId(report);
    for (const id of ['BTCUSD_4Hour', 'BTCUSD_2Hour']) {
      const m = models[id];
      expect(m.evidence.psr, id).toBeLessThan(0.95);
      expect(m.decision.tier, id).toBe('RETRAIN');
      expect(m.decision.reasons[0], id).toBe(`evidence rule min_psr: probabilistic Sharpe ratio ${Number(m.evidence.psr.toFixed(3))} < min_psr 0.95 → PAPER lowered to RETRAIN`);
      expect(
        m.evidence.rules.map((x: any) => [x.rule, x.passed]),
        id,
      ).toEqual([
        ['min_psr', false],
        ['max_binomial_p', true],
      ]);
    }
    expect(report.conclusionReasons).toContain('BTCUSD_4Hour: RETRAIN is below the requested PAPER');
    // DROP and RETRAIN decisions keep their tier.
    expect(models['BTCUSD_1Hour'].decision.tier).toBe('DROP');
    expect(models['BTCUSD_1Day'].decision.tier).toBe('RETRAIN');
  });

  it('backtest --walk-forward gets the evidence too, with one trial and no champion lookup', async () => {
    const cwd = tempDir('ev-bt-');
    writeTree(cwd, {
      'm/BTCUSD_4Hour.onnx': FILES[`${MODELS_DIR}/BTCUSD_4Hour.onnx`]!,
      'm/BTCUSD_4Hour.card.json': FILES[`${MODELS_DIR}/BTCUSD_4Hour.card.json`]!,
    });
    const r = await runCli(['backtest', '--model', 'm/BTCUSD_4Hour.onnx', '--data', EXAMPLE_DATA, '--days', '180', '--walk-forward', '5', '--json'], cwd);
    const m = JSON.parse(r.stdout).models[0];
    const e = m.evidence;
    expect(e.dsr).toMatchObject({ trials: 1, trialsSource: 'no training history: one trial', expectedMaxSharpe: 0 });
    expect(e.dsr.value).toBe(e.psr);
    // The walk-forward decides (rule 4: 4/5 positive folds) and so does the cost-stressed one, by the same rules.
    expect(r.code).toBe(0);
    expect(m.decision.rule).toBe('rule 4: moderately consistent walk-forward');
    expect(e.costStress).toMatchObject({ decisionUnderStress: 'PAPER', holds: true });
    expect(e.undefinedReasons.champion).toBe('not compared: only validate looks for a deployed champion');
  });
});

// ------------------------------------------------------------------ rules (pure)

function evidenceFixture(over: Partial<Evidence> = {}): Evidence {
  const equity = [
    [100, 101, 103],
    [100, 99, 100.5],
    [100, 102, 101],
    [100, 100.5, 101.5],
    [100, 98, 97],
  ];
  const summary = summarizeFolds(
    equity.map((e) => ({ totalReturn: e[e.length - 1]! / e[0]! - 1, sharpe: 1 })),
    5,
  );
  const base = computeEvidence({ foldEquity: equity, summary, periodsPerYear: 252, trials: { n: 3, source: 'test' }, config: defaultConfig().evidence });
  return { ...base, ...over };
}

describe('evidence rules', () => {
  const paper: Decision = { tier: 'PAPER', rule: 'rule 4: moderately consistent walk-forward', reasons: ['rule 4: …'] };
  const live: Decision = { tier: 'LIVE', rule: 'rule 3: consistent walk-forward and APPROVED gating', reasons: ['rule 3: …'] };

  it('the fixture pools 10 returns from 5 folds, 4 of them positive', () => {
    const e = evidenceFixture();
    expect(e.returns.observations).toBe(10);
    expect(e.folds.binomialP).toBe(0.1875);
    expect(e.folds.note).toBe(binomialNote(4, 5, 0.1875));
    expect(e.returns.totalReturn).toBeCloseTo(1.03 * 1.005 * 1.01 * 1.015 * 0.97 - 1, 12);
  });

  it('every rule is off by default: nothing is evaluated and the decision is untouched', () => {
    const rules = evaluateEvidenceRules(evidenceFixture(), defaultConfig().evidence, paper);
    expect(rules).toEqual([]);
    expect(applyEvidenceRules(paper, rules)).toBe(paper);
  });

  it('a failing rule lowers the decision one tier, saying why first; two failing rules lower LIVE two tiers', () => {
    const cfg = defaultConfig().evidence;
    cfg.rules.minPsr = 0.999;
    const e = evidenceFixture();
    const one = applyEvidenceRules(paper, evaluateEvidenceRules(e, cfg, paper));
    expect(one.tier).toBe('RETRAIN');
    expect(one.rule).toBe('evidence rules: min_psr');
    expect(one.reasons[0]).toMatch(/^evidence rule min_psr: probabilistic Sharpe ratio 0\.\d+ < min_psr 0\.999 → PAPER lowered to RETRAIN$/);
    expect(one.reasons).toContain('before the evidence rules: PAPER (rule 4: moderately consistent walk-forward)');
    cfg.rules.maxBinomialP = 0.05;
    const two = applyEvidenceRules(live, evaluateEvidenceRules(e, cfg, live));
    expect(two.tier).toBe('RETRAIN');
    expect(two.rule).toBe('evidence rules: min_psr, max_binomial_p');
  });

  it('rules never push below RETRAIN: a RETRAIN decision keeps its tier and lists the failures as facts', () => {
    const cfg = defaultConfig().evidence;
    cfg.rules.maxBinomialP = 0.05;
    const retrain: Decision = { tier: 'RETRAIN', rule: 'rule 5', reasons: ['rule 5: …'] };
    const d = applyEvidenceRules(retrain, evaluateEvidenceRules(evidenceFixture(), cfg, retrain));
    expect(d.tier).toBe('RETRAIN');
    expect(d.reasons[1]).toMatch(/^evidence rule max_binomial_p also fails: 4 of 5 positive folds happens 18\.75 % of the time/);
  });

  it('a rule on a statistic that is not defined fails (the evidence is missing), and passing rules change nothing', () => {
    const cfg = defaultConfig().evidence;
    cfg.rules.minDsr = 0.5;
    const e = evidenceFixture({ dsr: { ...evidenceFixture().dsr, value: null } });
    e.undefinedReasons['dsr'] = 'every return is the same';
    const [r] = evaluateEvidenceRules(e, cfg, paper);
    expect(r).toMatchObject({ rule: 'min_dsr', passed: false });
    expect(r!.detail).toContain('every return is the same');
    cfg.rules.minDsr = 0;
    expect(applyEvidenceRules(paper, evaluateEvidenceRules(evidenceFixture(), cfg, paper))).toBe(paper);
  });

  it('challenger_not_worse fails for a worse challenger and passes when there is no champion', () => {
    const cfg = defaultConfig().evidence;
    cfg.rules.challengerNotWorse = true;
    const worse = compareChampion(
      [1, 2, 3].map((i) => ({ index: i, totalReturn: 0.01 * i, sharpe: 1 })),
      [1, 2, 3].map((i) => ({ index: i, totalReturn: 0.02 * i, sharpe: 1 })),
      { source: 'deploy/live.json', tier: 'LIVE', path: 'm.onnx', card: 'm.card.json', sha256: 'x' },
    );
    expect(worse.meanDifference).toBeCloseTo(-0.02, 15);
    expect(worse.notWorse).toBe(false);
    const rules = evaluateEvidenceRules(evidenceFixture({ champion: worse }), cfg, paper);
    expect(rules[0]).toMatchObject({ rule: 'challenger_not_worse', passed: false });
    expect(applyEvidenceRules(paper, rules).tier).toBe('RETRAIN');
    const none = evidenceFixture();
    none.undefinedReasons['champion'] = 'no deployed champion';
    expect(evaluateEvidenceRules(none, cfg, paper)[0]).toMatchObject({ passed: true, detail: 'no champion to compare with (no deployed champion)' });
  });

  it('decideWithEvidence records the stressed decision and applies the rules', () => {
    const config = defaultConfig();
    config.evidence.costStress.requireHold = true;
    const e = evidenceFixture();
    const stressedSummary = summarizeFolds(
      [0.01, -0.01, -0.02, -0.01, -0.03].map((r) => ({ totalReturn: r, sharpe: r * 100 })),
      5,
    );
    e.costStress = { multiplier: 2, feeBps: 50, slippageBps: 10, folds: [], summary: stressedSummary, decisionUnderStress: null, holds: null };
    const m = { ...modelReport('X_4Hour', '4Hour'), evidence: e };
    const d = decideWithEvidence(m, paper, config);
    expect(e.costStress.decisionUnderStress).toBe('RETRAIN');
    expect(e.costStress.holds).toBe(false);
    expect(d.tier).toBe('RETRAIN');
  });
});

describe('config: the evidence section', () => {
  it('defaults: every rule off, 2000 seeded resamples, 2× costs, 16 audited bars', () => {
    expect(defaultConfig().evidence).toEqual({
      psrBenchmarkSharpe: 0,
      minTrlConfidence: 0.95,
      dsrTrials: null,
      bootstrap: { samples: 2000, seed: 20240911, blockLength: null, confidence: 0.9 },
      costStress: { multiplier: 2, requireHold: false },
      lookaheadAudit: { samples: 16, seed: 20240911 },
      rules: { minPsr: null, minDsr: null, maxBinomialP: null, challengerNotWorse: false },
    });
  });

  it('reads every key, explicit nulls included', () => {
    const c = parseConfig(
      {
        evidence: {
          psr_benchmark_sharpe: 0.5,
          min_trl_confidence: 0.9,
          dsr_trials: 20,
          bootstrap: { samples: 500, seed: 1, block_length: 24, confidence: 0.95 },
          cost_stress: { multiplier: 3, require_hold: true },
          lookahead_audit: { samples: 0, seed: 2 },
          rules: { min_psr: 0.95, min_dsr: null, max_binomial_p: 0.2, challenger_not_worse: true },
        },
      },
      'cfg.yml',
    );
    expect(c.evidence).toEqual({
      psrBenchmarkSharpe: 0.5,
      minTrlConfidence: 0.9,
      dsrTrials: 20,
      bootstrap: { samples: 500, seed: 1, blockLength: 24, confidence: 0.95 },
      costStress: { multiplier: 3, requireHold: true },
      lookaheadAudit: { samples: 0, seed: 2 },
      rules: { minPsr: 0.95, minDsr: null, maxBinomialP: 0.2, challengerNotWorse: true },
    });
  });

  it.each([
    [{ evidence: { rules: { min_sharpe: 1 } } }, /unknown key "evidence\.rules\.min_sharpe"/],
    [{ evidence: { rules: { challenger_not_worse: 'yes' } } }, /"evidence\.rules\.challenger_not_worse" must be true or false, got "yes"/],
    [{ evidence: { bootstrap: { seed: -1 } } }, /"evidence\.bootstrap\.seed" must be an integer ≥ 0/],
    [{ evidence: { rules: { min_psr: 1.5 } } }, /"evidence\.rules\.min_psr" must be a number ≥ 0 ≤ 1, got 1\.5/],
    [{ evidence: { dsr_trials: 0 } }, /"evidence\.dsr_trials" must be an integer ≥ 1/],
  ])('rejects %j naming the key', (doc, message) => {
    expect(() => parseConfig(doc, 'cfg.yml')).toThrow(message);
  });
});
