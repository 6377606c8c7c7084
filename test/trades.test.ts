/**
 * The trade list: every round trip of each backtest and fold in report.json (up to MAX_REPORT_TRADES),
 * in report.html (collapsed, the first HTML_TRADES), and all of them in `--trades-out` CSVs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { windowReport } from '../src/app/evaluate.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { MAX_REPORT_TRADES } from '../src/core/report.js';
import { Simulation } from '../src/core/simulate.js';
import { cleanupTempDirs, EXAMPLE_DATA, REPO, runCli, tempDir } from './helpers/e2e.js';

afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

const MODEL = path.join(REPO, 'test', 'fixtures', 'sb3', 'sb3_logits.onnx');

describe('trades', () => {
  it('backtest --walk-forward: report.json lists each window’s trades, the CSVs hold the same rows, and the trades account for the equity', async () => {
    const out = tempDir('trades-out-');
    const trades = tempDir('trades-csv-');
    const equity = tempDir('trades-eq-');
    const res = await runCli([
      'backtest',
      '--model',
      MODEL,
      '--data',
      EXAMPLE_DATA,
      '--end',
      '2024-09-10T00:00:00Z',
      '--days',
      '90',
      '--walk-forward',
      '3',
      '--out',
      out,
      '--trades-out',
      trades,
      '--equity-out',
      equity,
    ]);
    expect(res.stderr).not.toMatch(/error/i);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const m = report.models[0];
    expect(m.errors).toEqual([]);
    expect(readdirSync(trades).sort()).toEqual(['BTCUSD_1Hour.backtest.trades.csv', 'BTCUSD_1Hour.fold1.trades.csv', 'BTCUSD_1Hour.fold2.trades.csv', 'BTCUSD_1Hour.fold3.trades.csv']);
    const windows = [['backtest', m.backtest], ...m.walkForward.folds.map((f: { index: number }) => [`fold${f.index}`, f])] as [string, any][];
    let total = 0;
    let balanced = 0;
    for (const [name, w] of windows) {
      expect(w.trades.length, name).toBe(w.metrics.trades);
      expect(w.tradesOmitted).toBe(0);
      total += w.trades.length;
      // The CSV holds the same trades, at full precision.
      const [header, ...lines] = readFileSync(path.join(trades, `BTCUSD_1Hour.${name}.trades.csv`), 'utf8')
        .trim()
        .split('\n');
      expect(header).toBe('direction,entry,exit,entry_price,exit_price,quantity,notional,pnl,fees,return,closed_at_end');
      expect(lines).toHaveLength(w.trades.length);
      lines.forEach((line, i) => {
        const c = line.split(',');
        const t = w.trades[i];
        expect([c[0], c[1], c[2]]).toEqual([t.direction, t.entry, t.exit]);
        expect(c.slice(3, 10).map(Number)).toEqual([t.entryPrice, t.exitPrice, t.quantity, t.notional, t.pnl, t.fees, t.return]);
        expect(c[10]).toBe(String(t.closedAtEnd));
      });
      // Chronological, inside the window, each one exits after it enters.
      for (let i = 0; i < w.trades.length; i++) {
        const t = w.trades[i];
        expect(Date.parse(t.exit)).toBeGreaterThan(Date.parse(t.entry));
        if (i > 0) expect(Date.parse(t.entry)).toBeGreaterThanOrEqual(Date.parse(w.trades[i - 1].exit));
        expect(t.return).toBeCloseTo(t.pnl / t.notional, 12);
        expect(['long', 'short']).toContain(t.direction);
      }
      // The trades' cash results add up to the window's equity change (an open trade at the end is
      // closed at the last close for the statistics: that closing fill is not in the equity curve).
      const eq = readFileSync(path.join(equity, `BTCUSD_1Hour.${name}.csv`), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => Number(l.split(',')[1]));
      const closed = w.trades.filter((t: { closedAtEnd: boolean }) => !t.closedAtEnd);
      const sum = closed.reduce((a: number, t: { pnl: number }) => a + t.pnl, 0);
      const change = eq.at(-1)! - eq[0]!;
      if (closed.length === w.trades.length) expect(sum).toBeCloseTo(change, 6);
      else {
        // The open trade's pnl includes that closing fill's slippage and fee (under 1 % of its value here).
        const open = w.trades.at(-1);
        const all = sum + open.pnl;
        expect(change - all).toBeGreaterThanOrEqual(0);
        expect(change - all).toBeLessThan(0.01 * open.quantity * open.exitPrice);
      }
      balanced++;
      expect(w.trades.filter((t: { closedAtEnd: boolean }) => t.closedAtEnd).length).toBeLessThanOrEqual(1);
    }
    expect(total).toBeGreaterThan(10);
    expect(balanced).toBe(4);
    // report.html: each window's trades, collapsed.
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain(`<summary>Backtest trades: ${m.backtest.trades.length} trade`);
    expect(html).toContain(`<summary>Fold 1 trades: ${m.walkForward.folds[0].trades.length} trade`);
  });

  it(`report.json lists at most ${MAX_REPORT_TRADES} trades per window and counts the rest`, async () => {
    const { bars } = await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '1Hour');
    const costs = { feeBps: 0, slippageBps: 0, minTradeValue: 0, capital: 100_000, fill: 'next_open' as const, rebalanceBand: 0 };
    const sim = new Simulation(bars, { start: 100, end: 2499 }, costs, { periodsPerYear: 8760 });
    for (let k = 0; k < sim.length; k++) sim.step(k % 2 === 0 ? 1 : 0, 'discrete'); // in, out, in, out…
    const r = sim.finish();
    expect(r.trades.length).toBeGreaterThan(MAX_REPORT_TRADES);
    const w = windowReport(r, { action: { type: 'continuous', output: null } });
    expect(w.trades).toHaveLength(MAX_REPORT_TRADES);
    expect(w.tradesOmitted).toBe(r.trades.length - MAX_REPORT_TRADES);
    expect(w.trades![0]!.entry).toBe(new Date(r.trades[0]!.entryTime).toISOString());
  });
});
