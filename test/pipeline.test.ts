/**
 * The validate pipeline end to end, in-process through `main(argv, io)`: the bundled example (real
 * BTC bars, ONNX models written by our own writer, a real zip), the no-look-ahead property, per-model
 * failures that never lose the other models, batched vs stepwise inference, recurrent policies, and
 * config files that change outcomes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlp, buildRecurrent, type MlpOptions } from '../src/devtools/onnx-writer.js';
import { checkTitle } from '../src/action/render.js';
import {
  EXAMPLE_DATA,
  EXAMPLE_ZIP,
  MODELS_DIR,
  NOW,
  TIMEFRAME_MS,
  cleanupTempDirs,
  dec,
  editJson,
  enc,
  exampleFiles,
  exampleFolder,
  listTree,
  readEquityCsv,
  readFolder,
  runCli,
  tempDir,
  truncateBars,
  writeTree,
  type CliResult,
} from './helpers/e2e.js';

afterAll(cleanupTempDirs);

const HEX64 = /^[0-9a-f]{64}$/;
const DAY = 86_400_000;
const EVALUATED = ['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day'];
const NOT_EVALUATED = ['ETHUSD_1Hour', 'SOLUSD_1Hour', 'UNIUSD_1Hour'];
const PERIODS: Record<string, number> = { '1Hour': 8760, '2Hour': 4380, '4Hour': 2190, '1Day': 365 };
const BARS_PER_DAY: Record<string, number> = { '1Hour': 24, '2Hour': 12, '4Hour': 6, '1Day': 1 };

const byId = (report: any): Record<string, any> => Object.fromEntries(report.models.map((m: any) => [m.id, m]));
const ms = (iso: string): number => Date.parse(iso);

/** Runs validate with --out; returns the CLI result and the parsed report.json (null when none was written). */
async function validate(archive: string, extra: string[] = [], cwd?: string): Promise<CliResult & { out: string; report: any }> {
  const out = path.join(tempDir('out-'), 'report');
  const r = await runCli(['validate', archive, '--data', EXAMPLE_DATA, '--out', out, ...extra], cwd);
  const file = path.join(out, 'report.json');
  return { ...r, out, report: existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null };
}

/** Every metric object in a model report: the backtest's, each fold's, and the fold summary. */
function metricObjects(m: any): [string, any][] {
  const list: [string, any][] = [];
  if (m.backtest) list.push([`${m.id}.backtest`, m.backtest.metrics]);
  for (const f of m.walkForward?.folds ?? []) list.push([`${m.id}.fold${f.index}`, f.metrics]);
  if (m.walkForward?.summary) list.push([`${m.id}.summary`, m.walkForward.summary]);
  return list;
}

describe('validate on the example archive', () => {
  let run: CliResult & { out: string; report: any };
  let eq: string;
  let models: Record<string, any>;
  let jsonText: string;
  beforeAll(async () => {
    eq = path.join(tempDir('equity-'), 'curves');
    run = await validate(EXAMPLE_ZIP, ['--equity-out', eq, '--device', 'cpu', '--json']);
    models = byId(run.report);
    jsonText = readFileSync(path.join(run.out, 'report.json'), 'utf8');
  });

  it('exits 1 with conclusion failure, because some requested models fall short', () => {
    expect(run.stderr).not.toContain('internal error');
    expect(run.code).toBe(1);
    expect(run.report.conclusion).toBe('failure');
    expect(run.report.conclusionReasons).toEqual([
      'BTCUSD_1Hour: DROP is below the requested PAPER',
      'BTCUSD_1Day: RETRAIN is below the requested PAPER',
      'ETHUSD_1Hour: DROP is below the requested PAPER',
      'SOLUSD_1Hour: DROP is below the requested PAPER',
      `UNIUSD_1Hour: not evaluated (requested PAPER): ${MODELS_DIR}/UNIUSD_1Hour.pt: PyTorch checkpoint: export it to ONNX (torch.onnx.export) — see docs/archive-format.md#exporting-to-onnx`,
    ]);
    expect(run.report.errors).toEqual([]);
  });

  it('writes report.json, report.md and report.html; --json prints the same report on stdout', () => {
    expect(listTree(run.out)).toEqual(['report.html', 'report.json', 'report.md']);
    expect(JSON.parse(run.stdout)).toEqual(run.report);
    const md = readFileSync(path.join(run.out, 'report.md'), 'utf8');
    const html = readFileSync(path.join(run.out, 'report.html'), 'utf8');
    for (const id of [...EVALUATED, ...NOT_EVALUATED]) {
      expect(md, id).toContain(`<details><summary>`); // one collapsed section per model
      expect(md, id).toMatch(new RegExp(`^<details><summary>[^\\n]*<b>${id}</b> — `, 'm'));
      expect(html, id).toContain(id);
    }
    expect(html.toLowerCase()).toContain('<html');
    for (const [name, text] of [
      ['report.md', md],
      ['report.html', html],
    ])
      expect(text, name).not.toMatch(/\bNaN\b|Infinity|undefined/);
    expect(run.stderr).toContain(`wrote ${path.join(run.out, 'report.json')}`);
  });

  it('decides per SPEC 7 and says which rule fired', () => {
    const tiers = Object.fromEntries(Object.entries(models).map(([id, m]) => [id, m.decision?.tier ?? null]));
    expect(tiers).toEqual({
      BTCUSD_1Hour: 'DROP',
      BTCUSD_4Hour: 'PAPER',
      BTCUSD_2Hour: 'PAPER',
      BTCUSD_1Day: 'RETRAIN',
      ETHUSD_1Hour: 'DROP',
      SOLUSD_1Hour: 'DROP',
      UNIUSD_1Hour: null,
    });
    expect(models.BTCUSD_1Hour.decision.rule).toBe('rule 2: consistent losses');
    expect(models.BTCUSD_1Hour.decision.reasons[0]).toMatch(/^rule 2: every fold lost money/);
    expect(models.BTCUSD_1Hour.walkForward.summary.positiveFolds).toBe(0);
    expect(models.BTCUSD_4Hour.decision.rule).toMatch(/^rule 4/);
    expect(models.BTCUSD_4Hour.walkForward.summary).toMatchObject({ positiveFolds: 4, folds: 5, rating: 'MARGINAL' });
    expect(models.BTCUSD_2Hour.decision.rule).toMatch(/^rule 4/);
    expect(models.BTCUSD_1Day.decision.rule).toMatch(/^rule 5/);
    expect(models.BTCUSD_1Day.flags).toContain('IN_SAMPLE_OVERLAP');
    expect(models.BTCUSD_1Day.notes.join('\n')).toContain('IN_SAMPLE_OVERLAP: the evaluation starts 2024-03-15T00:00:00.000Z, at or before train_end 2024-06-30');
    expect(models.ETHUSD_1Hour.decision.rule).toMatch(/^rule 1/);
    expect(models.SOLUSD_1Hour.decision.rule).toMatch(/^rule 1/);
    expect(models.SOLUSD_1Hour.decision.reasons[0]).toBe('rule 1: METRIC_INVALID');
    // Not evaluated is not a decision: no tier (never DROP), the reason in a field of its own.
    expect(models.UNIUSD_1Hour.decision).toBeNull();
    expect(models.UNIUSD_1Hour.notEvaluated).toEqual({ reason: expect.stringContaining('export it to ONNX'), kind: 'model' });
    for (const id of ['BTCUSD_1Hour', 'ETHUSD_1Hour', 'SOLUSD_1Hour']) expect(models[id].notEvaluated, id).toBeNull();
    for (const id of NOT_EVALUATED) {
      expect(models[id].backtest, id).toBeNull();
      expect(models[id].walkForward, id).toBeNull();
    }
    for (const m of run.report.models) expect(m.requested).toBe('PAPER');
  });

  it('evaluates BTCUSD_2Hour from checkpoint 3, the fitness peak, with that checkpoint loaded', () => {
    const m = models.BTCUSD_2Hour;
    expect(m.candidate).toBe('checkpoint:3');
    expect(m.model.path).toBe(`${MODELS_DIR}/checkpoints/BTCUSD_2Hour_3.onnx`);
    expect(m.model.sha256).toMatch(HEX64);
    expect(m.model.sha256).not.toBe(models.BTCUSD_1Hour.model.sha256);
    expect(m.gating).toMatchObject({ flags: ['FITNESS_DECLINE'], checkpointIndex: 3 });
    expect(m.notes.join('\n')).toContain('evaluating checkpoint 3');
    expect(m.card.path).toBe(`${MODELS_DIR}/checkpoints/BTCUSD_2Hour_3.card.json`);
  });

  it('backtests the last 30 days and walks forward over 180 days in 5 contiguous folds', () => {
    for (const id of EVALUATED) {
      const m = models[id];
      const tf = TIMEFRAME_MS[m.timeframe]!;
      const perDay = BARS_PER_DAY[m.timeframe]!;
      // Backtest: end − 30 days < t ≤ end.
      expect(m.backtest.bars, id).toBe(30 * perDay);
      expect(ms(m.backtest.end) - ms(m.backtest.start), id).toBe(30 * DAY - tf);
      // Walk-forward: 5 folds, ends at the same last bar, 180 days of bars in all.
      const folds = m.walkForward.folds;
      expect(m.walkForward.days).toBe(180);
      expect(
        folds.map((f: any) => f.index),
        id,
      ).toEqual([1, 2, 3, 4, 5]);
      expect(
        folds.reduce((s: number, f: any) => s + f.bars, 0),
        id,
      ).toBe(180 * perDay);
      const each = Math.floor((180 * perDay) / 5);
      expect(
        folds.slice(0, 4).map((f: any) => f.bars),
        id,
      ).toEqual([each, each, each, each]);
      expect(folds[4].bars, id).toBe(180 * perDay - 4 * each);
      expect(folds[4].end, id).toBe(m.backtest.end);
      expect(ms(folds[0].start), id).toBe(ms(m.backtest.end) - 180 * DAY + tf);
      for (let k = 0; k < 5; k++) {
        const f = folds[k];
        expect(ms(f.end) - ms(f.start), `${id} fold ${k + 1}`).toBe((f.bars - 1) * tf);
        if (k > 0) expect(ms(f.start) - ms(folds[k - 1].end), `${id} fold ${k + 1} follows fold ${k}`).toBe(tf);
      }
      expect(m.walkForward.summary.folds).toBe(5);
    }
    expect(models.BTCUSD_1Hour.walkForward.folds.map((f: any) => f.bars)).toEqual([864, 864, 864, 864, 864]);
    expect(models.BTCUSD_1Hour.backtest).toMatchObject({ start: '2024-08-12T18:00:00.000Z', end: '2024-09-11T17:00:00.000Z', bars: 720 });
  });

  it('reports the runtime, the config hash and periods per year', () => {
    expect(run.report.runtime.executionProvider).toBe('cpu');
    expect(run.report.runtime.device).toBe('cpu');
    expect(run.report.runtime.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    expect(run.report.runtime.node).toBe(process.version);
    expect(run.report.config.sha256).toMatch(HEX64);
    expect(run.report.config.file).toBeNull();
    expect(run.report.generatedAt).toBe(NOW.toISOString());
    expect(run.report.archive).toMatchObject({ path: EXAMPLE_ZIP, kind: 'zip', manifest: { files: 14 } });
    expect(run.report.archive.sha256).toMatch(HEX64);
    expect(run.report.data).toMatchObject({ source: 'csv', dir: EXAMPLE_DATA, range: { end: '2024-09-11T17:00:00.000Z' } });
    for (const id of EVALUATED) {
      const m = models[id];
      expect(m.assetClass).toBe('crypto');
      expect(m.model.sha256, id).toMatch(HEX64);
      for (const [where, metrics] of metricObjects(m)) {
        if ('periodsPerYear' in metrics) expect(metrics.periodsPerYear, where).toBe(PERIODS[m.timeframe]);
      }
    }
    expect(models.BTCUSD_1Hour.backtest.metrics.periodsPerYear).toBe(8760);
    expect(models.BTCUSD_4Hour.backtest.metrics.periodsPerYear).toBe(2190);
  });

  it('report.json holds no NaN or Infinity, and every null metric says why', () => {
    expect(jsonText).not.toMatch(/NaN|Infinity/);
    const parsed = JSON.parse(jsonText);
    expect(JSON.stringify(parsed, null, 2) + '\n').toBe(jsonText);
    let nulls = 0;
    for (const id of EVALUATED) {
      for (const [where, metrics] of metricObjects(models[id])) {
        for (const [key, value] of Object.entries(metrics)) {
          if (value === null) {
            nulls++;
            expect(typeof metrics.undefinedReasons?.[key], `${where}.${key} is null without a reason`).toBe('string');
            expect(metrics.undefinedReasons[key].length).toBeGreaterThan(0);
          } else if (typeof value === 'number') {
            expect(Number.isFinite(value), `${where}.${key}`).toBe(true);
          }
        }
      }
    }
    // The example has undefined metrics (a fold without a losing trade has no profit factor): the check ran.
    expect(nulls).toBeGreaterThan(0);
    expect(models.BTCUSD_4Hour.walkForward.folds[1].metrics.profitFactor).toBeNull();
  });

  it('writes an equity CSV per backtest and fold that starts at the capital and ends at the final equity', () => {
    const expected: string[] = [];
    for (const id of EVALUATED) expected.push(`${id}.backtest.csv`, ...[1, 2, 3, 4, 5].map((k) => `${id}.fold${k}.csv`));
    expect(listTree(eq)).toEqual(expected.sort());
    for (const id of EVALUATED) {
      const m = models[id];
      const tf = TIMEFRAME_MS[m.timeframe]!;
      const windows: [string, any][] = [[`${id}.backtest.csv`, m.backtest], ...m.walkForward.folds.map((f: any) => [`${id}.fold${f.index}.csv`, f] as [string, any])];
      let previousLast: string | null = null;
      for (const [name, w] of windows) {
        const { header, rows } = readEquityCsv(path.join(eq, name));
        expect(header, name).toBe('timestamp,equity,exposure');
        expect(rows.length, name).toBe(w.bars + 1);
        expect(rows[0], name).toEqual({ timestamp: w.start, equity: 100000, exposure: 0 });
        rows.forEach((r, i) => {
          if (i > 0) expect(ms(r.timestamp) - ms(rows[i - 1]!.timestamp), `${name} row ${i}`).toBe(tf);
          expect(r.exposure, `${name} row ${i}`).toBeGreaterThanOrEqual(0); // long-only crypto
          expect(r.exposure, `${name} row ${i}`).toBeLessThan(1.02);
        });
        const last = rows[rows.length - 1]!;
        // Full precision: the CSV holds the very doubles the metrics were computed from.
        expect(last.equity, name).toBe(w.metrics.finalEquity);
        expect(last.equity / rows[0]!.equity - 1, name).toBe(w.metrics.totalReturn);
        if (name.includes('.fold')) {
          // Folds tile the window: each one's last mark is the next one's first timestamp.
          if (previousLast) expect(rows[0]!.timestamp, name).toBe(previousLast);
          previousLast = last.timestamp;
        }
      }
    }
  });

  it('buy & hold is measured on the bars themselves: first window open to last window close', () => {
    for (const id of EVALUATED) {
      const m = models[id];
      const lines = readFileSync(path.join(EXAMPLE_DATA, `${id}.csv`), 'utf8')
        .trim()
        .split('\n')
        .slice(1);
      const bar = (iso: string) => {
        const line = lines.find((l) => Date.parse(l.slice(0, l.indexOf(','))) === ms(iso));
        expect(line, `${id}: no bar at ${iso}`).toBeDefined();
        const [, open, , , close] = line!.split(',').map(Number);
        return { open: open!, close: close! };
      };
      for (const w of [m.backtest, ...m.walkForward.folds]) {
        expect(w.metrics.buyHoldReturn, `${id} ${w.start}`).toBeCloseTo(bar(w.end).close / bar(w.start).open - 1, 12);
      }
    }
  });

  it('the metrics are the SPEC 5 formulas over the very curve in the equity CSV (to 1e-12 relative)', () => {
    // The CSV's numbers are full precision, so an independent recomputation from the file agrees with
    // report.json to rounding order only (6 decimals would leave differences of about 1e-9).
    const close = (a: number, b: number, what: string) => expect(Math.abs(a - b), `${what}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-12 * Math.max(1e-300, Math.abs(b)));
    let checked = 0;
    for (const id of EVALUATED) {
      const m = models[id];
      const windows: [string, any][] = [[`${id}.backtest.csv`, m.backtest], ...m.walkForward.folds.map((f: any) => [`${id}.fold${f.index}.csv`, f] as [string, any])];
      for (const [name, w] of windows) {
        const { rows } = readEquityCsv(path.join(eq, name));
        const E = rows.map((r) => r.equity);
        const r = E.slice(1).map((e, i) => e / E[i]! - 1);
        const N = r.length;
        const P = w.metrics.periodsPerYear;
        const mean = r.reduce((a, b) => a + b, 0) / N;
        const sd = Math.sqrt(r.reduce((a, b) => a + (b - mean) ** 2, 0) / (N - 1));
        const down = Math.sqrt(r.reduce((a, b) => a + Math.min(b, 0) ** 2, 0) / N);
        let peak = E[0]!;
        let mdd = 0;
        for (const e of E) {
          peak = Math.max(peak, e);
          mdd = Math.max(mdd, 1 - e / peak);
        }
        const cagr = (E[N]! / E[0]!) ** (P / N) - 1;
        close(w.metrics.totalReturn, E[N]! / E[0]! - 1, `${name} totalReturn`);
        close(w.metrics.cagr, cagr, `${name} cagr`);
        close(w.metrics.maxDrawdown, mdd, `${name} maxDrawdown`);
        close(w.metrics.volatility, sd * Math.sqrt(P), `${name} volatility`);
        if (w.metrics.sharpe !== null) close(w.metrics.sharpe, (mean / sd) * Math.sqrt(P), `${name} sharpe`);
        if (w.metrics.sortino !== null) close(w.metrics.sortino, (mean / down) * Math.sqrt(P), `${name} sortino`);
        if (w.metrics.calmar !== null) close(w.metrics.calmar, cagr / mdd, `${name} calmar`);
        // Exposure: the share of bars that ended holding a position.
        expect(w.metrics.exposure, name).toBeCloseTo(rows.slice(1).filter((x) => x.exposure !== 0).length / N, 12);
        // Trades: long-only, so one per entry from flat (a position still open at the end counts).
        const entries = rows.filter((x, i) => i > 0 && x.exposure !== 0 && rows[i - 1]!.exposure === 0).length;
        expect(w.metrics.trades, `${name} trades`).toBe(entries);
        checked++;
      }
    }
    expect(checked).toBe(4 * 6);
  });
});

describe('no look-ahead, end to end', () => {
  let modelPath: string;
  let cardPath: string;
  const END = '2024-06-01T00:00:00Z';
  const full = readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv'), 'utf8');

  beforeAll(() => {
    const files = exampleFiles();
    const dir = tempDir('model-');
    writeTree(dir, {
      'BTCUSD_1Hour.onnx': files[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!,
      'policy.card.json': files[`${MODELS_DIR}/BTCUSD_1Hour.card.json`]!,
    });
    modelPath = path.join(dir, 'BTCUSD_1Hour.onnx');
    cardPath = path.join(dir, 'policy.card.json');
  });

  async function backtest(csv: string): Promise<{ r: CliResult; curves: Record<string, string>; report: any }> {
    const data = tempDir('bars-');
    writeFileSync(path.join(data, 'BTCUSD_1Hour.csv'), csv);
    const eq = path.join(tempDir('eq-'), 'curves');
    const r = await runCli(['backtest', '--model', modelPath, '--card', cardPath, '--data', data, '--days', '30', '--walk-forward', '3', '--end', END, '--equity-out', eq, '--json']);
    return { r, curves: readFolder(eq), report: r.code <= 1 ? JSON.parse(r.stdout) : null };
  }

  it('bars after --end cannot change a single equity value (the file truncated at the end bar gives identical CSVs)', async () => {
    const truncated = truncateBars(full, END);
    expect(truncated.trimEnd().split('\n').pop()).toMatch(/^2024-06-01T00:00:00Z,/);
    expect(truncated.length).toBeLessThan(full.length * 0.7);
    const [a, b] = await Promise.all([backtest(full), backtest(truncated)]);
    expect([0, 1], a.r.stderr).toContain(a.r.code);
    expect(b.r.code, b.r.stderr).toBe(a.r.code);
    expect(Object.keys(a.curves)).toEqual(['BTCUSD_1Hour.backtest.csv', 'BTCUSD_1Hour.fold1.csv', 'BTCUSD_1Hour.fold2.csv', 'BTCUSD_1Hour.fold3.csv']);
    expect(b.curves).toEqual(a.curves);
    // The windows end at the --end bar, and the metrics agree too.
    const ma = a.report.models[0];
    const mb = b.report.models[0];
    expect(ma.backtest).toMatchObject({ end: '2024-06-01T00:00:00.000Z', bars: 720 });
    expect(ma.walkForward.folds.map((f: any) => f.bars)).toEqual([240, 240, 240]);
    expect(mb.backtest).toEqual(ma.backtest);
    expect(mb.walkForward).toEqual(ma.walkForward);
    // Sanity: the curves are not trivially flat, so identical means something.
    expect(ma.backtest.metrics.trades).toBeGreaterThan(0);
  });

  it('a file that ends before --end gives an earlier window and different curves (the comparison can fail)', async () => {
    const [a, c] = await Promise.all([backtest(full), backtest(truncateBars(full, '2024-05-31T12:00:00Z'))]);
    expect([0, 1], c.r.stderr).toContain(c.r.code);
    expect(c.report.models[0].backtest.end).toBe('2024-05-31T12:00:00.000Z');
    expect(c.curves['BTCUSD_1Hour.backtest.csv']).not.toBe(a.curves['BTCUSD_1Hour.backtest.csv']);
    expect(c.curves).not.toEqual(a.curves);
  });

  it('validate over every example model: truncating every bar file at --end changes no equity CSV', async () => {
    const truncatedData = tempDir('bars-all-');
    for (const tf of ['1Hour', '2Hour', '4Hour', '1Day']) {
      const name = `BTCUSD_${tf}.csv`;
      writeFileSync(path.join(truncatedData, name), truncateBars(readFileSync(path.join(EXAMPLE_DATA, name), 'utf8'), END));
    }
    const flags = ['--days', '60', '--backtest-days', '30', '--walk-forward', '3', '--end', END];
    const runWith = async (data: string) => {
      const eq = path.join(tempDir('eq-'), 'curves');
      const r = await runCli(['validate', EXAMPLE_ZIP, '--data', data, '--equity-out', eq, '--json', ...flags]);
      return { r, report: JSON.parse(r.stdout), curves: readFolder(eq) };
    };
    const [a, b] = await Promise.all([runWith(EXAMPLE_DATA), runWith(truncatedData)]);
    expect(Object.keys(a.curves)).toHaveLength(4 * 4);
    expect(b.curves).toEqual(a.curves);
    const decisions = (rep: any) => rep.models.map((m: any) => [m.id, m.decision?.tier ?? null, m.backtest?.end ?? null]);
    expect(decisions(b.report)).toEqual(decisions(a.report));
    expect(byId(a.report).BTCUSD_4Hour.backtest.end).toBe('2024-06-01T00:00:00.000Z');
    expect(byId(a.report).BTCUSD_1Day.backtest.end).toBe('2024-06-01T00:00:00.000Z');
  });
});

describe('one model failing never loses the others', () => {
  const card1h = `${MODELS_DIR}/BTCUSD_1Hour.card.json`;
  const withoutManifest = (edit: (files: Record<string, Uint8Array>) => void) =>
    exampleFolder((files) => {
      delete files['Alpaca_trading/manifest.json'];
      edit(files);
    });

  function othersStillEvaluated(report: any, broken: string): void {
    const m = byId(report);
    for (const id of EVALUATED.filter((x) => x !== broken)) {
      expect(m[id].errors, id).toEqual([]);
      expect(m[id].walkForward.folds, id).toHaveLength(5);
      expect(m[id].backtest.bars, id).toBeGreaterThan(0);
    }
    expect(m.BTCUSD_4Hour.decision?.tier === 'PAPER' || broken === 'BTCUSD_4Hour').toBe(true);
  }

  it('the unmodified example as a folder (manifest verified) decides exactly as the zip', async () => {
    const run = await validate(exampleFolder());
    expect(run.code).toBe(1);
    expect(run.report.archive).toMatchObject({ kind: 'dir', manifest: { path: 'Alpaca_trading/manifest.json', files: 14 } });
    const tiers = run.report.models.map((m: any) => `${m.id}:${m.candidate}:${m.decision?.tier ?? 'not evaluated'}`);
    expect(tiers).toEqual([
      'BTCUSD_1Hour:final:DROP',
      'BTCUSD_4Hour:final:PAPER',
      'BTCUSD_2Hour:checkpoint:3:PAPER',
      'BTCUSD_1Day:final:RETRAIN',
      'ETHUSD_1Hour:final:DROP',
      'SOLUSD_1Hour:final:DROP',
      'UNIUSD_1Hour:final:not evaluated',
    ]);
  });

  it('(a) a garbage ONNX file: that model errors naming the file, "not evaluated" (no decision, never DROP); the report is written', async () => {
    const dir = withoutManifest((files) => {
      files[`${MODELS_DIR}/BTCUSD_4Hour.onnx`] = new Uint8Array(randomBytes(512));
    });
    const run = await validate(dir);
    expect(run.code).toBe(1);
    expect(run.report, 'report.json written').not.toBeNull();
    const m = byId(run.report).BTCUSD_4Hour;
    expect(m.errors).toHaveLength(1);
    expect(m.errors[0]).toContain('BTCUSD_4Hour.onnx');
    expect(m.errors[0]).not.toMatch(/^internal error/);
    expect(m.decision).toBeNull();
    expect(m.notEvaluated).toEqual({ reason: m.errors[0], kind: 'model' });
    expect(m.backtest).toBeNull();
    expect(m.walkForward).toBeNull();
    othersStillEvaluated(run.report, 'BTCUSD_4Hour');
    expect(run.report.conclusionReasons).toContain(`BTCUSD_4Hour: not evaluated (requested PAPER): ${m.errors[0]}`);
    // Everywhere a reader looks, it says "not evaluated" with the reason, never DROP.
    expect(run.stdout).toMatch(/^BTCUSD_4Hour\s+REVIEW\s+—\s+—\s+—\s+—\s+not evaluated\s+PAPER\s+none$/m);
    // The row keeps its columns within 100 (the table is not re-wrapped).
    expect(run.stdout.split('\n').every((l) => l.length <= 100)).toBe(true);
    expect(run.stdout.replace(/\n +/g, ' ')).toContain(`not evaluated (no decision, requested PAPER): ${m.errors[0]}`);
    const md = readFileSync(path.join(run.out, 'report.md'), 'utf8');
    expect(md).toMatch(/^\| BTCUSD\\_4Hour +\| ⚪ \*\*not evaluated\*\* +\| — +\| PAPER +\| REVIEW .*\| final +\|$/m);
    expect(md).toContain('<details><summary>⚪ <b>BTCUSD_4Hour</b> — not evaluated</summary>\n\n- **not evaluated, so no decision** (requested PAPER): ');
    const html = readFileSync(path.join(run.out, 'report.html'), 'utf8');
    expect(html).toContain('<h2><span class="decision"><span class="badge">not evaluated</span></span> <span class="id">BTCUSD_4Hour</span> <small>final</small>');
    expect(html).toContain('<li>not evaluated, so no decision (requested PAPER): ');
    expect(checkTitle(run.report)).toBe('7 models: 1 PAPER, 1 RETRAIN, 3 DROP, 2 not evaluated — 6 below the requested tier');
    expect(run.stderr).toContain('BTCUSD_4Hour: ');
  });

  it('(b) a card whose observation size does not fit the model: an error naming card, model and both sizes', async () => {
    const dir = withoutManifest((files) =>
      editJson(files, card1h, (card) => {
        const i = card.observation.features.findIndex((f: any) => f.name === 'hour_cos');
        card.observation.features.splice(i, 1);
        card.observation.normalize.mean.splice(i, 1);
        card.observation.normalize.std.splice(i, 1);
        delete card.golden;
      }),
    );
    const run = await validate(dir);
    expect(run.code).toBe(1);
    const m = byId(run.report).BTCUSD_1Hour;
    expect(m.errors).toHaveLength(1);
    expect(m.errors[0]).toContain('BTCUSD_1Hour.onnx');
    expect(m.errors[0]).toContain('BTCUSD_1Hour.card.json');
    expect(m.errors[0]).toMatch(/takes 9 values per observation/);
    expect(m.errors[0]).toMatch(/1×8 = 8/);
    expect(m.decision).toBeNull();
    expect(m.notEvaluated.kind).toBe('model');
    othersStillEvaluated(run.report, 'BTCUSD_1Hour');
  });

  it('(c) a tampered golden output: INFERENCE_MISMATCH, DROP by rule 1, no backtest on the untrusted model', async () => {
    const dir = withoutManifest((files) =>
      editJson(files, card1h, (card) => {
        card.golden[0].output[1] += 0.5;
      }),
    );
    const run = await validate(dir);
    expect(run.code).toBe(1);
    const m = byId(run.report).BTCUSD_1Hour;
    expect(m.flags).toContain('INFERENCE_MISMATCH');
    expect(m.flags).not.toContain('OBSERVATION_MISMATCH');
    expect(m.decision.tier).toBe('DROP');
    expect(m.decision.rule).toMatch(/^rule 1/);
    expect(m.decision.reasons.join('\n')).toContain('INFERENCE_MISMATCH');
    expect(m.errors.join('\n')).toMatch(/INFERENCE_MISMATCH: golden\[0\] output\[1\]/);
    expect(m.backtest).toBeNull();
    othersStillEvaluated(run.report, 'BTCUSD_1Hour');
  });

  it('(d) a tampered golden observation (an "at" entry): OBSERVATION_MISMATCH, DROP by rule 1', async () => {
    let at = '';
    const dir = withoutManifest((files) =>
      editJson(files, card1h, (card) => {
        const g = card.golden.find((x: any) => x.at !== undefined);
        at = g.at;
        g.obs[3] += 0.5; // rsi 14
      }),
    );
    const run = await validate(dir);
    expect(run.code).toBe(1);
    const m = byId(run.report).BTCUSD_1Hour;
    expect(m.flags).toContain('OBSERVATION_MISMATCH');
    expect(m.flags).not.toContain('INFERENCE_MISMATCH');
    expect(m.decision.tier).toBe('DROP');
    expect(m.decision.rule).toMatch(/^rule 1/);
    const msg = m.errors.join('\n');
    expect(msg).toContain('OBSERVATION_MISMATCH: golden[2]');
    expect(msg).toContain(new Date(at).toISOString());
    expect(msg).toContain('rsi');
    othersStillEvaluated(run.report, 'BTCUSD_1Hour');
  });

  it('a checkpoint without its own card borrows the final card: observation goldens checked, inference goldens skipped', async () => {
    const dir = withoutManifest((files) => {
      delete files[`${MODELS_DIR}/checkpoints/BTCUSD_2Hour_3.card.json`];
    });
    const run = await validate(dir);
    const m = byId(run.report).BTCUSD_2Hour;
    expect(m.candidate).toBe('checkpoint:3');
    expect(m.card.path).toBe(`${MODELS_DIR}/BTCUSD_2Hour.card.json`);
    expect(m.errors).toEqual([]);
    expect(m.flags).not.toContain('INFERENCE_MISMATCH');
    const notes = m.notes.join('\n');
    expect(notes).toContain('2 inference golden vector(s) skipped');
    expect(notes).toContain('golden vectors: 0 inference and 2 observation parity checks passed');
    // Same observation layout as its own card, so the same evaluation.
    expect(m.decision.tier).toBe('PAPER');
    expect(m.walkForward.summary.positiveFolds).toBe(4);
  });

  it('a card given inline in the summary entry is used when there is no card file', async () => {
    // v4.1.0 lets ETHUSD_1Hour (inline card in the summary) through gating as REVIEW; give it bars.
    const cwd = tempDir('inline-');
    const data = path.join(cwd, 'bars');
    mkdirSync(data);
    for (const f of ['BTCUSD_1Hour.csv', 'BTCUSD_2Hour.csv', 'BTCUSD_4Hour.csv', 'BTCUSD_1Day.csv']) {
      writeFileSync(path.join(data, f), readFileSync(path.join(EXAMPLE_DATA, f)));
    }
    writeFileSync(path.join(data, 'ETHUSD_1Hour.csv'), readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv')));
    writeFileSync(path.join(cwd, 'pg.yml'), 'gating:\n  preset: v4.1.0\n');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', data, '--config', 'pg.yml', '--json'], cwd);
    const m = byId(JSON.parse(r.stdout)).ETHUSD_1Hour;
    expect(m.gating.classification).toBe('REVIEW');
    expect(m.gating.flags).toContain('UNSTABLE_TRAINING');
    expect(m.card).toEqual({ path: null, inline: true });
    expect(m.errors).toEqual([]);
    expect(m.walkForward.folds).toHaveLength(5);
    expect(m.backtest.bars).toBe(720);
    expect(m.decision).not.toBeNull();
  });

  it('(e) a manifest sha256 mismatch is exit 2 naming the file; the report written says so and evaluates nothing', async () => {
    const dir = exampleFolder((files) => {
      files[card1h] = enc(dec(files[card1h]!) + ' ');
    });
    const run = await validate(dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('BTCUSD_1Hour.card.json');
    expect(run.stderr).toContain('manifest.json');
    expect(run.stderr).toMatch(/sha256 of ".*BTCUSD_1Hour\.card\.json" is [0-9a-f]{64}/);
    expect(run.report.conclusion).toBe('failure');
    expect(run.report.models).toEqual([]);
    expect(run.report.errors[0]).toContain('BTCUSD_1Hour.card.json');
  });

  it("(f) a bars folder without one model's symbol: that model is not evaluated (bad input of the run), the others are, exit 2", async () => {
    const data = tempDir('bars-');
    for (const tf of ['1Hour', '2Hour', '1Day']) writeFileSync(path.join(data, `BTCUSD_${tf}.csv`), readFileSync(path.join(EXAMPLE_DATA, `BTCUSD_${tf}.csv`)));
    const out = path.join(tempDir('out-'), 'report');
    const run = await runCli(['validate', EXAMPLE_ZIP, '--data', data, '--out', out, '--end', '2024-09-10T00:00:00Z']);
    expect(run.code, run.stderr).toBe(2);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const m = byId(report);
    const expected = `${path.join(data, 'BTCUSD_4Hour.csv')} (the folder has BTCUSD_1Day.csv, BTCUSD_1Hour.csv, BTCUSD_2Hour.csv)`;
    expect(m.BTCUSD_4Hour.decision).toBeNull();
    expect(m.BTCUSD_4Hour.notEvaluated).toEqual({ reason: `no bars for BTCUSD 4Hour: expected ${expected}`, kind: 'input' });
    expect(run.stderr).toContain(`policy-gate: error: BTCUSD_4Hour: no bars for BTCUSD 4Hour: expected ${expected}`);
    // The other models are evaluated and decided as always.
    expect(m.BTCUSD_1Hour.decision.tier).toBe('DROP');
    expect(m.BTCUSD_2Hour.walkForward.folds).toHaveLength(5);
    expect(report.conclusionReasons).toContain(`BTCUSD_4Hour: not evaluated (requested PAPER): no bars for BTCUSD 4Hour: expected ${expected}`);
    expect(report.data.requestedEnd).toBe('2024-09-10T00:00:00.000Z');
  });

  it('(g) --end before the data: exit 2 naming --end and the first bar; no model is DROP', async () => {
    const run = await validate(EXAMPLE_ZIP, ['--end', '2023-06-01']);
    expect(run.code, run.stderr).toBe(2);
    for (const id of EVALUATED) {
      const m = byId(run.report)[id];
      expect(m.decision, id).toBeNull();
      expect(m.notEvaluated.kind, id).toBe('input');
      expect(m.notEvaluated.reason, id).toMatch(
        new RegExp(`^${id}: the window end --end 2023-06-01T00:00:00\\.000Z is before the first bar of BTCUSD ${id.split('_')[1]} \\(202[34]-\\d\\d-\\d\\dT[\\d:.]+Z\\); the bars cover `),
      );
    }
    expect(run.stderr).toMatch(/^policy-gate: error: BTCUSD_1Hour: the window end --end 2023-06-01T00:00:00\.000Z is before the first bar/m);
    expect(run.report.data.requestedEnd).toBe('2023-06-01T00:00:00.000Z');
  });

  it('(h) --end in the future is exit 2 naming --end; --end after the last bar (not in the future) notes the bar used', async () => {
    const future = await validate(EXAMPLE_ZIP, ['--end', '2025-06-01']); // the tests' clock says 2025-01-02
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('policy-gate: error: --end 2025-06-01T00:00:00.000Z is in the future (now 2025-01-02T03:04:05.000Z)');
    expect(future.report.errors[0]).toContain('--end 2025-06-01T00:00:00.000Z is in the future');
    const late = await validate(EXAMPLE_ZIP, ['--end', '2024-12-01']);
    expect(late.code).toBe(1);
    expect(late.report.data.requestedEnd).toBe('2024-12-01T00:00:00.000Z');
    const m = byId(late.report).BTCUSD_1Hour;
    expect(m.notes).toContain('--end 2024-12-01T00:00:00.000Z is after the last bar of BTCUSD 1Hour: the windows end at that bar, 2024-09-11T17:00:00.000Z');
    expect(m.backtest.end).toBe('2024-09-11T17:00:00.000Z');
  });

  it('(e) a manifest that lists a file the archive lacks is exit 2 naming it', async () => {
    const dir = exampleFolder((files) => {
      delete files[`${MODELS_DIR}/BTCUSD_1Day.card.json`];
    });
    const run = await validate(dir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('models/rl_symbols/BTCUSD_1Day.card.json');
    expect(run.stderr).toContain('not in the archive');
  });
});

describe('inference paths agree', () => {
  /** The example's BTCUSD_1Hour card without the `position` feature (and without its golden vectors). */
  function statelessCard(): any {
    const card = JSON.parse(dec(exampleFiles()[`${MODELS_DIR}/BTCUSD_1Hour.card.json`]!));
    const i = card.observation.features.findIndex((f: any) => f.name === 'position');
    card.observation.features.splice(i, 1);
    card.observation.normalize.mean.splice(i, 1);
    card.observation.normalize.std.splice(i, 1);
    delete card.golden;
    return card;
  }

  async function backtestModel(bytes: Uint8Array, card: unknown): Promise<{ r: CliResult; report: any; curves: Record<string, string> }> {
    const dir = tempDir('variant-');
    writeTree(dir, { 'BTCUSD_1Hour.onnx': bytes, 'BTCUSD_1Hour.card.json': JSON.stringify(card, null, 2) });
    const eq = path.join(dir, 'curves');
    const r = await runCli([
      'backtest',
      '--model',
      path.join(dir, 'BTCUSD_1Hour.onnx'),
      '--data',
      EXAMPLE_DATA,
      '--days',
      '60',
      '--walk-forward',
      '3',
      '--end',
      '2024-08-01T00:00:00Z',
      '--equity-out',
      eq,
      '--json',
    ]);
    // The walk-forward decides these random models (exit 0 or 1); only bad input (2) or worse fails here.
    return { r, report: r.code <= 1 ? JSON.parse(r.stdout) : null, curves: readFolder(eq) };
  }

  it('batched inference (symbolic batch) and per-step inference (batch fixed to 1) give identical equity CSVs', async () => {
    const card = statelessCard();
    expect(card.observation.features).toHaveLength(8);
    const common: MlpOptions = { inputName: 'obs', inputDim: 8, hidden: [16], outputs: 3, outputName: 'logits', seed: 5 };
    const batched = buildMlp(common);
    const single = buildMlp({ ...common, batchDim: 1 });
    expect(batched.inputShape).toEqual(['batch', 8]);
    expect(single.inputShape).toEqual([1, 8]);
    const [a, b] = await Promise.all([backtestModel(batched.bytes, card), backtestModel(single.bytes, card)]);
    expect([0, 1], a.r.stderr).toContain(a.r.code);
    expect(b.r.code, b.r.stderr).toBe(a.r.code);
    expect(a.report.models[0].model.inputs[0].shape).toEqual(['batch', 8]);
    expect(b.report.models[0].model.inputs[0].shape).toEqual([1, 8]);
    expect(Object.keys(a.curves)).toHaveLength(4);
    expect(b.curves).toEqual(a.curves);
    const m = a.report.models[0];
    // The policy trades, in every fold, so agreement is not two flat lines.
    expect(m.backtest.metrics.trades).toBeGreaterThan(2);
    for (const f of m.walkForward.folds) expect(f.metrics.trades, `fold ${f.index}`).toBeGreaterThan(0);
  });

  it('a recurrent policy with a state pair runs end to end; batched lockstep equals one call per window', async () => {
    const card = {
      schema: 'policy-card/1',
      symbol: 'BTCUSD',
      timeframe: '1Hour',
      asset_class: 'crypto',
      input: 'obs',
      observation: {
        window: 1,
        features: [
          { name: 'log_return', lag: 1 },
          { name: 'log_return', lag: 24 },
          { name: 'rsi', period: 14 },
          { name: 'sma_ratio', period: 50 },
        ],
        normalize: { mean: [0, 0, 0.5, 0], std: [0.01, 0.05, 0.15, 0.03] },
        clip: 10,
      },
      action: { type: 'discrete', output: 'logits', meanings: ['HOLD', 'BUY', 'SELL'] },
      execution: { long_only: true, max_exposure: 1.0 },
      state: [{ input: 'h_in', output: 'h_out' }],
    };
    const base = buildRecurrent({ features: 4, hidden: 6, actions: 3, seed: 3 });
    const w = base.weights;
    // A strong recurrence, so the fed-back state visibly matters.
    const Wh = w.Wh.map((row, i) => row.map((v, j) => (i === j ? 0.9 : v)));
    const rnn = buildRecurrent({ features: 4, hidden: 6, actions: 3, weights: { ...w, Wh } });
    const rnn1 = buildRecurrent({ features: 4, hidden: 6, actions: 3, weights: { ...w, Wh }, batchDim: 1 });
    const memoryless = buildRecurrent({ features: 4, hidden: 6, actions: 3, weights: { ...w, Wh: Wh.map((row) => row.map(() => 0)) } });
    const [a, b, c] = await Promise.all([backtestModel(rnn.bytes, card), backtestModel(rnn1.bytes, card), backtestModel(memoryless.bytes, card)]);
    for (const x of [a, b, c]) expect([0, 1], x.r.stderr).toContain(x.r.code);
    const m = a.report.models[0];
    expect(m.walkForward.folds).toHaveLength(3);
    expect(m.backtest.bars).toBe(60 * 24);
    expect(m.backtest.metrics.trades).toBeGreaterThan(0);
    expect(m.model.inputs.map((i: any) => i.name)).toEqual(['obs', 'h_in']);
    expect(b.curves).toEqual(a.curves);
    // Feeding the state back is not a no-op: the same weights without the recurrence trade differently.
    expect(c.curves['BTCUSD_1Hour.backtest.csv']).not.toBe(a.curves['BTCUSD_1Hour.backtest.csv']);
  });
});

describe('a config file changes outcomes', () => {
  let baselineSha: string;
  beforeAll(async () => {
    const r = await runCli(['gate', EXAMPLE_ZIP, '--json']);
    baselineSha = JSON.parse(r.stdout).config.sha256;
  });

  it('decision thresholds: min_positive_share 1.0 turns BTCUSD_4Hour and BTCUSD_2Hour from PAPER to RETRAIN', async () => {
    const cwd = tempDir('cfg-');
    writeFileSync(path.join(cwd, 'strict.yml'), 'decision:\n  live:\n    min_positive_share: 1.0\n  paper:\n    min_positive_share: 1.0\n');
    const run = await validate(EXAMPLE_ZIP, ['--config', 'strict.yml'], cwd);
    expect(run.code).toBe(1);
    const m = byId(run.report);
    expect(m.BTCUSD_4Hour.decision.tier).toBe('RETRAIN');
    expect(m.BTCUSD_4Hour.decision.rule).toMatch(/^rule 5/);
    expect(m.BTCUSD_4Hour.walkForward.summary.positiveFolds).toBe(4);
    expect(m.BTCUSD_2Hour.decision.tier).toBe('RETRAIN');
    expect(run.report.config.file).toBe('strict.yml');
    expect(run.report.config.decision.paper.minPositiveShare).toBe(1);
    expect(run.report.config.sha256).toMatch(HEX64);
    expect(run.report.config.sha256).not.toBe(baselineSha);
  });

  it('a paper threshold above the live one is refused (exit 2) naming both keys', async () => {
    const cwd = tempDir('cfg-');
    writeFileSync(path.join(cwd, 'bad.yml'), 'decision:\n  paper:\n    min_positive_share: 1.0\n');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--config', 'bad.yml'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.yml');
    expect(r.stderr).toContain('decision.live.min_positive_share');
    expect(r.stderr).toContain('decision.paper.min_positive_share');
  });

  it('gating preset v4.1.0 makes BTCUSD_4Hour APPROVED, read from .github/policy-gate.yml by default', async () => {
    const cwd = tempDir('cfg-');
    mkdirSync(path.join(cwd, '.github'));
    writeFileSync(path.join(cwd, '.github', 'policy-gate.yml'), 'gating:\n  preset: v4.1.0\n');
    const r = await runCli(['gate', EXAMPLE_ZIP, '--json'], cwd);
    const report = JSON.parse(r.stdout);
    expect(report.config.file).toBe('.github/policy-gate.yml');
    expect(report.config.gating.preset).toBe('v4.1.0');
    expect(report.config.sha256).not.toBe(baselineSha);
    const m = byId(report);
    expect(m.BTCUSD_4Hour.gating.classification).toBe('APPROVED');
    expect(m.BTCUSD_4Hour.gating.flags).toEqual([]);
    // And without the file the same archive gates REVIEW.
    const plain = byId(JSON.parse((await runCli(['gate', EXAMPLE_ZIP, '--json'])).stdout));
    expect(plain.BTCUSD_4Hour.gating.classification).toBe('REVIEW');
  });
});
