/**
 * The deployment-config model (src/core/promotion.ts), pure: promote and demote rules, idempotence
 * (also as a property over random reports and starting configs), deterministic diff-friendly text in
 * JSON and YAML, people's keys kept, and the advice a pull request gets when it asks too much.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedDocs, deployedPaths, emptyDoc, parseDeployDoc, planPromotion, serializeDeployDoc, tierAdvice, type DeployConfigs, type PlanOptions } from '../src/core/promotion.js';
import type { ModelReport, Report } from '../src/core/report.js';
import type { Tier } from '../src/core/types.js';

const NOW = new Date('2025-01-02T03:04:05.000Z');
const LATER = new Date('2025-02-03T04:05:06.000Z');

function model(id: string, tier: Tier | null, opts: { sha?: string; gating?: 'APPROVED' | 'REVIEW' | 'DROP'; reason?: string } = {}): ModelReport {
  const sha = opts.sha ?? `${id.length}`.repeat(64).slice(0, 64);
  return {
    id,
    symbol: id.split('_')[0]!,
    timeframe: '1Hour',
    assetClass: 'crypto',
    assetClassGuessed: false,
    candidate: 'final',
    model: { path: `models/${id}.onnx`, sha256: sha, inputs: [], outputs: [] },
    card: { path: `models/${id}.card.json`, inline: false },
    gating: { classification: opts.gating ?? 'APPROVED', flags: [], final: { fitness: 0.8, profitFactor: 2, consistency: 0.9, maxDrawdown: 0.05 }, checkpointIndex: null, reasons: [], points: 5 },
    flags: [],
    train: { start: null, end: '2023-12-31T23:00:00Z' },
    backtest: { start: '2024-08-12T01:00:00.000Z', end: '2024-09-11T00:00:00.000Z', bars: 720, metrics: {} as never },
    walkForward: {
      days: 180,
      folds: [
        { index: 1, start: '2024-03-15T01:00:00.000Z', end: '2024-04-20T00:00:00.000Z', bars: 864, metrics: {} as never },
        { index: 2, start: '2024-04-20T01:00:00.000Z', end: '2024-09-11T00:00:00.000Z', bars: 3456, metrics: {} as never },
      ],
      summary: null,
    },
    requested: 'PAPER',
    decision: tier === null ? null : { tier, rule: 'r', reasons: [opts.reason ?? `rule for ${tier}\nsecond line`, 'facts'] },
    dataQuality: [],
    errors: tier === null ? ['bars unreachable'] : [],
    notes: [],
  };
}

function report(models: ModelReport[], configSha = 'c'.repeat(64)): Report {
  return { command: 'validate', config: { sha256: configSha, file: null }, models } as unknown as Report;
}

const empty = (): DeployConfigs => ({ paper: emptyDoc(), live: emptyDoc() });

function artifacts(r: Report): NonNullable<PlanOptions['artifacts']> {
  const out: NonNullable<PlanOptions['artifacts']> = {};
  for (const m of r.models) {
    const p = deployedPaths('models', m.id, m.model!.sha256);
    out[m.id] = { model: p.model, card: p.card, cardSha256: 'd'.repeat(64) };
  }
  return out;
}

const promote = (c: DeployConfigs, r: Report, now = NOW, reportSha256 = 'a'.repeat(64)) =>
  planPromotion(c, r, { mode: 'promote', now, runUrl: 'https://github.com/o/r/actions/runs/1', reportSha256, artifacts: artifacts(r) });
const revalidate = (c: DeployConfigs, r: Report, now = LATER) => planPromotion(c, r, { mode: 'revalidate', now, runUrl: null, reportSha256: 'b'.repeat(64) });

describe('promote', () => {
  it('LIVE → live, PAPER → paper, RETRAIN/DROP/undecided → untouched; each entry records the evidence', () => {
    const r = report([model('AAA_1Hour', 'LIVE'), model('BB_1Hour', 'PAPER', { gating: 'REVIEW' }), model('C_1Hour', 'RETRAIN'), model('D_1Hour', 'DROP'), model('E_1Hour', null)]);
    const plan = promote(empty(), r);
    expect(Object.keys(plan.live.models)).toEqual(['AAA_1Hour']);
    expect(Object.keys(plan.paper.models)).toEqual(['BB_1Hour']);
    expect(plan.changes.map((c) => [c.id, c.kind, c.from, c.to])).toEqual([
      ['AAA_1Hour', 'added', null, 'LIVE'],
      ['BB_1Hour', 'added', null, 'PAPER'],
    ]);
    expect(plan.skipped.map((s) => s.id)).toEqual(['C_1Hour', 'D_1Hour', 'E_1Hour']);
    expect(plan.skipped[2]!.why).toBe('not decided: bars unreachable');
    expect(plan.live.models['AAA_1Hour']).toEqual({
      model: `models/AAA_1Hour/${'9'.repeat(12)}/AAA_1Hour.onnx`,
      model_sha256: '9'.repeat(64),
      card: `models/AAA_1Hour/${'9'.repeat(12)}/AAA_1Hour.card.json`,
      card_sha256: 'd'.repeat(64),
      candidate: 'final',
      tier: 'LIVE',
      gating: 'APPROVED',
      train_end: '2023-12-31T23:00:00Z',
      reasons: 'rule for LIVE second line',
      report_sha256: 'a'.repeat(64),
      run_url: 'https://github.com/o/r/actions/runs/1',
      config_sha256: 'c'.repeat(64),
      data_start: '2024-03-15T01:00:00.000Z',
      data_end: '2024-09-11T00:00:00.000Z',
      promoted_at: NOW.toISOString(),
    });
    expect(plan.paper.models['BB_1Hour']!['gating']).toBe('REVIEW');
  });

  it("moves a model between the files (PAPER → LIVE out of paper, LIVE → PAPER out of live) and keeps people's keys", () => {
    const start = empty();
    start.paper.models['AAA_1Hour'] = { owner: 'desk-7', tier: 'PAPER', model: 'old.onnx' };
    start.live.models['BB_1Hour'] = { since: '2024-09-12' };
    const plan = promote(start, report([model('AAA_1Hour', 'LIVE'), model('BB_1Hour', 'PAPER')]));
    expect(plan.changes.map((c) => [c.id, c.kind, c.from, c.to])).toEqual([
      ['AAA_1Hour', 'promoted', 'PAPER', 'LIVE'],
      ['BB_1Hour', 'demoted', 'LIVE', 'PAPER'],
    ]);
    expect(Object.keys(plan.paper.models)).toEqual(['BB_1Hour']);
    expect(Object.keys(plan.live.models)).toEqual(['AAA_1Hour']);
    expect(plan.live.models['AAA_1Hour']!['owner']).toBe('desk-7');
    expect(plan.live.models['AAA_1Hour']!['model']).toMatch(/^models\/AAA_1Hour\/9{12}\/AAA_1Hour\.onnx$/);
    expect(plan.paper.models['BB_1Hour']!['since']).toBe('2024-09-12');
    // The inputs are not changed.
    expect(start.paper.models['AAA_1Hour']).toEqual({ owner: 'desk-7', tier: 'PAPER', model: 'old.onnx' });
    expect(changedDocs(start, plan)).toEqual(['live', 'paper']);
  });

  it('is idempotent: the same report twice changes nothing; promoted_at moves only with the model file or its tier', () => {
    const r = report([model('AAA_1Hour', 'LIVE'), model('BB_1Hour', 'PAPER')]);
    const first = promote(empty(), r);
    const second = promote({ paper: first.paper, live: first.live }, r, LATER);
    expect(second.changes).toEqual([]);
    expect(second.unchanged.map((u) => u.id)).toEqual(['AAA_1Hour', 'BB_1Hour']);
    expect(changedDocs({ paper: first.paper, live: first.live }, second)).toEqual([]);
    // New evidence for the same file: the record is updated, promoted_at stays.
    const again = promote({ paper: first.paper, live: first.live }, r, LATER, 'e'.repeat(64));
    expect(again.changes.map((c) => c.kind)).toEqual(['updated', 'updated']);
    expect(again.live.models['AAA_1Hour']!['promoted_at']).toBe(NOW.toISOString());
    expect(again.live.models['AAA_1Hour']!['report_sha256']).toBe('e'.repeat(64));
    // A new model file under the same id: promoted_at moves.
    const newer = promote({ paper: first.paper, live: first.live }, report([model('AAA_1Hour', 'LIVE', { sha: 'f'.repeat(64) })]), LATER);
    expect(newer.changes[0]!.summary).toBe(`AAA_1Hour: LIVE record updated (new model ${'f'.repeat(12)})`);
    expect(newer.live.models['AAA_1Hour']!['promoted_at']).toBe(LATER.toISOString());
  });

  it('property: applying any report twice equals applying it once', () => {
    const tiers: (Tier | null)[] = ['LIVE', 'PAPER', 'RETRAIN', 'DROP', null];
    const ids = ['A_1Hour', 'B_1Hour', 'C_1Hour', 'D_1Hour'];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...ids), fc.constantFrom(...tiers), fc.constantFrom('1', '2')), { maxLength: 6 }),
        fc.array(fc.tuple(fc.constantFrom(...ids), fc.constantFrom('paper', 'live')), { maxLength: 4 }),
        fc.constantFrom<'promote' | 'revalidate'>('promote', 'revalidate'),
        (decided, deployed, mode) => {
          const start = empty();
          for (const [id, file] of deployed) start[file as 'paper' | 'live'].models[id] = { model: `m/${id}.onnx`, tier: file === 'live' ? 'LIVE' : 'PAPER' };
          const r = report(decided.map(([id, tier, v]) => model(id, tier, { sha: v.repeat(64) })));
          const opts = { mode, now: NOW, runUrl: null, reportSha256: 'a'.repeat(64), artifacts: artifacts(r) };
          const once = planPromotion(start, r, opts);
          const twice = planPromotion({ paper: once.paper, live: once.live }, r, { ...opts, now: LATER });
          expect(twice.changes).toEqual([]);
          for (const k of ['paper', 'live'] as const) expect(serializeDeployDoc(twice[k], 'x.json')).toBe(serializeDeployDoc(once[k], 'x.json'));
          // A model is never in both files after a change to it.
          for (const c of once.changes) expect(c.id in once.paper.models && c.id in once.live.models).toBe(false);
        },
      ),
      { numRuns: 300, seed: 20240911 },
    );
  });
});

describe('revalidate', () => {
  const deployed = (): DeployConfigs => {
    const c = empty();
    c.live.models['L1_1Hour'] = { model: 'a.onnx', tier: 'LIVE', owner: 'x' };
    c.live.models['L2_1Hour'] = { model: 'b.onnx', tier: 'LIVE' };
    c.live.models['L3_1Hour'] = { model: 'c.onnx', tier: 'LIVE' };
    c.paper.models['P1_1Hour'] = { model: 'd.onnx', tier: 'PAPER' };
    c.paper.models['P2_1Hour'] = { model: 'e.onnx', tier: 'PAPER' };
    return c;
  };

  it('demotes live → paper when it still earns PAPER, out otherwise; paper → out; never promotes; an undecided model keeps its tier', () => {
    const r = report([
      model('L1_1Hour', 'PAPER', { reason: 'rule 4: positive share 80 %' }),
      model('L2_1Hour', 'RETRAIN'),
      model('L3_1Hour', null),
      model('P1_1Hour', 'DROP'),
      model('P2_1Hour', 'LIVE'),
      model('NEW_1Hour', 'LIVE'),
    ]);
    const plan = revalidate(deployed(), r);
    expect(plan.changes.map((c) => [c.id, c.kind, c.from, c.to])).toEqual([
      ['L1_1Hour', 'demoted', 'LIVE', 'PAPER'],
      ['L2_1Hour', 'removed', 'LIVE', null],
      ['P1_1Hour', 'removed', 'PAPER', null],
    ]);
    expect(Object.keys(plan.live.models)).toEqual(['L3_1Hour']);
    expect(Object.keys(plan.paper.models).sort()).toEqual(['L1_1Hour', 'P2_1Hour']);
    expect(plan.paper.models['L1_1Hour']).toMatchObject({
      model: 'a.onnx',
      owner: 'x',
      tier: 'PAPER',
      reasons: 'rule 4: positive share 80 %',
      promoted_at: LATER.toISOString(),
      report_sha256: 'b'.repeat(64),
    });
    expect(plan.unchanged).toEqual([{ id: 'P2_1Hour', tier: 'PAPER', decision: 'LIVE' }]);
    expect(plan.skipped.map((s) => s.id)).toEqual(['L3_1Hour', 'NEW_1Hour']);
  });

  it('nothing changes when every model holds its tier', () => {
    const c = deployed();
    const plan = revalidate(c, report(['L1_1Hour', 'L2_1Hour', 'L3_1Hour'].map((id) => model(id, 'LIVE')).concat(['P1_1Hour', 'P2_1Hour'].map((id) => model(id, 'PAPER')))));
    expect(plan.changes).toEqual([]);
    expect(changedDocs(c, plan)).toEqual([]);
  });
});

describe('the files', () => {
  it('serialise with sorted keys, two-space indent and a trailing newline; JSON and YAML round-trip byte for byte', () => {
    const plan = promote(empty(), report([model('ZZ_1Hour', 'PAPER'), model('AAA_1Hour', 'PAPER')]));
    plan.paper.extra = { zeta: 1, alpha: { b: 2, a: 1 } };
    const json = serializeDeployDoc(plan.paper, 'deploy/paper.json');
    expect(json.endsWith('}\n')).toBe(true);
    expect(json.split('\n').slice(0, 6)).toEqual(['{', '  "alpha": {', '    "a": 1,', '    "b": 2', '  },', '  "models": {']);
    expect(json.indexOf('"AAA_1Hour"')).toBeLessThan(json.indexOf('"ZZ_1Hour"'));
    expect(serializeDeployDoc(parseDeployDoc(json, 'p.json'), 'p.json')).toBe(json);
    const yaml = serializeDeployDoc(plan.paper, 'deploy/paper.yml');
    expect(yaml).toMatch(/^alpha:\n {2}a: 1\n {2}b: 2\nmodels:\n {2}AAA_1Hour:\n {4}candidate: final\n/);
    expect(yaml).toContain('    run_url: https://github.com/o/r/actions/runs/1\n');
    expect(yaml.endsWith('\nzeta: 1\n')).toBe(true);
    expect(serializeDeployDoc(parseDeployDoc(yaml, 'p.yml'), 'p.yml')).toBe(yaml);
    expect(parseDeployDoc(yaml, 'p.yml').models['ZZ_1Hour']).toEqual(plan.paper.models['ZZ_1Hour']);
  });

  it('reads an empty or missing file as no models, and names the file and key of a malformed one', () => {
    expect(Object.keys(parseDeployDoc(null, 'x.json').models)).toEqual([]);
    expect(Object.keys(parseDeployDoc('', 'x.yml').models)).toEqual([]);
    expect(parseDeployDoc('models:\n  A_1Hour:\n', 'x.yml').models['A_1Hour']).toEqual({});
    expect(() => parseDeployDoc('models: [a]', 'deploy/live.yml')).toThrow('deploy/live.yml: "models" must be a mapping keyed by model id, got a list');
    expect(() => parseDeployDoc('{"models": {"A_1Hour": 3}}', 'deploy/live.json')).toThrow('deploy/live.json: models.A_1Hour must be a mapping');
    expect(() => parseDeployDoc('{"models": {', 'deploy/live.json')).toThrow(/^deploy\/live\.json: not valid JSON or YAML/);
  });

  it('model files are content-addressed under the models folder', () => {
    expect(deployedPaths('./models/', 'BTCUSD_4Hour', '723af835e0c8c5d7')).toEqual({
      model: 'models/BTCUSD_4Hour/723af835e0c8/BTCUSD_4Hour.onnx',
      card: 'models/BTCUSD_4Hour/723af835e0c8/BTCUSD_4Hour.card.json',
    });
    expect(deployedPaths('.', 'X/Y_1Hour', 'abcdef0123456789').model).toBe('X_Y_1Hour/abcdef012345/X_Y_1Hour.onnx');
  });
});

describe('advice for a pull request that asks too much', () => {
  const listed = [
    { tier: 'PAPER' as const, path: 'deploy/paper.json', models: ['BTCUSD_1Day'] },
    { tier: 'LIVE' as const, path: 'deploy/live.json', models: ['BTCUSD_4Hour', 'BTCUSD_1Day', 'BTCUSD_2Hour'] },
  ];
  it('says why and what would pass', () => {
    const models = [
      { ...model('BTCUSD_4Hour', 'PAPER', { reason: 'rule 4: positive share 80 % ≥ 60 %, Sharpe std 1.496 ≤ 2' }), requested: 'LIVE' as Tier },
      { ...model('BTCUSD_1Day', 'RETRAIN'), requested: 'LIVE' as Tier },
      { ...model('BTCUSD_2Hour', 'LIVE'), requested: 'LIVE' as Tier },
      { ...model('ETHUSD_1Hour', 'DROP'), requested: 'PAPER' as Tier }, // requested by decision.required, not by a config
    ];
    const advice = tierAdvice(models, listed);
    expect(advice.map((a) => a.fix)).toEqual([
      'move BTCUSD_4Hour to deploy/paper.json to pass: its decision is PAPER',
      'remove BTCUSD_1Day from deploy/live.json and deploy/paper.json to pass: its decision is RETRAIN, and only PAPER or LIVE is deployed',
    ]);
    expect(advice[0]).toMatchObject({ id: 'BTCUSD_4Hour', config: 'deploy/live.json', requested: 'LIVE', decision: 'PAPER', why: 'rule 4: positive share 80 % ≥ 60 %, Sharpe std 1.496 ≤ 2; facts' });
  });
});
