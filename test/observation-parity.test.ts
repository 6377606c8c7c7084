/**
 * Observation parity that LIVE cannot skip: a card whose `{at, obs}` golden vectors were never checked
 * is flagged NO_OBSERVATION_PARITY (decide() caps it, test/decide.test.ts); goldens may carry the
 * position state and the decoded action; a mismatch says where it starts and what it probably is.
 * Real example models (onnxruntime), real BTC bars.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { evaluateModel, type BarsProvider } from '../src/app/evaluate.js';
import { loadBarsFromDir } from '../src/adapters/bars/csv.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { defaultConfig } from '../src/config/schema.js';
import { parseCard } from '../src/core/card.js';
import { ObservationBuilder } from '../src/core/observation.js';
import type { ModelReport } from '../src/core/report.js';
import type { Timeframe } from '../src/core/types.js';
import { modelReport } from './helpers/evaluation.js';
import { dec, EXAMPLE_DATA, exampleFiles, MODELS_DIR } from './helpers/e2e.js';

const FILES = exampleFiles();
const getBars: BarsProvider = (req) => loadBarsFromDir(EXAMPLE_DATA, req.symbol, req.timeframe);
const END = Date.parse('2024-09-10T00:00:00Z');

afterAll(async () => {
  await shutdownOrtHost();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const cardOf = (id: string): Json => JSON.parse(dec(FILES[`${MODELS_DIR}/${id}.card.json`]!));

async function evaluate(id: string, timeframe: Timeframe, cardJson: Json): Promise<{ report: ModelReport; error: unknown }> {
  const model = await loadPolicyModel(FILES[`${MODELS_DIR}/${id}.onnx`]!, { device: 'cpu', label: `${id}.onnx` });
  const report = modelReport(id, timeframe);
  let error: unknown = null;
  try {
    await evaluateModel(report, model, cardJson, `${id}.card.json`, getBars, {
      config: defaultConfig(),
      endMs: END,
      backtestDays: 30,
      walkForward: null,
      equityOut: null,
      log: () => {},
    });
  } catch (err) {
    error = err;
  } finally {
    await model.release();
  }
  return { report, error };
}

/** The observation policy-gate builds for `cardJson` at the bar starting at `at`. */
async function observationAt(cardJson: Json, timeframe: Timeframe, at: string, state = { position: 0, unrealizedReturn: 0 }): Promise<number[]> {
  const card = parseCard({ ...cardJson, golden: [] }, 'x.card.json');
  const { bars } = await loadBarsFromDir(EXAMPLE_DATA, 'BTCUSD', timeframe);
  const b = new ObservationBuilder(card, bars);
  const tau = bars.time.indexOf(Date.parse(at));
  expect(tau).toBeGreaterThan(0);
  return Array.from(b.build(tau, state, new Float32Array(b.size)));
}

describe('NO_OBSERVATION_PARITY', () => {
  it('a card without { at, obs } goldens is flagged, and the report says the feature builder was never checked', async () => {
    const card = cardOf('BTCUSD_4Hour');
    card.golden = card.golden.filter((g: Json) => g.at === undefined);
    const { report, error } = await evaluate('BTCUSD_4Hour', '4Hour', card);
    expect(error).toBeNull();
    expect(report.flags).toContain('NO_OBSERVATION_PARITY');
    const notes = report.notes.join('\n');
    expect(notes).toContain(
      'NO_OBSERVATION_PARITY: BTCUSD_4Hour.card.json has no { "at", "obs" } golden vector, so the feature builder was never checked against the training code; the model is capped at PAPER',
    );
    expect(notes).toContain('golden vectors: 2 inference checks passed; no observation parity check was run');
    expect(notes).not.toMatch(/0 observation parity checks passed/);
  });

  it('goldens that fall outside the data do not count as checked', async () => {
    const card = cardOf('BTCUSD_4Hour');
    for (const g of card.golden) if (g.at !== undefined) g.at = '2030-01-01T00:00:00Z';
    const { report } = await evaluate('BTCUSD_4Hour', '4Hour', card);
    expect(report.flags).toContain('NO_OBSERVATION_PARITY');
    expect(report.notes.join('\n')).toContain('none of the 2 { "at", "obs" } golden vector(s) of BTCUSD_4Hour.card.json fell on a bar of the data after the warm-up');
  });

  it('the example card, whose observation goldens are checked, is not flagged', async () => {
    const { report, error } = await evaluate('BTCUSD_4Hour', '4Hour', cardOf('BTCUSD_4Hour'));
    expect(error).toBeNull();
    expect(report.flags).not.toContain('NO_OBSERVATION_PARITY');
    expect(report.notes).toContain('golden vectors: 2 inference and 2 observation parity checks passed');
  });
});

describe('observation mismatch hints (always the first differing row and feature)', () => {
  const first = (): Json => cardOf('BTCUSD_4Hour').golden.find((g: Json) => g.at !== undefined);

  async function mismatch(edit: (g: Json, card: Json) => Promise<void> | void): Promise<string> {
    const card = cardOf('BTCUSD_4Hour');
    const g = card.golden.find((x: Json) => x.at !== undefined);
    card.golden = [g];
    await edit(g, card);
    const { report, error } = await evaluate('BTCUSD_4Hour', '4Hour', card);
    expect(error).not.toBeNull();
    expect(report.flags).toContain('OBSERVATION_MISMATCH');
    return report.errors.join('\n');
  }

  it('`at` given as the close time: the golden equals the observation of the bar before', async () => {
    const at = first().at as string;
    const msg = await mismatch((g) => {
      g.at = new Date(Date.parse(at) + 4 * 3_600_000).toISOString();
    });
    expect(msg).toContain(`it equals the observation of the bar before (starting ${new Date(at).toISOString()}): "at" looks like that bar's close time`);
    expect(msg).toMatch(/the first differing value is \d+ \(row \d, [a-z_]+/);
  });

  it('one bar early: the golden equals the observation of the bar after', async () => {
    const at = first().at as string;
    const card = cardOf('BTCUSD_4Hour');
    const next = new Date(Date.parse(at) + 4 * 3_600_000).toISOString();
    const obs = await observationAt(card, '4Hour', next);
    const msg = await mismatch((g) => {
      g.obs = obs;
    });
    expect(msg).toContain(`it equals the observation of the bar after (starting ${next}): "at" is one bar early`);
  });

  it('a feature-major (transposed) window', async () => {
    const msg = await mismatch((g) => {
      const W = 3;
      const F = 7;
      const t = new Array<number>(W * F);
      for (let r = 0; r < W; r++) for (let f = 0; f < F; f++) t[f * W + r] = g.obs[r * F + f];
      g.obs = t;
    });
    expect(msg).toContain('flattened feature-major (index feature·3 + row) instead of time-major (row·7 + feature)');
    // value 1 is row 0's rsi here but row 1's return in the transposed golden
    expect(msg).toContain('the first differing value is 1 (row 0, rsi(period=14) in row 0 (2 bars before the decision bar))');
  });

  it('raw features where the normalised observation was expected', async () => {
    const at = first().at as string;
    const card = cardOf('BTCUSD_4Hour');
    const raw = await observationAt({ ...card, observation: { ...card.observation, normalize: undefined, clip: undefined } }, '4Hour', at);
    const msg = await mismatch((g) => {
      g.obs = raw;
    });
    expect(msg).toContain('it equals the observation before normalize/clip');
  });

  it('log-probabilities in an inference golden where the card reads logits', async () => {
    const card = cardOf('BTCUSD_4Hour');
    const g = card.golden.find((x: Json) => x.output !== undefined);
    const top = Math.max(...g.output);
    const lse = top + Math.log(g.output.reduce((a: number, v: number) => a + Math.exp(v - top), 0));
    g.output = g.output.map((v: number) => v - lse);
    card.golden = [g, ...card.golden.filter((x: Json) => x.at !== undefined)];
    const { report } = await evaluate('BTCUSD_4Hour', '4Hour', card);
    expect(report.flags).toContain('INFERENCE_MISMATCH');
    expect(report.errors.join('\n')).toContain("the golden output is the log-softmax of the model's output: the training code exported log-probabilities where the model gives logits");
  });
});

describe('goldens with a position state and a decoded action', () => {
  it('position: the observation is built with the golden position; the decoded action is checked against the model', async () => {
    const card = cardOf('BTCUSD_1Hour');
    const at = card.golden.find((g: Json) => g.at !== undefined).at as string;
    const state = { position: 0.5, unrealizedReturn: 0 };
    const obs = await observationAt(card, '1Hour', at, state);
    // What the model decides on it: run it once through the inference golden path of a throwaway card.
    const model = await loadPolicyModel(FILES[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!, { device: 'cpu', label: 'm' });
    const out = await model.run({ obs: { data: Float32Array.from(obs), dims: [1, obs.length] } }, [model.outputs[0]!.name]);
    await model.release();
    const logits = Array.from(Object.values(out)[0]!.data);
    const best = logits.indexOf(Math.max(...logits));
    const meanings = card.action.meanings as string[];

    card.golden = [{ at, obs, position: 0.5, action: meanings[best] }];
    const ok = await evaluate('BTCUSD_1Hour', '1Hour', card);
    expect(ok.error).toBeNull();
    expect(ok.report.notes).toContain('golden vectors: 0 inference and 1 observation parity checks passed (1 with the decoded action)');
    expect(ok.report.flags).not.toContain('NO_OBSERVATION_PARITY');

    card.golden = [{ at, obs, position: 0.5, action: meanings[(best + 1) % meanings.length] }];
    const wrong = await evaluate('BTCUSD_1Hour', '1Hour', card);
    expect(wrong.report.flags).toContain('INFERENCE_MISMATCH');
    expect(wrong.report.errors.join('\n')).toContain(
      `on the observation built here the model decides ${meanings[best]} (index ${best}) but the training code decided ${meanings[(best + 1) % meanings.length]}`,
    );

    card.golden = [{ at, obs }]; // the same observation without its position: built flat, position differs
    const flat = await evaluate('BTCUSD_1Hour', '1Hour', card);
    expect(flat.report.flags).toContain('OBSERVATION_MISMATCH');
    expect(flat.report.errors.join('\n')).toContain('the first differing value is 8 (row 0, position in row 0 (the decision bar))');
  });

  it('parseCard: position, unrealized_return and action belong to an { at } golden and are checked', () => {
    const card = cardOf('BTCUSD_1Hour');
    const err = (golden: Json): string => {
      try {
        parseCard({ ...card, golden: [golden] }, 'c.card.json');
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    const obs = new Array(9).fill(0);
    expect(err({ obs, output: [0, 0, 0], action: 'BUY' })).toContain('golden[0].action belongs to an observation golden: give "at"');
    expect(err({ at: '2024-05-01T00:00:00Z', obs, action: 'BUY_25' })).toContain('golden[0].action must be one of action.meanings (HOLD, BUY, SELL) or its index, got "BUY_25"');
    expect(err({ at: '2024-05-01T00:00:00Z', obs, position: 'long' })).toContain('golden[0].position must be the exposure at decision time');
    const parsed = parseCard({ ...card, golden: [{ at: '2024-05-01T00:00:00Z', obs, position: -0.25, unrealized_return: 0.01, action: 2 }] }, 'c.card.json');
    expect(parsed.golden[0]).toMatchObject({ state: { position: -0.25, unrealizedReturn: 0.01 }, action: 2 });
  });
});
