import { describe, expect, it } from 'vitest';
import {
  ACTION_MEANINGS,
  checkOutputWidth,
  continuousTarget,
  decideTarget,
  decodeDiscrete,
  discreteWidth,
  nextTarget,
  orderNeeded,
  parseActionMeaning,
  type ActionMeaning,
} from '../src/core/actions.js';
import { parseCard, type PolicyCard } from '../src/core/card.js';
import { PolicyGateError } from '../src/core/errors.js';

function card(action: Record<string, unknown>, execution: Record<string, unknown> = {}, symbol = 'AAPL'): PolicyCard {
  return parseCard({ symbol, timeframe: '1Hour', observation: { features: ['return'] }, action, execution }, `${symbol}_1Hour.card.json`, {});
}

const THREE = card({ meanings: ['HOLD', 'BUY', 'SELL'] });

describe('decodeDiscrete', () => {
  it('argmax of logits with the softmax probability as confidence', () => {
    // SPEC example output [0.3, 1.2, −0.4] → BUY; p = e^1.2 / (e^0.3 + e^1.2 + e^−0.4)
    const d = decodeDiscrete([0.3, 1.2, -0.4], 0, THREE);
    expect(d.index).toBe(1);
    expect(d.meaning).toBe('BUY');
    const p = Math.exp(1.2) / (Math.exp(0.3) + Math.exp(1.2) + Math.exp(-0.4));
    expect(d.confidence).toBeCloseTo(p, 15);
    // e^1.2 = 3.32012, e^0.3 = 1.34986, e^−0.4 = 0.67032 → 3.32012 / 5.34030 = 0.62171
    expect(d.confidence).toBeCloseTo(0.62171, 5);
    expect(d.belowMinConfidence).toBe(false);
  });

  it('ties go to the lowest index', () => {
    expect(decodeDiscrete([0.5, 2, 2], 0, THREE)).toMatchObject({ index: 1, meaning: 'BUY' });
    const d = decodeDiscrete([1, 1, 1], 0, THREE);
    expect(d).toMatchObject({ index: 0, meaning: 'HOLD' });
    expect(d.confidence).toBeCloseTo(1 / 3, 15);
  });

  it('is numerically stable for huge logits', () => {
    const d = decodeDiscrete(new Float32Array([1000, 999, -1000]), 0, THREE);
    expect(d.index).toBe(0);
    expect(d.confidence).toBeCloseTo(1 / (1 + Math.exp(-1)), 15); // 0.7311
    expect(decodeDiscrete([-1e30, 1e30, 0], 0, THREE).confidence).toBe(1);
  });

  it('decodes the decision at an offset of a batch output', () => {
    const batch = new Float32Array([0, 0, 5, 3, 1, 2]); // [2, 3]
    expect(decodeDiscrete(batch, 0, THREE).meaning).toBe('SELL');
    expect(decodeDiscrete(batch, 3, THREE).meaning).toBe('HOLD');
    expect(() => decodeDiscrete(batch, 6, THREE)).toThrow(RangeError);
    expect(() => decodeDiscrete(batch, 1, THREE)).toThrow(RangeError);
  });

  it('min_confidence turns a weak argmax into HOLD (logits)', () => {
    const c = card({ meanings: ['HOLD', 'BUY', 'SELL'], min_confidence: 0.5 });
    // [0, ln 2, 0]: p(BUY) = 2/4 = 0.5 — not below 0.5, so BUY
    expect(decodeDiscrete([0, Math.log(2), 0], 0, c)).toMatchObject({ index: 1, meaning: 'BUY', belowMinConfidence: false });
    // [0, ln 1.5, 0]: p(BUY) = 1.5/3.5 = 0.4286 < 0.5 → HOLD, index still reports the argmax
    const weak = decodeDiscrete([0, Math.log(1.5), 0], 0, c);
    expect(weak).toMatchObject({ index: 1, meaning: 'HOLD', belowMinConfidence: true });
    expect(weak.confidence).toBeCloseTo(1.5 / 3.5, 15);
  });

  it('probs: the output value itself is the confidence', () => {
    const c = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'probs', min_confidence: 0.4 });
    expect(decodeDiscrete([0.2, 0.35, 0.45], 0, c)).toMatchObject({ index: 2, meaning: 'SELL', confidence: 0.45 });
    // 0.38 < 0.4 → HOLD; read as logits the same numbers give softmax e^0.38 / (e^0.3 + e^0.38 + e^0.32) = 0.349
    expect(decodeDiscrete([0.3, 0.38, 0.32], 0, c)).toMatchObject({ index: 1, meaning: 'HOLD', confidence: 0.38, belowMinConfidence: true });
    const asLogits = decodeDiscrete([0.3, 0.38, 0.32], 0, card({ meanings: ['HOLD', 'BUY', 'SELL'] }));
    expect(asLogits.confidence).toBeCloseTo(Math.exp(0.38) / (Math.exp(0.3) + Math.exp(0.38) + Math.exp(0.32)), 15);
  });

  it('an output width that is not meanings.length is an error naming the model and the card', () => {
    const eight = card({ meanings: ['HOLD', 'BUY_25', 'BUY_50', 'BUY_75', 'SELL_25', 'SELL_50', 'SELL_75', 'CLOSE'] });
    let err: unknown;
    try {
      decodeDiscrete([0.1, 0.2, 0.3], 0, eight);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as PolicyGateError).exitCode).toBe(2);
    expect((err as Error).message).toBe(
      'model AAPL_1Hour: the output has 3 values per decision but AAPL_1Hour.card.json action.meanings lists 8 ' +
        "(HOLD, BUY_25, BUY_50, BUY_75, SELL_25, SELL_50, SELL_75, CLOSE); give one meaning per output value, in the model's order",
    );
    expect(() => checkOutputWidth(7, eight, 'models/AAPL_1Hour.onnx')).toThrow(/^model models\/AAPL_1Hour.onnx: the output has 7 values/);
    expect(() => checkOutputWidth(8, eight)).not.toThrow();
  });

  it('a non-finite output is an error naming the model', () => {
    expect(() => decodeDiscrete([0, NaN, 1], 0, THREE)).toThrow('model AAPL_1Hour: output value 1 is NaN');
  });

  it('refuses a continuous card', () => {
    expect(() => decodeDiscrete([1], 0, card({ type: 'continuous' }))).toThrow(/action.type is continuous/);
  });
});

describe('nextTarget: every meaning', () => {
  const longShort = { maxExposure: 1, longOnly: false };
  const longOnly = { maxExposure: 1, longOnly: true };
  const half = { maxExposure: 0.5, longOnly: false };

  // [meaning, from, limits, expected]
  const table: [ActionMeaning, number, typeof longShort, number][] = [
    ['HOLD', 0, longShort, 0],
    ['HOLD', -0.75, longShort, -0.75],
    ['BUY', 0, longShort, 1],
    ['BUY', -1, longShort, 1],
    ['BUY', 0, half, 0.5],
    ['SELL', 1, longShort, -1],
    ['SELL', 1, longOnly, 0],
    ['SELL', 0.25, half, -0.5],
    ['CLOSE', -1, longShort, 0],
    ['CLOSE', 0.5, half, 0],
    ['BUY_25', 0, longShort, 0.25],
    ['BUY_25', 0.75, longShort, 1],
    ['BUY_25', 1, longShort, 1], // capped
    ['BUY_50', 0.75, longShort, 1], // 1.25 capped at 1
    ['BUY_75', -1, longShort, -0.25],
    ['BUY_100', 0, longShort, 1],
    ['BUY_100', -1, longShort, 0],
    ['BUY_25', 0, half, 0.125], // 25 % of max_exposure 0.5
    ['BUY_50', 0.375, half, 0.5], // 0.375 + 0.25 = 0.625 capped at 0.5
    ['SELL_25', 1, longShort, 0.75],
    ['SELL_50', 0.25, longShort, -0.25],
    ['SELL_50', 0.25, longOnly, 0], // floored at 0 when long-only
    ['SELL_75', -0.5, longShort, -1], // −1.25 floored at −max_exposure
    ['SELL_100', 1, longShort, 0],
    ['SELL_100', 0, longShort, -1],
    ['SELL_100', 0, longOnly, 0],
    ['SELL_25', 0, half, -0.125],
  ];

  it.each(table)('%s from %d → %d', (meaning, from, limits, expected) => {
    expect(nextTarget(from, meaning, limits)).toBe(expected);
  });

  it('covers every meaning', () => {
    expect(new Set(table.map((r) => r[0]))).toEqual(new Set(ACTION_MEANINGS));
  });

  it('four BUY_25 reach exactly max_exposure and four SELL_25 exactly 0, for any max_exposure', () => {
    for (const max of [1, 0.3, 0.7, 0.1]) {
      const limits = { maxExposure: max, longOnly: true };
      let t = 0;
      for (let k = 0; k < 4; k++) t = nextTarget(t, 'BUY_25', limits);
      expect(t).toBe(max);
      for (let k = 0; k < 4; k++) t = nextTarget(t, 'SELL_25', limits);
      expect(t).toBe(0);
      expect(Object.is(t, -0)).toBe(false);
    }
  });

  it('repeated BUY while long does not change the target (no churn)', () => {
    const c = card({ meanings: ['HOLD', 'BUY', 'SELL'] });
    const t1 = nextTarget(0, 'BUY', c.execution);
    const t2 = nextTarget(t1, 'BUY', c.execution);
    expect(orderNeeded(c, 0, t1, 0)).toBe(true);
    expect(orderNeeded(c, t1, t2, 0.97)).toBe(false);
  });
});

describe('continuous policies', () => {
  it('target = clip(value, −1, 1) × max_exposure', () => {
    const c = card({ type: 'continuous' }, { max_exposure: 0.5 });
    expect(continuousTarget(0.4, c)).toBe(0.2);
    expect(continuousTarget(3, c)).toBe(0.5);
    expect(continuousTarget(-3, c)).toBe(-0.5);
    expect(continuousTarget(-0.4, c)).toBe(-0.2);
  });

  it('long-only floors at 0 (a crypto card defaults to long-only)', () => {
    const c = card({ type: 'continuous' }, {}, 'BTCUSD');
    expect(c.execution.longOnly).toBe(true);
    expect(continuousTarget(-0.7, c)).toBe(0);
    expect(Object.is(continuousTarget(-0, c), 0)).toBe(true);
    expect(continuousTarget(0.7, c)).toBe(0.7);
  });

  it('rebalances only when the target is more than rebalance_band from the exposure', () => {
    const c = card({ type: 'continuous' }, { rebalance_band: 0.05 });
    expect(orderNeeded(c, 0.5, 0.5, 0.46)).toBe(false); // 0.04 ≤ 0.05
    expect(orderNeeded(c, 0.5, 0.5, 0.44)).toBe(true); // 0.06 > 0.05: drift alone triggers a rebalance
    expect(orderNeeded(c, 0.5, 0.53, 0.5)).toBe(false);
  });

  it('a NaN output is an error naming the model', () => {
    expect(() => continuousTarget(NaN, card({ type: 'continuous' }))).toThrow('model AAPL_1Hour: the continuous output is NaN');
  });
});

describe('decideTarget', () => {
  it('discrete: decode then move the target', () => {
    const c = card({ meanings: ['HOLD', 'BUY_50', 'SELL_50', 'CLOSE'] }, {}, 'ETHUSD');
    const step1 = decideTarget([0, 3, 1, 0], 0, c, 0);
    expect(step1.target).toBe(0.5);
    expect(step1.action?.meaning).toBe('BUY_50');
    expect(decideTarget([0, 1, 3, 0], 0, c, 0.5).target).toBe(0);
    expect(decideTarget([0, 1, 3, 0], 0, c, 0).target).toBe(0); // long-only crypto
    expect(decideTarget([0, 1, 1, 3], 0, c, 0.5).target).toBe(0);
  });

  it('continuous: the first value of the decision', () => {
    const c = card({ type: 'continuous' });
    expect(decideTarget([0.3, 9], 0, c, 0)).toEqual({ target: 0.3, action: null });
  });
});

describe('parseActionMeaning', () => {
  it.each([
    ['HOLD', 'HOLD'],
    ['buy', 'BUY'],
    [' Sell ', 'SELL'],
    ['BUY_25%', 'BUY_25'],
    ['sell_100%', 'SELL_100'],
    ['CLOSE', 'CLOSE'],
  ])('%s → %s', (text, meaning) => {
    expect(parseActionMeaning(text)).toBe(meaning);
  });

  it.each(['BUY_30', 'LONG', 'SHORT', 'HOLD%', 'BUY 25', '', 'FLAT'])('%s is not understood', (text) => {
    expect(parseActionMeaning(text)).toBeNull();
  });
});

describe('output kinds: log-probabilities and action indices', () => {
  const LOGP = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'log_probs', min_confidence: 0.5 });
  const INDEX = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'action_index' });
  const INDEX_LP = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'action_index', log_prob_output: 'lp', min_confidence: 0.5 });

  it('log_probs: argmax, confidence = exp of the top log-probability', () => {
    const d = decodeDiscrete([Math.log(0.2), Math.log(0.7), Math.log(0.1)], 0, LOGP);
    expect(d.index).toBe(1);
    expect(d.confidence).toBeCloseTo(0.7, 12);
    expect(d.meaning).toBe('BUY');
    const low = decodeDiscrete([Math.log(0.3), Math.log(0.45), Math.log(0.25)], 0, LOGP);
    expect(low).toMatchObject({ index: 1, meaning: 'HOLD', belowMinConfidence: true });
  });

  it('action_index: one value per decision is the index; no confidence unless a log-probability is given', () => {
    expect(decodeDiscrete([2, 0, 1], 0, INDEX)).toEqual({ index: 2, meaning: 'SELL', confidence: null, belowMinConfidence: false });
    expect(decodeDiscrete([2, 0, 1], 1, INDEX).meaning).toBe('HOLD');
    expect(decodeDiscrete([1], 0, INDEX_LP, undefined, Math.log(0.9))).toMatchObject({ meaning: 'BUY', belowMinConfidence: false });
    expect(decodeDiscrete([1], 0, INDEX_LP, undefined, Math.log(0.4))).toMatchObject({ index: 1, meaning: 'HOLD', belowMinConfidence: true });
    expect(decideTarget([2], 0, INDEX, 0.5).target).toBe(-1); // SELL on an equity card, which may short
  });

  it('an index outside the meanings, or not an integer, is an error naming the card', () => {
    expect(() => decodeDiscrete([3], 0, INDEX)).toThrow(/the action index output is 3, but AAPL_1Hour\.card\.json action\.meanings lists 3 actions \(indices 0 to 2\)/);
    expect(() => decodeDiscrete([0.5], 0, INDEX)).toThrow(/the action index output is 0.5/);
  });

  it('the width check explains a one-value output on a logits card', () => {
    expect(() => checkOutputWidth(1, THREE, 'm.onnx')).toThrow(/one value per decision is an action index \(stable-baselines3's export\): set action\.output_kind to "action_index"/);
    expect(() => checkOutputWidth(3, INDEX, 'm.onnx')).toThrow(/it looks like scores per action: set action\.output_kind to "logits", "probs" or "log_probs"/);
  });
});

describe('the remaining rules of the decoder', () => {
  const CONT = card({ type: 'continuous' });
  const INDEX = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'action_index' });

  it('checkOutputWidth: a continuous output needs a value; an action index exactly one', () => {
    expect(() => checkOutputWidth(0, CONT, 'm.onnx')).toThrow("model m.onnx: the continuous policy's output is empty");
    expect(() => checkOutputWidth(1, CONT)).not.toThrow();
    expect(() => checkOutputWidth(1, INDEX)).not.toThrow();
    // neither one value nor one per meaning: the message points at action.output
    expect(() => checkOutputWidth(5, INDEX, 'm.onnx')).toThrow(
      'model m.onnx: the output has 5 values per decision, but AAPL_1Hour.card.json reads it as an action index (output_kind "action_index": one value per decision); name the output that holds the action index in action.output',
    );
  });

  it('a negative offset is no decision, for scores and for an action index', () => {
    expect(() => decodeDiscrete([0, 1, 2, 3, 4, 5], -3, THREE)).toThrow(RangeError);
    expect(() => decodeDiscrete([0, 1, 2, 3, 4, 5], -3, THREE)).toThrow('model AAPL_1Hour: no decision at offset -3 in an output of 6 values (3 per decision)');
    expect(() => decodeDiscrete([1, 2], -1, INDEX)).toThrow('model AAPL_1Hour: no decision at offset -1 in an output of 2 values (1 per decision)');
    expect(() => decodeDiscrete([1, 2], 2, INDEX)).toThrow(RangeError);
  });

  it('a log-probability read beside scores is the confidence instead of the softmax', () => {
    const c = card({ meanings: ['HOLD', 'BUY', 'SELL'], min_confidence: 0.5 });
    // the logits alone would give p(BUY) = e^2 / (1 + e^2 + 1) = 0.787; the log-probability says 0.4
    const d = decodeDiscrete([0, 2, 0], 0, c, undefined, Math.log(0.4));
    expect(d.confidence).toBeCloseTo(0.4, 15);
    expect(d).toMatchObject({ index: 1, meaning: 'HOLD', belowMinConfidence: true });
  });

  it('log_probs below min_confidence: HOLD; at it: the action', () => {
    const c = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'log_probs', min_confidence: 0.5 });
    expect(decodeDiscrete([Math.log(0.25), Math.log(0.5), Math.log(0.25)], 0, c)).toMatchObject({ index: 1, meaning: 'BUY', belowMinConfidence: false });
  });

  it('an action index with min_confidence needs a finite log-probability', () => {
    const lp = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'action_index', log_prob_output: 'lp', min_confidence: 0.5 });
    expect(() => decodeDiscrete([1], 0, lp)).toThrow(/sets action\.min_confidence but the action output is an index with no confidence; name the log-probability output in action\.log_prob_output/);
    expect(() => decodeDiscrete([1], 0, lp, undefined, NaN)).toThrow('model AAPL_1Hour: the log-probability output is NaN; the model produced a non-finite output');
    // without min_confidence a log-probability is still reported as the confidence
    const d = decodeDiscrete([2], 0, INDEX, undefined, Math.log(0.25));
    expect(d.confidence).toBeCloseTo(0.25, 15);
    expect(d).toMatchObject({ index: 2, meaning: 'SELL', belowMinConfidence: false });
    expect(() => decodeDiscrete([-1], 0, INDEX)).toThrow(/the action index output is -1/);
  });

  it('HOLD keeps the target within the limits; a non-finite current target is an error', () => {
    expect(nextTarget(1.5, 'HOLD', { maxExposure: 1, longOnly: false })).toBe(1);
    expect(nextTarget(-0.5, 'HOLD', { maxExposure: 1, longOnly: true })).toBe(0);
    expect(nextTarget(-0.8, 'HOLD', { maxExposure: 0.5, longOnly: false })).toBe(-0.5);
    expect(() => nextTarget(NaN, 'HOLD', { maxExposure: 1, longOnly: false })).toThrow('current target exposure must be finite, got NaN');
  });

  it('a sized step is snapped to the 1 % grid only within 1e-9 of it', () => {
    // 0.123 of max_exposure + 25 % = 0.373: 3e-3 off the grid, kept as is
    expect(nextTarget(0.123, 'BUY_25', { maxExposure: 1, longOnly: false })).toBe(0.123 + 0.25);
    // 1e-12 below 0.25, SELL_25 lands 1e-12 below 0: snapped to the grid, and to +0, not −0
    const t = nextTarget(0.25 - 1e-12, 'SELL_25', { maxExposure: 1, longOnly: false });
    expect(Object.is(t, 0)).toBe(true);
  });

  it('discreteWidth: one value per meaning, one for an action index or a continuous policy', () => {
    expect(discreteWidth(THREE)).toBe(3);
    expect(discreteWidth(INDEX)).toBe(1);
    expect(discreteWidth(CONT)).toBe(1);
    expect(discreteWidth(card({ meanings: ['HOLD', 'BUY_25', 'SELL_25', 'CLOSE'], output_kind: 'probs' }))).toBe(4);
  });

  it('an output whose length is not a multiple of the width is a width error even where a decision fits', () => {
    // 7 values, 3 meanings: the decision at offset 3 would fit, but the output is not [B, 3]
    expect(() => decodeDiscrete([0, 1, 2, 3, 4, 5, 6], 3, THREE)).toThrow(/the output has 7 values per decision but AAPL_1Hour\.card\.json action\.meanings lists 3/);
  });

  it('a non-finite value names its position within the decision, not within the batch', () => {
    expect(() => decodeDiscrete([0, 0, 0, 0, Infinity, 0], 3, THREE)).toThrow(
      'model AAPL_1Hour: output value 1 is Infinity; the model produced a non-finite output (check the observation and the export)',
    );
  });

  it('log_probs: the confidence is the exp of the top value itself, not renormalised', () => {
    const c = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'log_probs' });
    // exp: 0.2, 0.4, 0.1 (they sum to 0.7; a softmax would say 0.4 / 0.7)
    expect(decodeDiscrete([Math.log(0.2), Math.log(0.4), Math.log(0.1)], 0, c).confidence).toBeCloseTo(0.4, 15);
  });

  it('an action index at exactly min_confidence is acted on', () => {
    const lp = card({ meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'action_index', log_prob_output: 'lp', min_confidence: 0.5 });
    expect(Math.exp(Math.log(0.5))).toBe(0.5);
    expect(decodeDiscrete([2], 0, lp, undefined, Math.log(0.5))).toMatchObject({ meaning: 'SELL', confidence: 0.5, belowMinConfidence: false });
  });

  it('orderNeeded: a discrete policy looks at the target only, a continuous one at the exposure', () => {
    const discrete = card({ meanings: ['HOLD', 'BUY', 'SELL'] });
    expect(orderNeeded(discrete, 0, 0.5, 0.5)).toBe(true); // changed target, although the exposure is already there
    expect(orderNeeded(discrete, 0.5, 0.5, 0.1)).toBe(false); // same target, however far the exposure drifted
    expect(orderNeeded(CONT, 0.5, 0.5, 0.1)).toBe(true);
  });

  it('continuous: exactly at the rebalance band is no order; long-only never returns −0', () => {
    const c = card({ type: 'continuous' }, { rebalance_band: 0.25 });
    expect(orderNeeded(c, 0, 0.5, 0.25)).toBe(false);
    expect(orderNeeded(c, 0, 0.5, 0.125)).toBe(true);
    const crypto = card({ type: 'continuous' }, {}, 'BTCUSD');
    expect(Object.is(continuousTarget(-0.5, crypto), 0)).toBe(true);
    expect(Object.is(continuousTarget(-0, card({ type: 'continuous' })), 0)).toBe(true);
  });

  it('decideTarget: a continuous output with no value at the offset is an error', () => {
    expect(() => decideTarget([0.3], 1, CONT, 0)).toThrow('model AAPL_1Hour: no output value at offset 1');
    expect(() => decideTarget([0.3], -1, CONT, 0, 'm.onnx')).toThrow('model m.onnx: no output value at offset -1');
    expect(decideTarget([0.3, -0.6], 1, CONT, 0).target).toBe(-0.6);
  });
});
