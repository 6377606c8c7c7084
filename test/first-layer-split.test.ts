/**
 * The first-layer split (src/adapters/onnx/split.ts, src/core/drive.ts lockstepSplit): a position-aware
 * MLP's first layer is computed once per decision bar (the trunk) and per step only over the state
 * columns (the head). Checked here with onnxruntime on real bars (examples/data):
 *
 * - the split models compute what the full model computes (MatMul, Gemm with transB and beta, through
 *   Flatten), and the trunk does not see the state columns;
 * - every shape the identity does not hold for as written is refused, with the reason;
 * - evaluations give the same report with and without the split, and the report says which path ran;
 * - decisions at a near tie are recomputed with the full model (the guard), so they are the full model's.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { runValidate } from '../src/app/validate.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { joinParts, planFirstLayerSplit, SPLIT_NAMES, splitName, type SplitPlan } from '../src/adapters/onnx/split.js';
import { defaultConfig } from '../src/config/schema.js';
import { splitRefusal, type Binding } from '../src/core/drive.js';
import { stateColumnsOf, type StateColumns } from '../src/core/observation.js';
import { parseCard } from '../src/core/card.js';
import type { ModelReport } from '../src/core/report.js';
import { buildMlp, encodeModel, mulberry32, type NodeSpec, type TensorSpec } from '../src/devtools/onnx-writer.js';
import { modelReport } from './helpers/evaluation.js';
import { EXAMPLE_DATA, REPO } from './helpers/e2e.js';

type Ort = typeof import('onnxruntime-node');
const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort;

afterAll(async () => {
  await shutdownOrtHost();
});

const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);
const FEATURES = [{ name: 'log_return', lag: 1 }, { name: 'range' }, { name: 'body' }, { name: 'position' }, { name: 'unrealized_return' }];
const WINDOW = 6;
const F = FEATURES.length;
const D = WINDOW * F;
const MEANINGS = ['HOLD', 'BUY', 'SELL', 'CLOSE'];

function card(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema: 'policy-card/1',
    symbol: 'BTCUSD',
    timeframe: '1Hour',
    asset_class: 'crypto',
    input: 'obs',
    observation: { window: WINDOW, features: FEATURES, normalize: { mean: [0, 0, 0, 0, 0], std: [0.01, 0.01, 0.01, 1, 0.05] }, clip: 5 },
    action: { type: 'discrete', output: 'logits', output_kind: 'logits', meanings: MEANINGS },
    execution: { long_only: false, max_exposure: 1 },
    ...extra,
  };
}

/** The card's state columns: position and unrealized_return in each of the WINDOW rows, 2 groups. */
const GROUPED = stateColumnsOf(parseCard(card(), 'split.card.json', { symbol: 'BTCUSD', timeframe: '1Hour' }));
/** The same columns, each its own group (what per-element normalisation with different statistics gives). */
const ungrouped = (indices: Int32Array): StateColumns => ({ indices, groupOf: Int32Array.from(indices, (_, j) => j), groupFirst: indices.slice() });
const STATE = ungrouped(GROUPED.indices);

/** Rows as the card builds them: every column of a state group holds its group's first value. */
function withGroups(x: Float32Array, n: number, state: StateColumns): Float32Array {
  const size = x.length / n;
  const out = x.slice();
  for (let k = 0; k < n; k++) {
    state.indices.forEach((e, j) => {
      out[k * size + e] = x[k * size + state.groupFirst[state.groupOf[j]!]!]!;
    });
  }
  return out;
}

/** Runs one session on named float32 inputs and returns an output. */
async function run(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>, output: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  try {
    const named = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
    return (await session.run(named))[output]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The split's output for observations `x` [n, size] whose state columns are `state`: the head on the trunk's rows and the state columns. */
async function splitOutput(plan: SplitPlan, x: Float32Array, n: number, output: string, state: StateColumns = STATE): Promise<Float32Array> {
  const size = x.length / n;
  const trunkSession = await ort.InferenceSession.create(joinParts(plan.trunk), { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  const rows = await trunkSession.run({ [SPLIT_NAMES.trunkInput]: new ort.Tensor('float32', x, [n, size]) });
  await trunkSession.release();
  const G = state.groupFirst.length;
  const cols = new Float32Array(n * G);
  for (let k = 0; k < n; k++) for (let g = 0; g < G; g++) cols[k * G + g] = x[k * size + state.groupFirst[g]!]!;
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = { [SPLIT_NAMES.headState]: { data: cols, dims: [n, G] } };
  plan.hidden.forEach((H, k) => {
    feeds[splitName('trunk', k)] = { data: rows[splitName('trunk', k)]!.data as Float32Array, dims: [n, H] };
  });
  return run(plan.head, feeds, output);
}

function randomRows(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * D }, () => rand() * 4 - 2);
}

const value = (name: string, shape: (number | string)[]) => ({ name, elemType: 'float32' as const, shape });
const tensor = (name: string, dims: number[], seed: number, scale = 0.3): TensorSpec => {
  const rand = mulberry32(seed);
  return { name, dims, dataType: 'float32', data: Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale) };
};

/** A model of obs [batch, D] → first nodes → Tanh → Gemm → logits [batch, 4], with the first nodes given. */
function model(first: NodeSpec[], inits: TensorSpec[], opts: { hidden?: number; rank3?: boolean; extraInputs?: string[] } = {}): Uint8Array {
  const H = opts.hidden ?? 16;
  return encodeModel({
    graph: {
      name: 'policy',
      nodes: [...first, { opType: 'Tanh', inputs: ['h'], outputs: ['a'], name: 'act' }, { opType: 'Gemm', inputs: ['a', 'W2', 'b2'], outputs: ['logits'], name: 'out' }],
      initializers: [...inits, tensor('W2', [H, 4], 7), tensor('b2', [4], 8)],
      inputs: [value('obs', opts.rank3 ? ['batch', WINDOW, F] : ['batch', D]), ...(opts.extraInputs ?? []).map((n) => value(n, [D, H]))],
      outputs: [value('logits', ['batch', 4])],
    },
  });
}

describe('planFirstLayerSplit: the split models compute the full model', () => {
  const shapes: [string, () => Uint8Array, string][] = [
    [
      'MatMul + Add (an exporter’s Linear on rank-3 input)',
      () =>
        model(
          [
            { opType: 'MatMul', inputs: ['obs', 'W1'], outputs: ['m'], name: 'fc1' },
            { opType: 'Add', inputs: ['m', 'b1'], outputs: ['h'] },
          ],
          [tensor('W1', [D, 16], 1), tensor('b1', [16], 2)],
        ),
      'MatMul "fc1" [30 × 16]',
    ],
    [
      "Gemm transB 1 (torch's nn.Linear)",
      () =>
        model(
          [{ opType: 'Gemm', inputs: ['obs', 'W1', 'b1'], outputs: ['h'], name: 'fc1', attributes: [{ name: 'transB', type: 'int', value: 1 }] }],
          [tensor('W1', [16, D], 1), tensor('b1', [16], 2)],
        ),
      'Gemm "fc1" [30 × 16]',
    ],
    [
      'Gemm with beta 0.5 and a bias per unit',
      () =>
        model(
          [{ opType: 'Gemm', inputs: ['obs', 'W1', 'b1'], outputs: ['h'], name: 'fc1', attributes: [{ name: 'beta', type: 'float', value: 0.5 }] }],
          [tensor('W1', [D, 16], 1), tensor('b1', [1, 16], 2)],
        ),
      'Gemm "fc1" [30 × 16]',
    ],
    ['Gemm without bias', () => model([{ opType: 'Gemm', inputs: ['obs', 'W1'], outputs: ['h'], name: 'fc1' }], [tensor('W1', [D, 16], 1)]), 'Gemm "fc1" [30 × 16]'],
  ];
  for (const [what, build, firstLayer] of shapes) {
    it(what, async () => {
      const bytes = build();
      const outcome = planFirstLayerSplit(bytes, 'obs', D, STATE);
      expect(outcome.ok, outcome.ok ? '' : outcome.reason).toBe(true);
      if (!outcome.ok) return;
      expect(outcome.plan.firstLayer).toBe(firstLayer);
      expect(outcome.plan.hidden).toEqual([16]);
      const n = 40;
      const x = randomRows(n, 11);
      const full = await run(bytes, { obs: { data: x, dims: [n, D] } }, 'logits');
      const mine = await splitOutput(outcome.plan, x, n, 'logits');
      expect(mine).toHaveLength(full.length);
      let err = 0;
      for (let i = 0; i < full.length; i++) err = Math.max(err, Math.abs(mine[i]! - full[i]!));
      expect(err).toBeLessThan(1e-5);
      // The trunk ignores the state columns: changing them changes nothing of its row.
      const moved = x.slice();
      for (let k = 0; k < n; k++) for (const i of STATE.indices) moved[k * D + i] = 3;
      const t0 = await run(joinParts(outcome.plan.trunk), { [SPLIT_NAMES.trunkInput]: { data: x, dims: [n, D] } }, splitName('trunk', 0));
      const t1 = await run(joinParts(outcome.plan.trunk), { [SPLIT_NAMES.trunkInput]: { data: moved, dims: [n, D] } }, splitName('trunk', 0));
      expect(Array.from(t1)).toEqual(Array.from(t0));
      // ...and the full model does depend on them (the split is not vacuous).
      expect(Array.from(await run(bytes, { obs: { data: moved, dims: [n, D] } }, 'logits'))).not.toEqual(Array.from(full));
      // Grouped: each state feature's WINDOW columns are one head input, weighted by their summed weights.
      const folded = planFirstLayerSplit(bytes, 'obs', D, GROUPED);
      expect(folded.ok).toBe(true);
      if (!folded.ok) return;
      const xg = withGroups(x, n, GROUPED);
      const fullG = await run(bytes, { obs: { data: xg, dims: [n, D] } }, 'logits');
      const mineG = await splitOutput(folded.plan, xg, n, 'logits', GROUPED);
      let errG = 0;
      for (let i = 0; i < fullG.length; i++) errG = Math.max(errG, Math.abs(mineG[i]! - fullG[i]!));
      expect(errG).toBeLessThan(1e-5);
    });
  }

  it('through Flatten(axis 1) of a [batch, window, features] input (buildMlp, as the bench and SB3 write it)', async () => {
    const mlp = buildMlp({ inputName: 'obs', hidden: [12, 12], outputs: 4, rank3: { window: WINDOW, features: F }, seed: 5 });
    const outcome = planFirstLayerSplit(mlp.bytes, 'obs', D, STATE);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    const n = 25;
    const x = randomRows(n, 3);
    const full = await run(mlp.bytes, { obs: { data: x, dims: [n, WINDOW, F] } }, 'logits');
    const mine = await splitOutput(outcome.plan, x, n, 'logits');
    for (let i = 0; i < full.length; i++) expect(Math.abs(mine[i]! - full[i]!)).toBeLessThan(1e-5);
  });
});

describe('planFirstLayerSplit on torch exports of stable-baselines3 policies (test/fixtures/sb3)', () => {
  // Cast(to float) → Flatten → Gemm (transB 1), and in SB3's own recipe a second Gemm for the value
  // function. Those fixtures' cards have no state features, so a column is taken as the state here: the
  // split's arithmetic does not depend on which columns it is.
  const SB3 = path.join(REPO, 'test', 'fixtures', 'sb3');
  for (const [name, firstLayers, output] of [
    ['sb3_logits', 1, 'logits'],
    ['window_rank3', 1, 'logits'],
    ['sb3_vecnormalize', 1, 'logits'],
    ['sb3_discrete', 2, null],
  ] as const) {
    it(`${name}: ${firstLayers} first layer${firstLayers > 1 ? 's' : ''} through Cast and Flatten, and the same outputs`, async () => {
      const bytes = new Uint8Array(readFileSync(path.join(SB3, `${name}.onnx`)));
      const cardJson = JSON.parse(readFileSync(path.join(SB3, `${name}.card.json`), 'utf8')) as { input?: string; observation: { window: number; features: unknown[] } };
      const size = cardJson.observation.window * cardJson.observation.features.length;
      const session = await ort.InferenceSession.create(bytes);
      const input = session.inputNames[0]!;
      const dims = (session.inputMetadata[0] as unknown as { shape: readonly (number | string)[] }).shape;
      const out = output ?? session.outputNames.find((o) => (session.outputMetadata.find((m) => m.name === o) as { type?: string }).type === 'float32')!;
      await session.release();
      const state = Int32Array.from({ length: cardJson.observation.window }, (_, r) => r * cardJson.observation.features.length + 2);
      const outcome = planFirstLayerSplit(bytes, input, size, ungrouped(state));
      expect(outcome.ok, outcome.ok ? '' : outcome.reason).toBe(true);
      if (!outcome.ok) return;
      expect(outcome.plan.hidden).toHaveLength(firstLayers);
      expect(outcome.plan.firstLayer).toMatch(/^Gemm "\/[^"]*policy_net[^"]*Gemm" \[\d+ × 64\]/);
      // SB3's own recipe exports a fixed batch of one.
      const n = typeof dims[0] === 'number' && dims[0] > 0 ? dims[0] : 16;
      const rand = mulberry32(9);
      const x = Float32Array.from({ length: n * size }, () => rand() * 4 - 2);
      const full = await run(bytes, { [input]: { data: x, dims: [n, ...dims.slice(1).map(Number)] } }, out);
      const mine = await splitOutput(outcome.plan, x, n, out, ungrouped(state));
      expect(mine).toHaveLength(full.length);
      for (let i = 0; i < full.length; i++) expect(Math.abs(mine[i]! - full[i]!)).toBeLessThan(1e-5);
      // The column in every row as one group (a state feature under per-feature normalisation).
      const oneGroup: StateColumns = { indices: state, groupOf: new Int32Array(state.length), groupFirst: state.subarray(0, 1) };
      const folded = planFirstLayerSplit(bytes, input, size, oneGroup);
      expect(folded.ok).toBe(true);
      if (!folded.ok) return;
      const xg = withGroups(x, n, oneGroup);
      const fullG = await run(bytes, { [input]: { data: xg, dims: [n, ...dims.slice(1).map(Number)] } }, out);
      const mineG = await splitOutput(folded.plan, xg, n, out, oneGroup);
      for (let i = 0; i < fullG.length; i++) expect(Math.abs(mineG[i]! - fullG[i]!)).toBeLessThan(1e-5);
    });
  }
});

describe('planFirstLayerSplit refuses what the identity does not hold for, and says why', () => {
  const gemm = (input: string): NodeSpec => ({ opType: 'Gemm', inputs: [input, 'W1', 'b1'], outputs: ['h'], name: 'fc1' });
  const W1 = [tensor('W1', [D, 16], 1), tensor('b1', [16], 2)];
  const cases: [string, () => Uint8Array, RegExp][] = [
    [
      'LayerNorm first',
      () =>
        model(
          [{ opType: 'LayerNormalization', inputs: ['obs', 'g', 'beta0'], outputs: ['n'], name: 'ln', attributes: [{ name: 'axis', type: 'int', value: -1 }] }, gemm('n')],
          [...W1, { name: 'g', dims: [D], dataType: 'float32', data: new Array(D).fill(1) }, { name: 'beta0', dims: [D], dataType: 'float32', data: new Array(D).fill(0) }],
        ),
      /first node is LayerNormalization "ln", not a MatMul or Gemm/,
    ],
    [
      'in-graph normalisation',
      () => model([{ opType: 'Sub', inputs: ['obs', 'mu'], outputs: ['c'], name: 'center' }, gemm('c')], [...W1, { name: 'mu', dims: [D], dataType: 'float32', data: new Array(D).fill(0.1) }]),
      /first node is Sub "center"/,
    ],
    [
      'a skip connection that reads the observation again',
      () => model([gemm('obs'), { opType: 'ReduceMean', inputs: ['obs'], outputs: ['skip'], name: 'skip' }], W1),
      /the observation feeds 2 nodes \(Gemm "fc1", ReduceMean "skip"\)/,
    ],
    [
      'computed weights',
      () =>
        model(
          [
            { opType: 'Transpose', inputs: ['Wt'], outputs: ['W1'], name: 'tr' },
            { opType: 'Gemm', inputs: ['obs', 'W1', 'b1'], outputs: ['h'], name: 'fc1' },
          ],
          [tensor('Wt', [16, D], 1), tensor('b1', [16], 2)],
        ),
      /weights of Gemm "fc1" are computed in the graph/,
    ],
    ['weights a caller can replace (an initializer that is also an input)', () => model([gemm('obs')], W1, { extraInputs: ['W1'] }), /"W1" are also a graph input/],
    ['a Reshape instead of Flatten', () => buildMlp({ inputName: 'obs', hidden: [8], outputs: 4, rank3: { window: WINDOW, features: F, op: 'reshape' } }).bytes, /first node is Reshape/],
  ];
  for (const [what, build, reason] of cases) {
    it(what, () => {
      const outcome = planFirstLayerSplit(build(), 'obs', D, STATE);
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.reason).toMatch(reason);
    });
  }

  it('a card without state features, a recurrent, continuous or index policy', () => {
    const b: Binding = { input: 'obs', rank3: false, output: 'logits', outputKind: 'logits', logProbOutput: null, batchable: true, state: [], extra: [], notes: [] };
    const parsed = parseCard(card(), 'split.card.json', { symbol: 'BTCUSD', timeframe: '1Hour' });
    expect(splitRefusal(b, parsed, true)).toBeNull();
    expect(splitRefusal(b, parsed, false)).toMatch(/no state features/);
    expect(splitRefusal({ ...b, state: [{ input: 'h', output: 'h_out', size: 4, dims: [1, 4], batchAxis: 0 }] }, parsed, true)).toMatch(/recurrent policy/);
    expect(splitRefusal({ ...b, outputKind: 'action_index' }, parsed, true)).toMatch(/index chosen inside the model/);
    expect(splitRefusal({ ...b, batchable: false }, parsed, true)).toMatch(/fixed batch/);
    const continuous = parseCard(card({ action: { type: 'continuous', output: 'logits' } }), 'c.card.json', { symbol: 'BTCUSD', timeframe: '1Hour' });
    expect(splitRefusal({ ...b, outputKind: 'continuous' }, continuous, true)).toMatch(/continuous policy/);
  });
});

/** Evaluates like `validate` (backtest and 3 folds, in the onnxruntime process) with or without the split. */
async function evaluate(bytes: Uint8Array, split: boolean, cardJson = card()): Promise<ModelReport> {
  const loaded = await loadPolicyModel(bytes, { device: 'cpu', label: 'split.onnx' });
  const report = modelReport('BTCUSD_1Hour', '1Hour');
  const config = defaultConfig();
  config.runtime.splitFirstLayer = split;
  try {
    await evaluateModel(report, loaded, cardJson, 'split.card.json', getBars, {
      config,
      endMs: Date.parse('2024-09-01T00:00:00Z'),
      backtestDays: 30,
      walkForward: { days: 60, folds: 3 },
      equityOut: null,
      log: () => {},
      evidence: false,
    });
  } finally {
    await loaded.release();
  }
  return report;
}

const withoutInference = (r: ModelReport): unknown => ({ ...r, inference: undefined });

describe('evaluation with the split gives the full model’s report', () => {
  it('an MLP on real bars: the same decisions and numbers, and the report says the split ran', async () => {
    const mlp = buildMlp({ inputName: 'obs', inputDim: D, hidden: [32, 32], outputs: 4, seed: 21 });
    const split = await evaluate(mlp.bytes, true);
    const full = await evaluate(mlp.bytes, false);
    expect(split.errors).toEqual([]);
    expect(withoutInference(split)).toEqual(withoutInference(full));
    const steps = [split.backtest!, ...split.walkForward!.folds].reduce((a, w) => a + w.actions!.decisions, 0);
    expect(steps).toBeGreaterThan(1000);
    // W 6: a convolution over blocks of 64 bars would cost more than the direct product.
    expect(split.inference).toMatchObject({ path: 'split', reason: null, firstLayer: 'Gemm "gemm0" [30 × 32]', rows: steps, trunk: 'direct' });
    expect(split.inference!.guard).toBeGreaterThan(0);
    expect(split.inference!.selfCheckError).toBeLessThan(1e-5);
    // A random policy trades: the decisions are not all one action.
    expect(Object.values(split.backtest!.actions!.chosen).filter((n) => n > 0).length).toBeGreaterThan(1);
    expect(full.inference).toEqual({ path: 'full', reason: 'runtime.split_first_layer is false', rows: 0, recomputed: 0 });
  });

  it('a long window of many column features: the trunk is a convolution over time, and the report is the full model’s', async () => {
    const features = [
      { name: 'log_return', lag: 1 },
      { name: 'log_return', lag: 2 },
      { name: 'log_return', lag: 4 },
      { name: 'log_return', lag: 8 },
      { name: 'return', lag: 1 },
      { name: 'range' },
      { name: 'body' },
      { name: 'volatility', period: 10 },
      { name: 'rsi', period: 14 },
      { name: 'sma_ratio', period: 20 },
      { name: 'hour_sin' },
      { name: 'close_rel' },
      { name: 'volume_rel' },
      { name: 'position' },
      { name: 'unrealized_return' },
    ];
    const std = [0.01, 0.014, 0.02, 0.028, 0.01, 0.01, 0.008, 0.005, 20, 0.02, 0.7, 0.03, 0.8, 0.5, 0.03];
    const mean = [0, 0, 0, 0, 0, 0.01, 0, 0.005, 50, 0, 0, 0, 0, 0, 0];
    const wide = { ...card(), observation: { window: 48, features, normalize: { mean, std }, clip: 5 } };
    const mlp = buildMlp({ inputName: 'obs', inputDim: 48 * features.length, hidden: [64, 64], outputs: 4, seed: 33 });
    const split = await evaluate(mlp.bytes, true, wide);
    const full = await evaluate(mlp.bytes, false, wide);
    expect(split.errors).toEqual([]);
    expect(split.inference).toMatchObject({ path: 'split', reason: null, trunk: 'convolution', firstLayer: 'Gemm "gemm0" [720 × 64]' });
    expect(split.inference!.selfCheckError).toBeLessThan(1e-4);
    expect(withoutInference(split)).toEqual(withoutInference(full));
    expect(Object.values(split.backtest!.actions!.chosen).filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it("a torch export of an SB3 policy (Cast → Flatten → Gemm transB 1) read with position features: split, and the full model's report", async () => {
    // sb3_logits.onnx takes 6 values; this card feeds it two state features among them, as a team's
    // position-aware policy of that export would be.
    const bytes = new Uint8Array(readFileSync(path.join(REPO, 'test', 'fixtures', 'sb3', 'sb3_logits.onnx')));
    const sb3Card = JSON.parse(readFileSync(path.join(REPO, 'test', 'fixtures', 'sb3', 'sb3_logits.card.json'), 'utf8')) as Record<string, unknown>;
    const features = [{ name: 'log_return', lag: 1 }, { name: 'log_return', lag: 4 }, { name: 'range' }, { name: 'body' }, { name: 'position' }, { name: 'unrealized_return' }];
    const aware = {
      ...sb3Card,
      golden: [],
      observation: { window: 1, features, normalize: { mean: [0, 0, 0, 0, 0, 0], std: [0.005, 0.01, 0.01, 0.005, 1, 0.02] } },
      execution: { long_only: false, max_exposure: 1 },
    };
    const split = await evaluate(bytes, true, aware);
    const full = await evaluate(bytes, false, aware);
    expect(split.errors).toEqual([]);
    expect(split.inference).toMatchObject({ path: 'split', reason: null });
    expect(split.inference!.firstLayer).toMatch(/^Gemm "\/policy_net\/policy_net\.0\/Gemm" \[6 × 64\]$/);
    expect(withoutInference(split)).toEqual(withoutInference(full));
    // The position feeds back: the policy trades, more than one action is taken.
    expect(Object.values(split.backtest!.actions!.taken).filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it('a model the split refuses runs in full, and the report gives the reason', async () => {
    const bytes = model(
      [
        { opType: 'Sub', inputs: ['obs', 'mu'], outputs: ['c'], name: 'center' },
        { opType: 'Gemm', inputs: ['c', 'W1', 'b1'], outputs: ['h'], name: 'fc1' },
      ],
      [tensor('W1', [D, 16], 1), tensor('b1', [16], 2), { name: 'mu', dims: [D], dataType: 'float32', data: new Array(D).fill(0.1) }],
    );
    const report = await evaluate(bytes, true);
    expect(report.errors).toEqual([]);
    expect(report.inference).toEqual({ path: 'full', reason: 'the observation\'s first node is Sub "center", not a MatMul or Gemm', rows: 0, recomputed: 0 });
    expect(withoutInference(report)).toEqual(withoutInference(await evaluate(bytes, false)));
  });

  it('near ties are recomputed with the full model: two actions a few float32 steps apart at every bar', async () => {
    // SELL's weights are BUY's scaled by 1 + 2^-20, and both biases dwarf the rest: at every bar the two
    // lead, about 1e-6 apart, and which one wins turns on the sign of BUY's unbiased logit.
    const base = buildMlp({ inputName: 'obs', inputDim: D, hidden: [24], outputs: 4, seed: 33 });
    const [l1, l2] = base.net.layers;
    const W = l2!.W.map((row) => [row[0]! * 0.01, row[1]!, Math.fround(row[1]! * (1 + 2 ** -20)), row[3]! * 0.01]);
    const b = [0, 4, 4, 0];
    const tied = buildMlp({ inputName: 'obs', inputDim: D, hidden: [24], outputs: 4, weights: [l1!, { W, b }] });
    const split = await evaluate(tied.bytes, true);
    const full = await evaluate(tied.bytes, false);
    expect(split.errors).toEqual([]);
    expect(split.inference!.path).toBe('split');
    // Every decision was recomputed: the gap (about 1e-6) is below the guard.
    expect(split.inference!.recomputed).toBe(split.inference!.rows);
    expect(withoutInference(split)).toEqual(withoutInference(full));
    // The model is tied between BUY and SELL, and the last bits pick either at different bars.
    expect(full.backtest!.actions!.chosen['BUY']! + full.backtest!.actions!.chosen['SELL']!).toBe(full.backtest!.actions!.decisions);
    expect(full.backtest!.actions!.chosen['BUY']).toBeGreaterThan(0);
    expect(full.backtest!.actions!.chosen['SELL']).toBeGreaterThan(0);

    // The untied model recomputes (almost) nothing.
    const plain = await evaluate(base.bytes, true);
    expect(plain.inference!.recomputed).toBeLessThan(plain.inference!.rows / 100);
  });

  it('the example archive: each position-aware MLP splits, the others say why not, and validate writes the same report', async () => {
    const archive = path.join(REPO, 'examples', 'Alpaca_trading_trained_20240911_120000.zip');
    const validate = async (split: boolean) => {
      const config = defaultConfig();
      config.data.source = 'csv';
      config.data.dir = EXAMPLE_DATA;
      config.runtime.splitFirstLayer = split;
      return runValidate(archive, config, null, { now: new Date('2025-01-02T00:00:00Z'), log: () => {}, endMs: undefined, equityOut: null });
    };
    const split = await validate(true);
    const full = await validate(false);
    const paths = Object.fromEntries(split.models.map((m) => [m.id, m.inference ? [m.inference.path, m.inference.reason] : null]));
    expect(paths).toEqual({
      BTCUSD_1Hour: ['split', null],
      BTCUSD_2Hour: ['split', null],
      BTCUSD_4Hour: ['full', 'the observation has no state features: each decision bar is inferred once already'],
      BTCUSD_1Day: ['full', 'a recurrent policy: its state input changes every step'],
      // Not evaluated (gated DROP, a bad card, no data): no inference at all.
      ETHUSD_1Hour: null,
      SOLUSD_1Hour: null,
      UNIUSD_1Hour: null,
    });
    const strip = (r: typeof split) => ({ ...r, generatedAt: null, config: null, models: r.models.map(withoutInference) });
    expect(strip(split)).toEqual(strip(full));
  });
});
