import { describe, expect, it } from 'vitest';
import { parseJsonTolerant, parseTrainingSummary, splitModelId } from '../src/core/summary.js';
import { PolicyGateError } from '../src/core/errors.js';

const METRICS = {
  fitness_score: [0.41, 0.63, 0.74, 0.71],
  profit_factor: [1.2, 1.6, 1.9, 1.85],
  consistency: [0.6, 0.78, 0.88, 0.86],
  max_drawdown: [0.12, 0.09, 0.07, 0.075],
};

function expectInputError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as PolicyGateError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('expected an error');
}

describe('training summary shapes (SPEC section 2)', () => {
  it('reads the canonical shape with run_id, symbols, metrics, checkpoints and train dates', () => {
    const text = JSON.stringify({
      run_id: '20241227_101500',
      symbols: {
        UNIUSD: {
          timeframe: '1Hour',
          model: 'models/rl_symbols/UNIUSD_1Hour.onnx',
          train_start: '2024-01-01T00:00:00Z',
          train_end: '2024-06-30T23:00:00Z',
          metrics: METRICS,
          checkpoints: [{ index: 2, model: 'models/rl_symbols/checkpoints/UNIUSD_1Hour_2.onnx' }],
        },
      },
    });
    const s = parseTrainingSummary(text, 'training_summary_x.json');
    expect(s.runId).toBe('20241227_101500');
    expect(s.entries).toHaveLength(1);
    const e = s.entries[0]!;
    expect(e).toMatchObject({
      key: 'UNIUSD',
      id: 'UNIUSD_1Hour',
      symbol: 'UNIUSD',
      timeframe: '1Hour',
      timeframeSource: 'entry',
      model: 'models/rl_symbols/UNIUSD_1Hour.onnx',
      trainStart: '2024-01-01T00:00:00.000Z',
      trainEnd: '2024-06-30T23:00:00.000Z',
      checkpoints: [{ index: 2, model: 'models/rl_symbols/checkpoints/UNIUSD_1Hour_2.onnx' }],
      problems: [],
    });
    expect(e.metrics.fitness_score).toEqual({ ok: true, values: METRICS.fitness_score });
  });

  it('reads the symbols map at the top level, with metric arrays directly in the entry', () => {
    const text = JSON.stringify({ run_id: 'r1', GOOGL: { ...METRICS }, AAPL: { metrics: METRICS } });
    const s = parseTrainingSummary(text, 's.json');
    expect(s.entries.map((e) => e.id)).toEqual(['GOOGL_1Hour', 'AAPL_1Hour']);
    expect(s.entries[0]!.metrics.max_drawdown).toEqual({ ok: true, values: METRICS.max_drawdown });
    expect(s.entries[0]!.timeframeSource).toBe('default');
  });

  it('takes the timeframe from a model-id key, several timeframes of one symbol side by side', () => {
    const text = JSON.stringify({ symbols: { GOOGL_1Hour: { metrics: METRICS }, GOOGL_4Hour: { metrics: METRICS } } });
    const s = parseTrainingSummary(text, 's.json');
    expect(s.entries.map((e) => [e.symbol, e.timeframe, e.timeframeSource])).toEqual([
      ['GOOGL', '1Hour', 'key'],
      ['GOOGL', '4Hour', 'key'],
    ]);
  });

  it('takes the timeframe from the model file suffix when the entry has none', () => {
    const text = JSON.stringify({ symbols: { BTCUSD: { model: 'm/BTCUSD_4Hour.onnx', metrics: METRICS } } });
    const e = parseTrainingSummary(text, 's.json').entries[0]!;
    expect([e.id, e.timeframeSource]).toEqual(['BTCUSD_4Hour', 'model file']);
  });

  it('reads symbols given as a list of entries', () => {
    const text = JSON.stringify({ symbols: [{ symbol: 'ETHUSD', timeframe: '15Min', metrics: METRICS }] });
    expect(parseTrainingSummary(text, 's.json').entries[0]!.id).toBe('ETHUSD_15Min');
  });

  it('accepts a scalar metric as a one-point history', () => {
    const text = JSON.stringify({ symbols: { X: { fitness_score: 0.8, profit_factor: 2, consistency: 0.9, max_drawdown: 0.05 } } });
    expect(parseTrainingSummary(text, 's.json').entries[0]!.metrics.fitness_score).toEqual({ ok: true, values: [0.8] });
  });

  it('never guesses a NaN, Infinity, null, string or missing metric: it is invalid with a reason', () => {
    const text = `{"symbols": {"A": {"metrics": {"fitness_score": [0.5, NaN], "profit_factor": [Infinity],
      "consistency": [null], "max_drawdown": ["0.05"]}}, "B": {"metrics": {"fitness_score": [-Infinity]}}}}`;
    const [a, b] = parseTrainingSummary(text, 's.json').entries;
    expect(a!.metrics.fitness_score).toEqual({ ok: false, reason: 'fitness_score[1] is NaN, not a finite number' });
    expect(a!.metrics.profit_factor).toEqual({ ok: false, reason: 'profit_factor[0] is Infinity, not a finite number' });
    expect(a!.metrics.consistency).toEqual({ ok: false, reason: 'consistency[0] is null, not a finite number' });
    expect(a!.metrics.max_drawdown).toEqual({ ok: false, reason: 'max_drawdown[0] is "0.05", not a finite number' });
    expect(b!.metrics.fitness_score).toEqual({ ok: false, reason: 'fitness_score[0] is -Infinity, not a finite number' });
    expect(b!.metrics.consistency).toEqual({ ok: false, reason: 'consistency is missing' });
  });

  it('leaves NaN inside strings alone', () => {
    expect(parseJsonTolerant('{"a": "NaN Infinity \\" NaN", "b": NaN}', 'x.json')).toEqual({
      a: 'NaN Infinity " NaN',
      b: '\u0000nonfinite:NaN',
    });
  });

  it('reports contradictions and bad fields as problems of the entry, not a crash', () => {
    const text = JSON.stringify({
      symbols: { BTCUSD_1Hour: { timeframe: '4Hour', train_end: 'yesterday', checkpoints: [{ index: -1 }], metrics: METRICS } },
    });
    const e = parseTrainingSummary(text, 's.json').entries[0]!;
    expect(e.problems).toEqual([
      'timeframe "4Hour" contradicts the key "BTCUSD_1Hour"',
      'checkpoints[0] must be {index: non-negative integer, model: path}',
      'train_end "yesterday" is not an ISO 8601 date',
    ]);
  });

  it('refuses malformed JSON, non-objects, empty summaries and duplicate models, naming the file', () => {
    expectInputError(() => parseTrainingSummary('{"symbols": {', 'training_summary_1.json'), /^training_summary_1\.json: not valid JSON/);
    expectInputError(() => parseTrainingSummary('[1,2]', 'a.json'), /^a\.json: a training summary must be a JSON object/);
    expectInputError(() => parseTrainingSummary('{"run_id": "x"}', 'a.json'), /^a\.json: no model entries found/);
    expectInputError(
      () => parseTrainingSummary(JSON.stringify({ symbols: { X: { metrics: METRICS }, X_1Hour: { metrics: METRICS } } }), 'a.json'),
      /entries "X" and "X_1Hour" both describe model X_1Hour/,
    );
  });

  it('splits model ids on the timeframe suffix only', () => {
    expect(splitModelId('UNIUSD_1Hour')).toEqual({ symbol: 'UNIUSD', timeframe: '1Hour' });
    expect(splitModelId('BRK_B_15Min')).toEqual({ symbol: 'BRK_B', timeframe: '15Min' });
    expect(splitModelId('UNIUSD_1Hour_2')).toBeNull();
    expect(splitModelId('GOOGL')).toBeNull();
  });
});
