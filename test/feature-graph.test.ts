/**
 * Feature graphs: a team's own feature function, exported from torch to ONNX, run by policy-gate on
 * the bars up to each decision bar (docs/policy-card.md, "Feature graphs").
 *
 * test/fixtures/feature-graph comes from scripts/export/feature_graph_example.py (torch 1.13): the graph,
 * a policy on its columns, and torch's own observations and decisions on examples/data; a graph built
 * here with the ONNX writer checks the window alignment against the built-in features bit for bit.
 */
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { folderCardFiles, openFeatureGraph } from '../src/app/feature-graph.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { loadPolicyModel, type PolicyModel } from '../src/adapters/onnx/session.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { defaultConfig } from '../src/config/schema.js';
import { parseCard } from '../src/core/card.js';
import type { SimulationJob } from '../src/core/drive.js';
import { computeFeatureColumn, utcHour } from '../src/core/features.js';
import { ObservationBuilder, FLAT_STATE } from '../src/core/observation.js';
import type { BarSeries } from '../src/core/types.js';
import { encodeModel } from '../src/devtools/onnx-writer.js';
import { modelReport } from './helpers/evaluation.js';
import { expectScriptRegenerates, hasTorch } from './helpers/torch-fixtures.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFolder, MODELS_DIR, REPO, runCli, tempDir } from './helpers/e2e.js';

const DIR = path.join(REPO, 'test', 'fixtures', 'feature-graph');
const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);
const TARGET_OF = [0, 1, -1]; // CLOSE, BUY, SELL

afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

interface Reference {
  end: string;
  backtest_days: number;
  walk_forward: { days: number; folds: number };
  windows: { window: string; start: string; actions: number[] }[];
}

const card = (): Record<string, any> => JSON.parse(readFileSync(path.join(DIR, 'BTCUSD_1Hour.card.json'), 'utf8'));
const ref = (): Reference => JSON.parse(readFileSync(path.join(DIR, 'BTCUSD_1Hour.reference.json'), 'utf8'));

/** Evaluates like `validate` (backtest, folds, evidence with the look-ahead audit) with the card's files read from `dir`. */
async function evaluate(cardJson: unknown, dir = DIR) {
  const r = ref();
  const loaded = await loadPolicyModel(new Uint8Array(readFileSync(path.join(DIR, 'BTCUSD_1Hour.onnx'))), { device: 'cpu', label: 'BTCUSD_1Hour.onnx' });
  let targets: Float64Array[] = [];
  let job: SimulationJob | null = null;
  const model: PolicyModel = {
    ...loaded,
    label: loaded.label,
    run: (feeds, names) => loaded.run(feeds, names),
    release: () => loaded.release(),
    simulate: async (j: SimulationJob) => {
      job = j;
      const recorded = await loaded.simulate!(j);
      targets = recorded.targets.slice(0, j.simulations.length);
      return recorded;
    },
  };
  const report = modelReport('BTCUSD_1Hour', '1Hour');
  let error: unknown = null;
  try {
    await evaluateModel(report, model, cardJson, path.join(dir, 'BTCUSD_1Hour.card.json'), getBars, {
      config: defaultConfig(),
      endMs: Date.parse(r.end),
      backtestDays: r.backtest_days,
      walkForward: r.walk_forward,
      equityOut: null,
      log: () => {},
      cardFiles: folderCardFiles(path.join(dir, 'BTCUSD_1Hour.card.json'), REPO),
    });
  } catch (err) {
    error = err;
  } finally {
    await loaded.release();
  }
  return { report, targets, error, job: job as SimulationJob | null };
}

describe('a feature graph exported from torch', () => {
  it("every decision of the backtest and of each fold equals torch's; the {at, obs} goldens pass; the look-ahead audit finds nothing", async () => {
    const r = ref();
    const { report, targets, error, job } = await evaluate(card());
    expect(error).toBeNull();
    expect(report.errors).toEqual([]);
    expect(report.flags).not.toContain('NO_OBSERVATION_PARITY');
    expect(report.flags).not.toContain('LOOKAHEAD');
    expect(report.notes).toContain('golden vectors: 2 inference and 3 observation parity checks passed');
    expect(report.notes.find((n) => n.startsWith('feature graph '))).toMatch(/features\.onnx \(sha256 [0-9a-f]{12}…\): 6 column\(s\) from a 48-bar window, computed on \d+ bars one window at a time/);
    // The audit rebuilt 16 sampled observations from cut bars, running the graph again on each.
    expect(report.evidence!.lookahead!.checked).toBe(16);
    expect(report.evidence!.lookahead!.mismatches).toBe(0);
    expect(report.evidence!.lookahead!.historyDependent).toBe(0);
    // The onnxruntime process got the graph's columns with the bars.
    expect(job!.bars.graph!.columns).toHaveLength(6);
    // The backtest and the folds, then the folds again at stressed costs (evidence), which decide the same.
    expect(targets).toHaveLength(r.windows.length + r.walk_forward.folds);
    targets.slice(0, r.windows.length).forEach((t, i) => {
      expect(Array.from(t), r.windows[i]!.window).toEqual(r.windows[i]!.actions.map((a) => TARGET_OF[a]!));
    });
  });

  it('a graph whose rows depend on the rest of the batch (momentum z-scored over the batch) is flagged LOOKAHEAD, naming the column', async () => {
    const dir = tempDir('fg-leaky-');
    copyFileSync(path.join(DIR, 'features_leaky.onnx'), path.join(dir, 'features_leaky.onnx'));
    const c = card();
    c.observation.feature_graph.file = 'features_leaky.onnx';
    c.golden = [];
    const { report, error } = await evaluate(c, dir);
    expect(error).not.toBeNull();
    expect(report.flags).toContain('LOOKAHEAD');
    expect(report.errors[0]).toMatch(/^LOOKAHEAD: feature graph .*features_leaky\.onnx column 1 at the bar starting 2024-01-02T22:00:00\.000Z is NaN computed from its own window but -?\d/);
    expect(report.errors[0]).toContain('observation.feature_graph');
    expect(report.backtest).toBeNull();
  });

  it('a missing graph file, a column the graph does not return, and a window that differs from the graph are named with what to do', async () => {
    const dir = tempDir('fg-bad-');
    const missing = await evaluate(card(), dir);
    expect(String((missing.error as Error).message)).toBe(
      `${path.join(dir, 'BTCUSD_1Hour.card.json')}: observation.feature_graph.file names ${path.join(dir, 'features.onnx')}, which does not exist; put the exported feature graph beside the card`,
    );
    const c = card();
    c.observation.features[0] = { name: 'graph', column: 6 };
    const wide = await evaluate(c);
    expect((wide.error as Error).message).toContain('features.onnx returns 6 columns per bar, but');
    expect((wide.error as Error).message).toContain('observation.features[0] reads column 6 (columns are 0 to 5)');
  });

  it('policy-gate check prints how the graph is fed and read', async () => {
    const res = await runCli(['check', '--model', path.join(DIR, 'BTCUSD_1Hour.onnx')]);
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain('features.onnx (observation.feature_graph.file features.onnx), window 48 bars, one window per run');
    expect(res.stdout).toContain('bars  → input "bars" [1, 48, 5] float32 (open, high, low, close, volume; oldest first)');
    expect(res.stdout).toContain('times → input "times" [1, 48] int64 (bar starts, s since 1970-01-01 UTC)');
    expect(res.stdout).toContain('rows  ← output "features": 6 columns');
    expect(res.code).toBe(0);
  });

  it('policy-gate backtest runs the graph from the card’s folder (CLI, real bars)', async () => {
    const out = tempDir('fg-out-');
    const res = await runCli(['backtest', '--model', path.join(DIR, 'BTCUSD_1Hour.onnx'), '--data', EXAMPLE_DATA, '--end', ref().end, '--days', '30', '--out', out]);
    expect(res.stderr).not.toMatch(/error/i);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.models[0].errors).toEqual([]);
    expect(report.models[0].notes.some((n: string) => n.includes('6 column(s) from a 48-bar window'))).toBe(true);
    expect(report.models[0].backtest.metrics.trades).toBeGreaterThan(0);
    expect(res.code).toBe(0);
  });
});

describe('a feature graph in a training archive', () => {
  const archive = () =>
    exampleFolder((files) => {
      delete files['Alpaca_trading/manifest.json'];
      for (const f of ['BTCUSD_1Hour.onnx', 'BTCUSD_1Hour.card.json', 'features.onnx']) files[`${MODELS_DIR}/${f}`] = new Uint8Array(readFileSync(path.join(DIR, f)));
    });

  it('validate reads the graph beside the card; the graph is the model’s file, not an unreferenced model', async () => {
    const out = tempDir('fg-val-');
    const res = await runCli(['validate', archive(), '--data', EXAMPLE_DATA, '--end', ref().end, '--out', out]);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const m = report.models.find((x: { id: string }) => x.id === 'BTCUSD_1Hour');
    expect(m.errors).toEqual([]);
    expect(m.notes).toContain('golden vectors: 2 inference and 3 observation parity checks passed');
    expect(m.notes.some((n: string) => n.startsWith(`feature graph ${MODELS_DIR}/features.onnx (sha256 `))).toBe(true);
    expect(m.flags).not.toContain('LOOKAHEAD');
    expect(m.evidence.lookahead.mismatches).toBe(0);
    expect(report.archive.unreferenced).not.toContain(`${MODELS_DIR}/features.onnx`);
    expect([0, 1]).toContain(res.code);
  });

  it('check <archive> binds the graph; without the graph file the card is mis-set (exit 2)', async () => {
    const dir = archive();
    const ok = await runCli(['check', dir]);
    expect(ok.stdout).toContain(`graph   ${MODELS_DIR}/features.onnx (observation.feature_graph.file features.onnx), window 48 bars, one window per run`);
    rmSync(path.join(dir, ...MODELS_DIR.split('/'), 'features.onnx'));
    const missing = await runCli(['check', dir]);
    expect(missing.stdout).toContain(`the card's observation.feature_graph.file names ${MODELS_DIR}/features.onnx, which is not in the archive; put the exported feature graph beside the card`);
    expect(missing.code).toBe(2);
  });
});

// ------------------------------------------------------------------ a graph built here

const L = 5;
/** rows [batch, L, 2]: (close − open) / open and the UTC hour of each bar, in float64 from bars float64 and times int64 (ms). */
function probeGraph(batch: number | string = 'batch'): Uint8Array {
  const scalar = (name: string, v: number) => ({ name, dims: [], dataType: 'int64' as const, data: [BigInt(v)] });
  return encodeModel({
    graph: {
      name: 'probe',
      inputs: [
        { name: 'ohlcv', elemType: 'float64', shape: [batch, L, 5] },
        { name: 'start_ms', elemType: 'int64', shape: [batch, L] },
      ],
      outputs: [{ name: 'rows', elemType: 'float64', shape: [batch, L, 2] }],
      initializers: [
        scalar('i_open', 0),
        scalar('i_close', 3),
        scalar('day_ms', 86_400_000),
        { name: 'hour_ms', dims: [], dataType: 'float64', data: [3_600_000] },
        { name: 'axis2', dims: [1], dataType: 'int64', data: [2n] },
      ],
      nodes: [
        { opType: 'Gather', inputs: ['ohlcv', 'i_open'], outputs: ['o'], attributes: [{ name: 'axis', type: 'int', value: 2 }] },
        { opType: 'Gather', inputs: ['ohlcv', 'i_close'], outputs: ['c'], attributes: [{ name: 'axis', type: 'int', value: 2 }] },
        { opType: 'Sub', inputs: ['c', 'o'], outputs: ['d'] },
        { opType: 'Div', inputs: ['d', 'o'], outputs: ['body'] },
        { opType: 'Mod', inputs: ['start_ms', 'day_ms'], outputs: ['tod'] },
        { opType: 'Cast', inputs: ['tod'], outputs: ['tod_f'], attributes: [{ name: 'to', type: 'int', value: 11 }] },
        { opType: 'Div', inputs: ['tod_f', 'hour_ms'], outputs: ['hour'] },
        { opType: 'Unsqueeze', inputs: ['body', 'axis2'], outputs: ['body3'] },
        { opType: 'Unsqueeze', inputs: ['hour', 'axis2'], outputs: ['hour3'] },
        { opType: 'Concat', inputs: ['body3', 'hour3'], outputs: ['rows'], attributes: [{ name: 'axis', type: 'int', value: 2 }] },
      ],
    },
  });
}

describe('a feature graph built with the ONNX writer', () => {
  const probeCard = (features: unknown[], graph: Record<string, unknown> = {}) =>
    parseCard(
      {
        symbol: 'BTCUSD',
        timeframe: '1Hour',
        observation: { window: 3, feature_graph: { file: 'probe.onnx', window: L, times_unit: 'ms', ...graph }, features },
        action: { meanings: ['CLOSE', 'BUY', 'SELL'] },
      },
      'probe.card.json',
    );
  const files = (bytes: Uint8Array) => async (rel: string) => {
    expect(rel).toBe('probe.onnx');
    return { bytes, label: 'probe.onnx' };
  };

  it("reads each window's last row: column 0 equals the built-in body and column 1 the UTC hour, bit for bit, at every bar", async () => {
    const bars = (await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '1Hour')).bars;
    const c = probeCard([{ name: 'graph', column: 0 }, 'body', { name: 'graph', column: 1 }]);
    const graph = (await openFeatureGraph(c, files(probeGraph())))!;
    try {
      expect(graph.binding).toEqual({
        window: L,
        barsInput: 'ohlcv',
        barsType: 'float64',
        timesInput: 'start_ms',
        timesType: 'int64',
        timesUnit: 'ms',
        output: 'rows',
        lastRow: true,
        width: 2,
        fixedBatch: false,
      });
      const [body, hour] = await graph.columns(bars);
      const builtin = computeFeatureColumn(bars, { name: 'body' })!;
      for (let i = 0; i < L - 1; i++) expect(body![i]).toBeNaN();
      for (let i = L - 1; i < bars.time.length; i++) {
        expect(Object.is(body![i], builtin[i]), `bar ${i}`).toBe(true);
        expect(hour![i]).toBe(utcHour(bars.time[i]!));
      }
      // In an observation: the graph's column sits where the card puts it, row for row.
      const withGraph = await graph.attach(bars);
      const b = new ObservationBuilder(c, withGraph);
      expect(b.firstValidIndex).toBe(L - 1 + 2);
      const obs = b.build(500, FLAT_STATE, new Float32Array(b.size));
      for (let row = 0; row < 3; row++) {
        expect(obs[row * 3]).toBe(obs[row * 3 + 1]);
        expect(obs[row * 3 + 2]).toBe(utcHour(bars.time[498 + row]!));
      }
      // Cut bars carry no columns: the graph must be run on them again.
      expect(() => new ObservationBuilder(c, { ...withGraph, graph: undefined } as BarSeries)).toThrow(/the card's feature graph was not run on these BTCUSD bars/);
      expect(await graph.checkBatchIndependence(bars)).toBeNull();
    } finally {
      await graph.release();
    }
  });

  it('a non-finite value from the graph names the feature, the bar and the graph', async () => {
    const real = (await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '1Hour')).bars;
    const open = real.open.slice();
    open[600] = 0; // (close − open) / open = Infinity at bar 600
    const bars: BarSeries = { ...real, open };
    const c = probeCard([{ name: 'graph', column: 0 }]);
    const graph = (await openFeatureGraph(c, files(probeGraph())))!;
    try {
      const b = new ObservationBuilder(c, await graph.attach(bars));
      expect(() => b.build(601, FLAT_STATE, new Float32Array(b.size))).toThrow(
        `probe.card.json: feature graph(column=0) is Infinity at bar ${new Date(bars.time[600]!).toISOString()} in the observation for ${new Date(bars.time[601]!).toISOString()}; the feature graph probe.onnx returned it for that bar's window`,
      );
      expect(b.build(603, FLAT_STATE, new Float32Array(b.size)).every(Number.isFinite)).toBe(true);
    } finally {
      await graph.release();
    }
  });

  it('binding errors name the graph, the card key and the fix', async () => {
    const bytes = probeGraph();
    const bind = async (features: unknown[], g: Record<string, unknown>) => {
      try {
        const graph = await openFeatureGraph(probeCard(features, g), files(bytes));
        await graph?.release();
        return 'bound';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(await bind([{ name: 'graph', column: 0 }], { window: 7 })).toBe(
      'feature graph probe.onnx: input "ohlcv" is [batch, 5, 5], but the bars are fed as [batch, 7, 5] (window 7 × open, high, low, close, volume); set window to 5 if the graph reads that many bars (probe.card.json observation.feature_graph.window)',
    );
    expect(await bind([{ name: 'graph', column: 2 }], {})).toBe('feature graph probe.onnx returns 2 columns per bar, but probe.card.json observation.features[0] reads column 2 (columns are 0 to 1)');
    expect(await bind([{ name: 'graph', column: 0 }], { output: 'feats' })).toBe(
      'feature graph probe.onnx: has no output named "feats"; its outputs are "rows" [batch, 5, 2] float64 (probe.card.json observation.feature_graph.output)',
    );
    expect(await bind([{ name: 'graph', column: 0 }], { times_unit: 's' })).toBe('bound');
    // Exported without a dynamic batch: a batch of 1 runs (and cannot mix windows); any other is refused.
    const one = (await openFeatureGraph(probeCard([{ name: 'graph', column: 0 }]), files(probeGraph(1))))!;
    try {
      expect(one.binding.fixedBatch).toBe(true);
      const bars = (await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '1Hour')).bars;
      expect(await one.checkBatchIndependence(bars)).toBeNull();
      expect((await one.columns(bars))[0]![100]).toBe(computeFeatureColumn(bars, { name: 'body' })![100]);
    } finally {
      await one.release();
    }
    await expect(openFeatureGraph(probeCard([{ name: 'graph', column: 0 }]), files(probeGraph(8)))).rejects.toThrow(
      'feature graph probe.onnx: input "ohlcv" is [8, 5, 5]: a fixed batch of 8; policy-gate runs one window at a time — export the graph with a dynamic batch axis',
    );
  });

  it('card errors: a graph feature without feature_graph, a path leaving the card folder, a graph nothing reads', () => {
    const parse = (observation: unknown) => {
      try {
        parseCard({ symbol: 'BTCUSD', timeframe: '1Hour', observation, action: { meanings: ['CLOSE', 'BUY'] } }, 'c.json');
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(parse({ features: [{ name: 'graph', column: 0 }] })).toBe(
      'c.json: observation.features[0] reads the feature graph, but observation.feature_graph is missing; give { "file": "<graph>.onnx", "window": L }',
    );
    expect(parse({ feature_graph: { file: '../secrets/f.onnx', window: 4 }, features: [{ name: 'graph', column: 0 }] })).toBe(
      'c.json: observation.feature_graph.file must be a plain relative path inside the card\'s folder (no "..", ".", empty or absolute parts, no backslash), got "../secrets/f.onnx"',
    );
    expect(parse({ feature_graph: { file: 'f.onnx', window: 4 }, features: ['body'] })).toBe(
      'c.json: observation.feature_graph is given but no feature reads it; add { "name": "graph", "column": k } to observation.features for each column the model takes',
    );
    expect(parse({ feature_graph: { file: 'f.onnx', window: 4 }, features: [{ name: 'graph' }] })).toBe('c.json: observation.features[0].column is missing; graph needs a column (an integer ≥ 0)');
    expect(parse({ feature_graph: { file: 'f.onnx', window: 4 }, features: [{ name: 'graph', column: 0, symbol: 'ETHUSD' }] })).toContain('observation.features[0].symbol is not a parameter of graph');
  });
});

// ------------------------------------------------------------------ the fixtures come from the script

describe('the example script', () => {
  it.skipIf(!hasTorch)('feature_graph_example.py regenerates test/fixtures/feature-graph byte for byte', () => expectScriptRegenerates('feature_graph_example.py', 'POLICY_GATE_FG_OUT', DIR), 120_000);
});
