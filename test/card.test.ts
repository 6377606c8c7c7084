import { describe, expect, it } from 'vitest';
import { guessAssetClass, parseCard, parseIsoUtc, warmupBars, type PolicyCard } from '../src/core/card.js';
import { PolicyGateError } from '../src/core/errors.js';

const FILE = 'BTCUSD_1Hour.card.json';

/** The SPEC section 3 example card. */
function specExample(): Record<string, any> {
  return {
    schema: 'policy-card/1',
    symbol: 'UNIUSD',
    timeframe: '1Hour',
    asset_class: 'crypto',
    input: 'obs',
    observation: {
      window: 1,
      features: [
        { name: 'log_return', lag: 1 },
        { name: 'log_return', lag: 24 },
        { name: 'volatility', period: 24 },
        { name: 'rsi', period: 14 },
        { name: 'sma_ratio', period: 50 },
        { name: 'volume_z', period: 24 },
        { name: 'hour_sin' },
        { name: 'hour_cos' },
        { name: 'position' },
      ],
      normalize: { mean: [0, 0, 0, 0.5, 0, 0, 0, 0, 0], std: [0.01, 0.05, 0.01, 0.15, 0.05, 1, 1, 1, 1] },
      clip: 10,
    },
    action: { type: 'discrete', output: 'logits', meanings: ['HOLD', 'BUY', 'SELL'], min_confidence: 0 },
    execution: { long_only: true, max_exposure: 1.0 },
    golden: [{ obs: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.0], output: [0.3, 1.2, -0.4] }],
  };
}

/** A minimal card: only what has no default. */
function minimal(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    observation: { features: [{ name: 'log_return' }] },
    action: { type: 'discrete', meanings: ['HOLD', 'BUY', 'SELL'] },
    ...extra,
  };
}

function errorOf(json: unknown, defaults: { symbol?: string; timeframe?: string } = {}): PolicyGateError {
  try {
    parseCard(json, FILE, defaults);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyGateError);
    return err as PolicyGateError;
  }
  throw new Error('expected parseCard to throw');
}

/** Sets a value at a dotted path (with [i] indices) in a fresh copy of the example card. */
function exampleWith(path: string, value: unknown): Record<string, any> {
  const card = specExample();
  const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let node: any = card;
  for (const k of keys.slice(0, -1)) node = node[k];
  const last = keys[keys.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return card;
}

describe('parseCard: the SPEC example', () => {
  const card = parseCard(specExample(), 'UNIUSD_1Hour.card.json', { symbol: 'UNIUSD', timeframe: '1Hour' });

  it('is read into camelCase, typed fields', () => {
    expect(card.schema).toBe('policy-card/1');
    expect(card.symbol).toBe('UNIUSD');
    expect(card.timeframe).toBe('1Hour');
    expect(card.id).toBe('UNIUSD_1Hour');
    expect(card.assetClass).toBe('crypto');
    expect(card.assetClassGuessed).toBe(false);
    expect(card.input).toBe('obs');
    expect(card.observation.window).toBe(1);
    expect(card.observation.size).toBe(9);
    expect(card.observation.features[0]).toEqual({ name: 'log_return', lag: 1 });
    expect(card.observation.features[2]).toEqual({ name: 'volatility', period: 24 });
    expect(card.observation.features[8]).toEqual({ name: 'position' });
    expect(card.observation.normalize?.std[3]).toBe(0.15);
    expect(card.observation.clip).toBe(10);
    expect(card.action).toEqual({ type: 'discrete', meanings: ['HOLD', 'BUY', 'SELL'], outputKind: 'logits', outputKindGiven: false, minConfidence: 0, output: 'logits', logProbOutput: null });
    expect(card.execution).toEqual({ longOnly: true, longOnlyDefaulted: false, maxExposure: 1, rebalanceBand: 0.05 });
    expect(card.state).toEqual([]);
    expect(card.golden).toEqual([
      { index: 0, obs: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0], output: [0.3, 1.2, -0.4], at: null, atIso: null, state: { position: 0, unrealizedReturn: 0 }, action: null },
    ]);
    expect(card.warnings).toEqual([]);
  });

  it("is deeply frozen, and does not freeze the caller's JSON", () => {
    expect(Object.isFrozen(card)).toBe(true);
    expect(Object.isFrozen(card.observation.features)).toBe(true);
    expect(Object.isFrozen(card.observation.normalize!.mean)).toBe(true);
    const json = specExample();
    parseCard(json, FILE, {});
    expect(Object.isFrozen(json.observation.normalize.mean)).toBe(false);
  });

  it('warmupBars: longest span − 1 + (window − 1)', () => {
    // spans: log_return 24 → 25, volatility 24 → 25, rsi 14 → 15, sma_ratio 50 → 50, volume_z 24 → 24
    expect(warmupBars(card)).toBe(49);
    const w5json = exampleWith('observation.window', 5);
    delete w5json.golden; // its obs has W·F = 9 values, a window of 5 needs 45
    const w5 = parseCard(w5json, FILE, {});
    expect(warmupBars(w5)).toBe(53);
    const ema = exampleWith('observation.features[4]', { name: 'ema_ratio', period: 20 });
    expect(warmupBars(parseCard(ema, FILE, {}))).toBe(79); // 4·20 − 1
    const timeOnly = parseCard({ symbol: 'AAPL', observation: { window: 3, features: ['hour_sin', 'position'] }, action: { meanings: ['HOLD', 'BUY'] } }, FILE, {});
    expect(warmupBars(timeOnly)).toBe(2);
  });
});

describe('parseCard: defaults', () => {
  it('takes symbol and timeframe from the model name', () => {
    const card = parseCard(minimal(), FILE, { symbol: 'BTCUSD', timeframe: '4Hour' });
    expect(card.symbol).toBe('BTCUSD');
    expect(card.timeframe).toBe('4Hour');
    expect(card.id).toBe('BTCUSD_4Hour');
  });

  it('assumes 1Hour, with a warning, when nothing gives a timeframe', () => {
    const card = parseCard(minimal({ symbol: 'AAPL' }), FILE, {});
    expect(card.timeframe).toBe('1Hour');
    expect(card.warnings).toEqual([`${FILE}: timeframe is missing; assuming 1Hour`]);
  });

  it.each([
    ['BTCUSD', 'crypto'],
    ['UNI/USD', 'crypto'],
    ['ETHUSDT', 'crypto'],
    ['SOLUSDC', 'crypto'],
    ['btcusd', 'crypto'],
    ['AAPL', 'us_equity'],
    ['GOOGL', 'us_equity'],
    ['USD', 'us_equity'], // not longer than 4 characters
    ['AUSD', 'us_equity'], // 4 characters: a ticker, not a pair
    ['SPY', 'us_equity'],
  ] as const)('guesses the asset class of %s as %s', (symbol, expected) => {
    expect(guessAssetClass(symbol)).toBe(expected);
    const card = parseCard(minimal(), FILE, { symbol, timeframe: '1Hour' });
    expect(card.assetClass).toBe(expected);
    expect(card.assetClassGuessed).toBe(true);
    // long_only defaults to true for crypto (Alpaca cannot short crypto), false for equities
    expect(card.execution.longOnly).toBe(expected === 'crypto');
    expect(card.execution.longOnlyDefaulted).toBe(true);
  });

  it('an explicit asset_class wins over the guess and drives long_only', () => {
    const card = parseCard(minimal({ asset_class: 'us_equity' }), FILE, { symbol: 'BTCUSD' });
    expect(card.assetClass).toBe('us_equity');
    expect(card.assetClassGuessed).toBe(false);
    expect(card.execution.longOnly).toBe(false);
    const shortCrypto = parseCard(minimal({ execution: { long_only: false } }), FILE, { symbol: 'BTCUSD' });
    expect(shortCrypto.execution.longOnly).toBe(false);
    expect(shortCrypto.execution.longOnlyDefaulted).toBe(false);
  });

  it('action and execution defaults', () => {
    const card = parseCard(minimal(), FILE, { symbol: 'AAPL' });
    expect(card.input).toBeNull();
    expect(card.observation).toEqual({ window: 1, features: [{ name: 'log_return', lag: 1 }], normalize: null, clip: null, size: 1, featureGraph: null });
    expect(card.action).toEqual({ type: 'discrete', meanings: ['HOLD', 'BUY', 'SELL'], outputKind: 'logits', outputKindGiven: false, minConfidence: 0, output: null, logProbOutput: null });
    expect(card.execution).toEqual({ longOnly: false, longOnlyDefaulted: true, maxExposure: 1, rebalanceBand: 0.05 });
  });

  it('action.type defaults to discrete when meanings are given', () => {
    const card = parseCard({ observation: { features: ['range'] }, action: { meanings: ['HOLD', 'BUY'] } }, FILE, { symbol: 'AAPL' });
    expect(card.action.type).toBe('discrete');
  });

  it('continuous policies, rebalance band, max exposure, probs, min_confidence', () => {
    const cont = parseCard(minimal({ action: { type: 'continuous', output: 'mu' }, execution: { max_exposure: 0.5, rebalance_band: 0.1 } }), FILE, { symbol: 'AAPL' });
    expect(cont.action).toEqual({ type: 'continuous', output: 'mu' });
    expect(cont.execution.maxExposure).toBe(0.5);
    expect(cont.execution.rebalanceBand).toBe(0.1);
    const probs = parseCard(minimal({ action: { meanings: ['HOLD', 'BUY'], output_kind: 'probs', min_confidence: 0.4 } }), FILE, { symbol: 'AAPL' });
    expect(probs.action).toMatchObject({ outputKind: 'probs', minConfidence: 0.4 });
  });

  it('meanings: case-insensitive, BUY_25% spelled with a percent sign', () => {
    const card = parseCard(minimal({ action: { meanings: ['hold', 'BUY_25%', 'Buy_50', 'BUY_75', 'SELL_25%', 'SELL_50', 'SELL_75', 'CLOSE'] } }), FILE, { symbol: 'AAPL' });
    expect(card.action.type === 'discrete' && card.action.meanings).toEqual(['HOLD', 'BUY_25', 'BUY_50', 'BUY_75', 'SELL_25', 'SELL_50', 'SELL_75', 'CLOSE']);
  });

  it('outputs by name and kind, state batch axes and extra inputs', () => {
    const c = parseCard(
      minimal({
        action: { meanings: ['HOLD', 'BUY', 'SELL'], output: 'actions', output_kind: 'action_index', log_prob_output: 'log_prob', min_confidence: 0.6 },
        state: [{ input: 'h_in', output: 'h_out', batch_axis: 1 }],
        extra_inputs: [
          { name: 'episode_starts', value: 'episode_start' },
          { name: 'deterministic', value: 1, batch_axis: 0 },
        ],
        golden: [{ obs: [0.5], output: [2] }],
      }),
      FILE,
      { symbol: 'AAPL' },
    );
    expect(c.action).toEqual({
      type: 'discrete',
      meanings: ['HOLD', 'BUY', 'SELL'],
      outputKind: 'action_index',
      outputKindGiven: true,
      minConfidence: 0.6,
      output: 'actions',
      logProbOutput: 'log_prob',
    });
    expect(c.state).toEqual([{ input: 'h_in', output: 'h_out', batchAxis: 1 }]);
    expect(c.extraInputs).toEqual([
      { name: 'episode_starts', value: 'episode_start', batchAxis: null },
      { name: 'deterministic', value: 1, batchAxis: 0 },
    ]);
    expect(c.golden[0]!.output).toEqual([2]);
    // No output_kind: a one-value golden may be an action index (checked when the model is bound).
    expect(parseCard(minimal({ golden: [{ obs: [0.5], output: [1] }] }), FILE, { symbol: 'AAPL' }).golden[0]!.output).toEqual([1]);
    const lp = parseCard(minimal({ action: { meanings: ['HOLD', 'BUY', 'SELL'], output_kind: 'log_probs' } }), FILE, { symbol: 'AAPL' });
    expect(lp.action).toMatchObject({ outputKind: 'log_probs', outputKindGiven: true });
    const cont = parseCard(minimal({ action: { type: 'continuous', output: 'mean', output_kind: 'continuous' } }), FILE, { symbol: 'AAPL' });
    expect(cont.action).toEqual({ type: 'continuous', output: 'mean' });
  });

  it('state pairs, golden {at, obs}, and metadata keys', () => {
    const card = parseCard(
      minimal({
        description: 'lstm policy',
        x_trained_by: 'colab',
        state: [
          { input: 'h_in', output: 'h_out' },
          { input: 'c_in', output: 'c_out' },
        ],
        golden: [
          { at: '2024-06-01T13:00:00Z', obs: [0.5] },
          { at: '2024-06-01T14:00:00+01:00', obs: [0.25], output: [1, 2, 3] },
          { at: '2024-06-01 13:00:00.123456', obs: [0] },
        ],
      }),
      FILE,
      { symbol: 'AAPL' },
    );
    expect(card.state).toEqual([
      { input: 'h_in', output: 'h_out', batchAxis: null },
      { input: 'c_in', output: 'c_out', batchAxis: null },
    ]);
    expect(card.golden.map((g) => g.at)).toEqual([Date.UTC(2024, 5, 1, 13), Date.UTC(2024, 5, 1, 13), Date.UTC(2024, 5, 1, 13, 0, 0, 123)]);
    expect(card.golden[0].atIso).toBe('2024-06-01T13:00:00.000Z');
    expect(card.golden[0].output).toBeNull();
    expect(card.golden[1].output).toEqual([1, 2, 3]);
  });

  it('a symbol written with a slash matches the slash-less model name', () => {
    const card = parseCard(minimal({ symbol: 'UNI/USD' }), FILE, { symbol: 'UNIUSD', timeframe: '1Hour' });
    expect(card.symbol).toBe('UNI/USD');
    expect(card.id).toBe('UNIUSD_1Hour');
  });
});

describe('parseCard: errors name the file and the key, and say what to do', () => {
  const cases: [string, unknown, string][] = [
    ['non-integer period', exampleWith('observation.features[3].period', 'x'), `${FILE}: observation.features[3].period must be a positive integer, got "x"`],
    ['zero lag', exampleWith('observation.features[1].lag', 0), `${FILE}: observation.features[1].lag must be a positive integer, got 0`],
    ['fractional period', exampleWith('observation.features[2].period', 2.5), `${FILE}: observation.features[2].period must be a positive integer, got 2.5`],
    ['volatility period 1', exampleWith('observation.features[2].period', 1), `${FILE}: observation.features[2].period must be at least 2 for volatility`],
    ['missing period', exampleWith('observation.features[3].period', undefined), `${FILE}: observation.features[3].period is missing; rsi needs a period`],
    ['unknown feature', exampleWith('observation.features[4].name', 'ichimoku'), `${FILE}: observation.features[4].name "ichimoku" is not a known feature; use one of log_return, return,`],
    [
      'param of another feature',
      exampleWith('observation.features[0].period', 3),
      `${FILE}: observation.features[0].period is not a parameter of log_return (it takes "lag", and "symbol" to read another symbol's bars)`,
    ],
    [
      'param on a parameterless feature',
      exampleWith('observation.features[6].period', 3),
      `${FILE}: observation.features[6].period is not a parameter of hour_sin (it takes only "symbol", to read another symbol's bars)`,
    ],
    ['empty features', exampleWith('observation.features', []), `${FILE}: observation.features must be a non-empty array`],
    ['window 0', exampleWith('observation.window', 0), `${FILE}: observation.window must be an integer from 1 to 100000, got 0`],
    ['window 1.5', exampleWith('observation.window', 1.5), `${FILE}: observation.window must be an integer from 1 to 100000, got 1.5`],
    ['short mean', exampleWith('observation.normalize.mean', [0, 0]), `${FILE}: observation.normalize.mean has 2 values but observation.features gives 9; give exactly 9`],
    ['long std', exampleWith('observation.normalize.std', new Array(10).fill(1)), `${FILE}: observation.normalize.std has 10 values but observation.features gives 9`],
    ['zero std', exampleWith('observation.normalize.std[5]', 0), `${FILE}: observation.normalize.std[5] must be a positive finite number, got 0`],
    ['negative std', exampleWith('observation.normalize.std[0]', -0.01), `${FILE}: observation.normalize.std[0] must be a positive finite number, got -0.01`],
    ['string mean', exampleWith('observation.normalize.mean[2]', '0'), `${FILE}: observation.normalize.mean[2] must be a finite number, got "0"`],
    ['bad clip', exampleWith('observation.clip', -1), `${FILE}: observation.clip must be a positive number, got -1`],
    ['unknown meaning', exampleWith('action.meanings[2]', 'SHORT'), `${FILE}: action.meanings[2] "SHORT" is not an action this tool understands; use one of HOLD, BUY, SELL, CLOSE`],
    ['odd size', exampleWith('action.meanings[1]', 'BUY_30'), `${FILE}: action.meanings[1] "BUY_30" is not an action this tool understands`],
    ['empty meanings', exampleWith('action.meanings', []), `${FILE}: action.meanings must be a non-empty array`],
    ['bad action type', exampleWith('action.type', 'gaussian'), `${FILE}: action.type must be "discrete" or "continuous", got "gaussian"`],
    ['bad output kind', exampleWith('action.output_kind', 'softmax'), `${FILE}: action.output_kind must be one of "logits", "probs", "log_probs", "action_index", got "softmax"`],
    ['min_confidence > 1', exampleWith('action.min_confidence', 40), `${FILE}: action.min_confidence must be a number from 0 to 1 (a probability), got 40`],
    ['band under action', exampleWith('action.rebalance_band', 0.1), `${FILE}: action.rebalance_band belongs under execution: use execution.rebalance_band`],
    ['max_exposure > 1', exampleWith('execution.max_exposure', 2), `${FILE}: execution.max_exposure must be a number in (0, 1]`],
    ['max_exposure 0', exampleWith('execution.max_exposure', 0), `${FILE}: execution.max_exposure must be a number in (0, 1]`],
    ['long_only string', exampleWith('execution.long_only', 'yes'), `${FILE}: execution.long_only must be true or false, got "yes"`],
    ['unknown execution key', exampleWith('execution.fee_bps', 25), `${FILE}: execution.fee_bps is not a known key; allowed: long_only, max_exposure, rebalance_band`],
    ['unknown top-level key', exampleWith('exection', {}), `${FILE}: exection is not a known key; allowed: schema, symbol,`],
    ['bad schema', exampleWith('schema', 'policy-card/2'), `${FILE}: schema must be "policy-card/1"`],
    ['bad asset class', exampleWith('asset_class', 'forex'), `${FILE}: asset_class must be "crypto" or "us_equity", got "forex"`],
    ['bad timeframe', exampleWith('timeframe', '60m'), `${FILE}: timeframe must be one of 1Min, 5Min`],
    ['state not a list', exampleWith('state', { input: 'h' }), `${FILE}: state must be an array of { "input": "<name>", "output": "<name>" } pairs`],
    ['state missing output', exampleWith('state', [{ input: 'h_in' }]), `${FILE}: state[0].output must be the name of an ONNX output (a non-empty string), got nothing`],
    [
      'state duplicate input',
      exampleWith('state', [
        { input: 'h', output: 'a' },
        { input: 'h', output: 'b' },
      ]),
      `${FILE}: state[1].input "h" appears in more than one state pair`,
    ],
    ['golden obs too short', exampleWith('golden[0].obs', [1, 2]), `${FILE}: golden[0].obs has 2 values but observation.window × features gives 9; give exactly 9`],
    ['golden output width', exampleWith('golden[0].output', [1, 2]), `${FILE}: golden[0].output has 2 values but action.meanings gives 3`],
    ['golden NaN-ish', exampleWith('golden[0].obs[3]', null), `${FILE}: golden[0].obs[3] must be a finite number, got null`],
    ['golden without output or at', exampleWith('golden[0].output', undefined), `${FILE}: golden[0] needs "output" (inference parity) or "at" (observation parity)`],
    ['golden bad at', exampleWith('golden[0].at', '2024-13-01T00:00:00Z'), `${FILE}: golden[0].at must be an ISO 8601 time of the decision bar's start`],
    ['golden not a list', exampleWith('golden', {}), `${FILE}: golden must be an array`],
    ['output_kind continuous on a discrete card', exampleWith('action.output_kind', 'continuous'), `${FILE}: action.output_kind "continuous" needs action.type "continuous"`],
    [
      'log_prob_output beside logits',
      exampleWith('action', { type: 'discrete', output: 'logits', output_kind: 'logits', log_prob_output: 'lp', meanings: ['HOLD', 'BUY', 'SELL'] }),
      `${FILE}: action.log_prob_output applies to output_kind "action_index" only`,
    ],
    [
      'min_confidence on an index with no log-prob',
      {
        ...exampleWith('action.output_kind', 'action_index'),
        action: { type: 'discrete', output: 'a', output_kind: 'action_index', meanings: ['HOLD', 'BUY', 'SELL'], min_confidence: 0.5 },
        golden: [],
      },
      `${FILE}: action.min_confidence needs a confidence, and an action index carries none: name the output with the chosen action's log-probability in action.log_prob_output`,
    ],
    ['index golden with 3 values', { ...exampleWith('action.output_kind', 'action_index') }, `${FILE}: golden[0].output has 3 values but output_kind "action_index" (one index per decision) gives 1`],
    [
      'state batch_axis',
      exampleWith('state', [{ input: 'h', output: 'h2', batch_axis: -1 }]),
      `${FILE}: state[0].batch_axis must be the index of the batch axis in the tensor's shape (0 to 7), got -1`,
    ],
    [
      'extra input bad value',
      exampleWith('extra_inputs', [{ name: 'episode_starts', value: 'first' }]),
      `${FILE}: extra_inputs[0].value must be "episode_start" (1 at a window's first decision, 0 after) or a finite number (a constant), got "first"`,
    ],
    ['extra input is the observation', exampleWith('extra_inputs', [{ name: 'obs', value: 1 }]), `${FILE}: extra_inputs[0].name "obs" is the observation input ("input"); an input is fed one way`],
    ['extra input is a state', { ...exampleWith('state', [{ input: 'h', output: 'h2' }]), extra_inputs: [{ name: 'h', value: 0 }] }, `${FILE}: extra_inputs[0].name "h" is already a state input`],
    ['continuous output_kind', { ...exampleWith('action', { type: 'continuous', output_kind: 'logits' }), golden: [] }, `${FILE}: action.output_kind must be "continuous" for a continuous policy`],
    ['observation missing', exampleWith('observation', undefined), `${FILE}: observation is missing`],
    ['action missing', exampleWith('action', undefined), `${FILE}: action is missing`],
  ];

  it.each(cases)('%s', (_name, json, expected) => {
    const err = errorOf(json);
    expect(err.exitCode).toBe(2);
    expect(err.subject).toBe(FILE);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(expected), err.message).toBe(true);
  });

  it('a card that disagrees with the model name', () => {
    expect(errorOf(specExample(), { symbol: 'BTCUSD', timeframe: '1Hour' }).message).toBe(
      `${FILE}: symbol is "UNIUSD" but the model is named for "BTCUSD"; fix the card or rename the model to <SYMBOL>_<TIMEFRAME>.onnx`,
    );
    expect(errorOf(specExample(), { symbol: 'UNIUSD', timeframe: '4Hour' }).message).toBe(`${FILE}: timeframe is "1Hour" but the model is named for "4Hour"; fix the card or rename the model`);
  });

  it('reports every problem at once, one line each', () => {
    const json = exampleWith('observation.window', 0);
    json.action.meanings = ['HOLD', 'LONG'];
    json.execution.max_exposure = 3;
    const err = errorOf(json);
    expect(err.message.split('\n')).toEqual([
      `${FILE}: observation.window must be an integer from 1 to 100000, got 0`,
      `${FILE}: action.meanings[1] "LONG" is not an action this tool understands; use one of HOLD, BUY, SELL, CLOSE, BUY_25, BUY_50, BUY_75, BUY_100, SELL_25, SELL_50, SELL_75, SELL_100 (the model cannot be backtested on a guessed meaning)`,
      `${FILE}: execution.max_exposure must be a number in (0, 1] (a fraction of equity; no leverage), got 3`,
    ]);
  });

  it('a card that is not an object', () => {
    expect(errorOf([1, 2]).message).toBe(`${FILE}: the policy card must be a JSON object, got [1,2]`);
  });

  it('no symbol anywhere', () => {
    expect(errorOf(minimal()).message).toContain(`${FILE}: symbol is missing and the model name does not give one; add "symbol" to the card`);
  });

  it('continuous policies reject discrete-only keys', () => {
    const err = errorOf(minimal({ symbol: 'AAPL', action: { type: 'continuous', meanings: ['HOLD'] } }));
    expect(err.message).toBe(`${FILE}: action.meanings applies to discrete policies only; remove it or set action.type to "discrete"`);
  });
});

describe('parseIsoUtc', () => {
  it.each([
    ['2024-06-01T13:00:00Z', Date.UTC(2024, 5, 1, 13)],
    ['2024-06-01T13:00Z', Date.UTC(2024, 5, 1, 13)],
    ['2024-06-01T15:30:00+02:30', Date.UTC(2024, 5, 1, 13)],
    ['2024-06-01T08:00:00-0500', Date.UTC(2024, 5, 1, 13)],
    ['2024-06-01T13:00:00', Date.UTC(2024, 5, 1, 13)], // no zone: UTC
    ['2024-06-01', Date.UTC(2024, 5, 1)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
  ])('%s', (text, ms) => {
    expect(parseIsoUtc(text)).toBe(ms);
  });

  it.each(['2023-02-29T00:00:00Z', '2024-06-01T24:00:00Z', 'yesterday', '1717246800', '2024-6-1'])('rejects %s', (text) => {
    expect(parseIsoUtc(text)).toBeNull();
  });
});

// Type-level check: a parsed card is readonly.
function _readonly(card: PolicyCard): void {
  // @ts-expect-error readonly
  card.observation.window = 3;
}
void _readonly;
