/**
 * The shard planner (src/core/shard.ts): every model in exactly one shard whatever n, deterministic,
 * balanced by cost (LPT), and the `i/n` spec and artifact names.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectedCost, parseShardArtifactName, parseShardSpec, planShards, shardArtifactName, shardModels, type ShardCost } from '../src/core/shard.js';

/** Unique ids with random costs; a third of them 0 (gating DROP, not evaluable). */
const modelsArb = fc
  .uniqueArray(fc.stringMatching(/^[A-Z]{2,6}USD_(1Hour|4Hour|1Day)$/), { minLength: 0, maxLength: 40 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5_000_000 }), fc.double({ min: 0, max: 1e9, noNaN: true })), {
        minLength: ids.length,
        maxLength: ids.length,
      }),
    ),
  )
  .map(([ids, costs]) => ids.map((id, i) => ({ id, cost: costs[i]! })));

describe('planShards', () => {
  it('puts every model in exactly one shard, for n = 1..8 and any costs', () => {
    fc.assert(
      fc.property(modelsArb, fc.integer({ min: 1, max: 8 }), (models, n) => {
        const plan = planShards(models, n);
        expect(plan.map((p) => p.id)).toEqual(models.map((m) => m.id)); // archive order kept
        for (const p of plan) expect(p.shard >= 1 && p.shard <= n).toBe(true);
        const shards = Array.from({ length: n }, (_, i) => shardModels(plan, i + 1));
        const all = shards.flat();
        expect(all.length).toBe(models.length);
        expect(new Set(all).size).toBe(models.length);
      }),
      { numRuns: 300 },
    );
  });

  it("is deterministic: the input order does not change any model's shard", () => {
    fc.assert(
      fc.property(modelsArb, fc.integer({ min: 1, max: 8 }), fc.integer(), (models, n, seed) => {
        const shuffled = [...models].sort((a, b) => ((a.id.length * 31 + seed) % 7) - ((b.id.length * 31 + seed) % 7) || (a.id < b.id ? 1 : -1));
        const a = new Map(planShards(models, n).map((p) => [p.id, p.shard]));
        const b = new Map(planShards(shuffled, n).map((p) => [p.id, p.shard]));
        expect(b).toEqual(a);
      }),
      { numRuns: 200 },
    );
  });

  it('balances cost: the heaviest shard holds at most total / n + the largest single cost (greedy bound)', () => {
    fc.assert(
      fc.property(modelsArb, fc.integer({ min: 1, max: 8 }), (models, n) => {
        const plan = planShards(models, n);
        const loads = Array.from({ length: n }, (_, i) => plan.filter((p) => p.shard === i + 1).reduce((s, p) => s + p.cost, 0));
        const total = models.reduce((s, m) => s + m.cost, 0);
        const largest = Math.max(0, ...models.map((m) => m.cost));
        expect(Math.max(...loads)).toBeLessThanOrEqual(total / n + largest + 1e-6 * Math.max(1, total));
      }),
      { numRuns: 300 },
    );
  });

  it('balances by cost, not by count: one heavy model gets a shard of its own', () => {
    const models: ShardCost[] = [
      { id: 'BIG_1Min', cost: 1000 },
      { id: 'A_1Day', cost: 10 },
      { id: 'B_1Day', cost: 10 },
      { id: 'C_1Day', cost: 10 },
      { id: 'D_1Day', cost: 10 },
    ];
    const plan = planShards(models, 2);
    expect(shardModels(plan, 1)).toEqual(['BIG_1Min']);
    expect(shardModels(plan, 2)).toEqual(['A_1Day', 'B_1Day', 'C_1Day', 'D_1Day']);
  });

  it('LPT with ties broken by id, then the least-loaded shard with fewer models, then the lower index', () => {
    const plan = planShards(
      [
        { id: 'E', cost: 3 },
        { id: 'D', cost: 3 },
        { id: 'C', cost: 2 },
        { id: 'Z0', cost: 0 },
        { id: 'Z1', cost: 0 },
        { id: 'Z2', cost: 0 },
      ],
      3,
    );
    // D (3) → 1, E (3) → 2, C (2) → 3; zero-cost models go to the least-loaded shard (3, load 2) one at a time.
    expect(Object.fromEntries(plan.map((p) => [p.id, p.shard]))).toEqual({ E: 2, D: 1, C: 3, Z0: 3, Z1: 3, Z2: 3 });
  });

  it('more shards than models: the extra shards are empty, and every model is still placed once', () => {
    const plan = planShards(
      [
        { id: 'A', cost: 5 },
        { id: 'B', cost: 0 },
      ],
      5,
    );
    expect(plan).toEqual([
      { id: 'A', shard: 1, cost: 5 },
      { id: 'B', shard: 2, cost: 0 },
    ]);
    expect(shardModels(plan, 5)).toEqual([]);
  });

  it('refuses duplicate ids, negative or non-finite costs and a bad n', () => {
    expect(() =>
      planShards(
        [
          { id: 'A', cost: 1 },
          { id: 'A', cost: 2 },
        ],
        2,
      ),
    ).toThrow(/A appears twice/);
    expect(() => planShards([{ id: 'A', cost: -1 }], 2)).toThrow(/finite number ≥ 0/);
    expect(() => planShards([{ id: 'A', cost: Number.NaN }], 2)).toThrow(/finite number ≥ 0/);
    expect(() => planShards([], 0)).toThrow(/positive integer/);
  });
});

describe('expectedCost', () => {
  it('is the bars of the backtest and walk-forward windows times the ONNX size; 0 when not evaluated', () => {
    // 1Hour: 24 bars a day; (30 + 180) days = 5 040 decisions.
    expect(expectedCost({ evaluated: true, onnxBytes: 753, timeframe: '1Hour', backtestDays: 30, walkForwardDays: 180 })).toBe(5040 * 753);
    expect(expectedCost({ evaluated: true, onnxBytes: 646, timeframe: '1Day', backtestDays: 30, walkForwardDays: 180 })).toBe(210 * 646);
    expect(expectedCost({ evaluated: true, onnxBytes: 100, timeframe: '15Min', backtestDays: 1, walkForwardDays: 1 })).toBe(192 * 100);
    expect(expectedCost({ evaluated: false, onnxBytes: 5_000_000, timeframe: '1Min', backtestDays: 30, walkForwardDays: 180 })).toBe(0);
    // A model file of 0 bytes still costs its decisions.
    expect(expectedCost({ evaluated: true, onnxBytes: 0, timeframe: '4Hour', backtestDays: 30, walkForwardDays: 180 })).toBe(1260);
  });
});

describe('parseShardSpec', () => {
  it('reads i/n', () => {
    expect(parseShardSpec('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShardSpec(' 1 / 1 ')).toEqual({ index: 1, count: 1 });
    expect(parseShardSpec('256/256')).toEqual({ index: 256, count: 256 });
  });

  it.each([
    ['4/3', /1 ≤ i ≤ n/],
    ['0/3', /1 ≤ i ≤ n/],
    ['1/0', /1 ≤ n ≤ 256/],
    ['1/257', /1 ≤ n ≤ 256/],
    ['2', /must be i\/n/],
    ['2-3', /must be i\/n/],
    ['a/b', /must be i\/n/],
    ['1.5/3', /must be i\/n/],
    ['', /must be i\/n/],
  ])('refuses %j', (raw, why) => {
    const r = parseShardSpec(raw);
    expect('error' in r && r.error).toMatch(why);
    expect('error' in r && r.error).toContain(JSON.stringify(raw));
  });
});

describe('shard artifact names', () => {
  it('round-trip, and other names are not shards', () => {
    expect(shardArtifactName({ index: 2, count: 3 })).toBe('policy-gate-shard-2-of-3');
    expect(parseShardArtifactName('policy-gate-shard-2-of-3')).toEqual({ index: 2, count: 3 });
    expect(parseShardArtifactName('policy-gate-shard-4-of-3')).toBeNull();
    expect(parseShardArtifactName('policy-gate-report')).toBeNull();
    expect(parseShardArtifactName('policy-gate-shard-2-of-3-old')).toBeNull();
  });
});
