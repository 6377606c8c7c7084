/**
 * Per backtest and fold: the actions a discrete policy took and how many decisions min_confidence
 * turned into HOLD (report.json and report.md), recounted here independently from the model's raw
 * outputs; and the warning on a crypto card that allows shorts. Real example model, real bars.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { defaultConfig } from '../src/config/schema.js';
import { parseCard } from '../src/core/card.js';
import { ObservationBuilder } from '../src/core/observation.js';
import { actionTable } from '../src/core/render/markdown.js';
import type { ModelReport, WindowReport } from '../src/core/report.js';
import { modelReport } from './helpers/evaluation.js';
import { dec, EXAMPLE_DATA, exampleFiles, MODELS_DIR } from './helpers/e2e.js';

const FILES = exampleFiles();
const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);
const ID = 'BTCUSD_4Hour'; // discrete HOLD/BUY/SELL/CLOSE, no state features
const bytes = FILES[`${MODELS_DIR}/${ID}.onnx`]!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const cardJson = (): any => JSON.parse(dec(FILES[`${MODELS_DIR}/${ID}.card.json`]!));

afterAll(async () => {
  await shutdownOrtHost();
});

async function evaluate(card: unknown, drive: 'model' | 'here'): Promise<ModelReport> {
  const model = await loadPolicyModel(bytes, { device: 'cpu', label: `${ID}.onnx` });
  const report = modelReport(ID, '4Hour');
  try {
    await evaluateModel(report, model, card, `${ID}.card.json`, getBars, {
      config: defaultConfig(),
      endMs: Date.parse('2024-09-10T00:00:00Z'),
      backtestDays: 30,
      walkForward: { days: 120, folds: 3 },
      equityOut: null,
      log: () => {},
      drive,
    });
  } finally {
    await model.release();
  }
  return report;
}

/** Where this model's top softmax probability often falls (the card's own 0.3 rarely bites on 4 actions). */
const MIN_CONFIDENCE = 0.6;

/** The window's decisions recounted from the model's raw outputs: argmax, softmax confidence < MIN_CONFIDENCE → HOLD. */
async function recount(w: WindowReport): Promise<{ chosen: number[]; heldBy: number[]; held: number }> {
  const card = parseCard({ ...cardJson(), golden: [] }, 'x.card.json');
  const { bars } = await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', '4Hour');
  const b = new ObservationBuilder(card, bars);
  const start = bars.time.indexOf(Date.parse(w.start));
  const taus = Array.from({ length: w.bars }, (_, k) => start - 1 + k); // next_open: decided at the close before
  const obs = b.buildBatch(taus, new Float32Array(taus.length * b.size));
  const model = await loadPolicyModel(bytes, { device: 'cpu', label: 'recount' });
  const out = await model.run({ obs: { data: obs, dims: [taus.length, 3, 7] } }, [model.outputs[0]!.name]);
  await model.release();
  const logits = Object.values(out)[0]!.data;
  const chosen = [0, 0, 0, 0];
  const heldBy = [0, 0, 0, 0];
  let held = 0;
  for (let k = 0; k < taus.length; k++) {
    const row = Array.from(logits.subarray(4 * k, 4 * k + 4));
    const best = row.indexOf(Math.max(...row));
    const p = 1 / row.reduce((a, v) => a + Math.exp(v - row[best]!), 0);
    chosen[best]!++;
    if (p < MIN_CONFIDENCE) {
      held++;
      heldBy[best]!++;
    }
  }
  return { chosen, heldBy, held };
}

describe('the action histogram of each backtest and fold', () => {
  it('counts what the model chose and what min_confidence held, the same on both evaluation paths', async () => {
    const card = cardJson();
    card.action.min_confidence = MIN_CONFIDENCE;
    const inHost = await evaluate(card, 'model');
    const here = await evaluate(card, 'here');
    expect(here.backtest!.actions).toEqual(inHost.backtest!.actions);
    expect(here.walkForward!.folds.map((f) => f.actions)).toEqual(inHost.walkForward!.folds.map((f) => f.actions));

    const windows = [inHost.backtest!, ...inHost.walkForward!.folds];
    let anyHeld = 0;
    for (const w of windows) {
      const a = w.actions!;
      expect(a.decisions).toBe(w.bars);
      expect(Object.keys(a.taken)).toEqual(['HOLD', 'BUY', 'SELL', 'CLOSE']);
      const sum = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
      expect(sum(a.taken)).toBe(a.decisions);
      expect(sum(a.chosen)).toBe(a.decisions);
      const ref = await recount(w);
      expect([a.chosen.HOLD, a.chosen.BUY, a.chosen.SELL, a.chosen.CLOSE]).toEqual(ref.chosen);
      expect(a.heldByMinConfidence).toBe(ref.held);
      const taken = ref.chosen.map((n, i) => n - ref.heldBy[i]!);
      taken[0]! += ref.held; // every held decision is a HOLD
      expect(a.taken).toEqual({ HOLD: taken[0], BUY: taken[1], SELL: taken[2], CLOSE: taken[3] });
      anyHeld += a.heldByMinConfidence;
    }
    expect(anyHeld).toBeGreaterThan(0); // min_confidence does bite

    const table = actionTable(inHost)!;
    const cells = table.split('\n').map((line) =>
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
    expect(cells[0]).toEqual(['Actions taken', 'decisions', 'HOLD', 'BUY', 'SELL', 'CLOSE', 'HOLD by min_confidence']);
    const b = inHost.backtest!.actions!;
    expect(cells[2]).toEqual(['backtest', b.decisions, b.taken.HOLD, b.taken.BUY, b.taken.SELL, b.taken.CLOSE, b.heldByMinConfidence].map(String));
    expect(cells.map((c) => c[0])).toEqual(['Actions taken', expect.any(String), 'backtest', 'fold 1', 'fold 2', 'fold 3']);
  });

  it('a crypto card that allows shorts is warned about: Alpaca cannot short crypto', async () => {
    const card = cardJson();
    card.execution.long_only = false;
    const report = await evaluate(card, 'model');
    expect(report.notes).toContain(
      `warning: ${ID}.card.json sets execution.long_only false on a crypto card: Alpaca cannot short crypto, so the short positions this backtest takes cannot be traded there; set long_only true to evaluate what can be deployed`,
    );
    const longOnly = await evaluate(cardJson(), 'model');
    expect(longOnly.notes.join('\n')).not.toContain('cannot short crypto');
  });
});
