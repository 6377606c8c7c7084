/**
 * The published JSON Schemas (schemas/*.json): current with the code that reads each file, valid
 * JSON Schema 2020-12, accepting what the parsers accept and rejecting, at the same key, what they refuse.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { publishedSchemas, schemaText } from '../src/app/schemas.js';
import { parseConfig } from '../src/config/schema.js';
import { parseCard } from '../src/core/card.js';
import { parseDeployDoc } from '../src/core/promotion.js';
import { EXAMPLE_ZIP, REPO } from './helpers/e2e.js';

const schemas = publishedSchemas();
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validate = (file: string, doc: unknown): { ok: boolean; paths: string[] } => {
  if (!ajv.getSchema(file)) ajv.addSchema(schemas[file]!, file);
  const v = ajv.getSchema(file)!;
  const ok = v(doc) as boolean;
  return { ok, paths: (v.errors ?? []).map((e) => `${e.instancePath}${e.keyword === 'additionalProperties' ? `/${String((e.params as { additionalProperty: string }).additionalProperty)}` : ''}`) };
};

describe('schemas/*.json', () => {
  it('are the ones the code generates (npm run schemas)', () => {
    const committed = readdirSync(path.join(REPO, 'schemas')).sort();
    expect(committed).toEqual(Object.keys(schemas).sort());
    for (const [file, schema] of Object.entries(schemas)) {
      expect(readFileSync(path.join(REPO, 'schemas', file), 'utf8'), `${file} is stale: run npm run schemas`).toBe(schemaText(schema));
    }
  });

  it('compile as JSON Schema 2020-12', () => {
    for (const [file, schema] of Object.entries(schemas)) expect(() => new Ajv2020({ strict: false }).compile(schema), file).not.toThrow();
  });
});

/** Every card in the repository: the example archive's and the test fixtures'. */
function repoCards(): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(readFileSync(EXAMPLE_ZIP))))) {
    if (name.endsWith('.card.json')) out.push([name, JSON.parse(new TextDecoder().decode(bytes))]);
  }
  for (const dir of ['sb3', 'feature-graph']) {
    for (const f of readdirSync(path.join(REPO, 'test', 'fixtures', dir))) {
      if (f.endsWith('.card.json')) out.push([`${dir}/${f}`, JSON.parse(readFileSync(path.join(REPO, 'test', 'fixtures', dir, f), 'utf8'))]);
    }
  }
  return out;
}

describe('policy-card.json', () => {
  const cards = repoCards();

  it('accepts every card in the repository, as parseCard does, with $schema and metadata', () => {
    expect(cards.length).toBeGreaterThanOrEqual(12);
    for (const [name, card] of cards) {
      expect(() => parseCard(card, name), name).not.toThrow();
      expect(validate('policy-card.json', card), name).toEqual({ ok: true, paths: [] });
      const annotated = { $schema: '../schemas/policy-card.json', description: 'x', x_team: { owner: 'quant' }, ...(card as object) };
      expect(() => parseCard(annotated, name)).not.toThrow();
      expect(validate('policy-card.json', annotated).ok, name).toBe(true);
    }
  });

  const base = cards.find(([n]) => n.endsWith('BTCUSD_1Hour.card.json'))![1] as Record<string, any>;
  const edit = (f: (c: Record<string, any>) => void): Record<string, any> => {
    const c = JSON.parse(JSON.stringify(base));
    f(c);
    return c;
  };
  // Each bad card: what parseCard names, and where the schema finds it (a JSON pointer prefix).
  const bad: [string, Record<string, any>, string, string][] = [
    ['an unknown key', edit((c) => (c.observation.windw = 4)), 'observation.windw is not a known key', '/observation/windw'],
    ['a feature the vocabulary lacks', edit((c) => (c.observation.features[0] = 'rsi_fast')), 'observation.features[0].name "rsi_fast" is not a known feature', '/observation/features/0'],
    ['a parameter out of range', edit((c) => (c.observation.features[0] = { name: 'rsi', period: 0 })), 'observation.features[0].period must be a positive integer', '/observation/features/0'],
    [
      'a parameter the feature does not take',
      edit((c) => (c.observation.features[0] = { name: 'log_return', period: 3 })),
      'observation.features[0].period is not a parameter of log_return',
      '/observation/features/0',
    ],
    ['a window of 0', edit((c) => (c.observation.window = 0)), 'observation.window must be an integer from 1', '/observation/window'],
    ['an unknown output kind', edit((c) => (c.action.output_kind = 'softmax')), 'action.output_kind', '/action'],
    ['an unknown meaning', edit((c) => (c.action.meanings = ['HOLD', 'JUMP'])), 'action.meanings', '/action'],
    ['leverage', edit((c) => (c.execution = { max_exposure: 2 })), 'execution.max_exposure must be a number in (0, 1]', '/execution'],
    [
      'a feature graph outside the card folder',
      edit((c) => {
        c.observation.feature_graph = { file: '../x.onnx', window: 4 };
        c.observation.features.push({ name: 'graph', column: 0 });
      }),
      'observation.feature_graph.file must be a plain relative path',
      '/observation/feature_graph',
    ],
    ['a golden vector without obs', edit((c) => (c.golden = [{ output: [1, 2, 3] }])), 'golden[0].obs is missing', '/golden'],
    ['another schema', edit((c) => (c.schema = 'policy-card/2')), 'schema must be "policy-card/1"', '/schema'],
  ];
  it.each(bad)('rejects %s where parseCard does, at the same key', (_what, card, message, pointer) => {
    expect(() => parseCard(card, 'c.card.json')).toThrow(message);
    const r = validate('policy-card.json', card);
    expect(r.ok).toBe(false);
    expect(
      r.paths.some((p) => p.startsWith(pointer)),
      r.paths.join(' '),
    ).toBe(true);
  });

  it('knows every feature with its parameters: each feature of the vocabulary validates with its defaults', () => {
    const features = ((schemas['policy-card.json'] as any).properties.observation.properties.features.items.anyOf as { properties?: { name: { const: string } } }[])
      .filter((s) => s.properties)
      .map((s) => s.properties!.name.const);
    for (const f of features) {
      const card = edit(
        (c) =>
          (c.observation.features = [
            f === 'graph'
              ? { name: 'graph', column: 0 }
              : {
                  name: f,
                  ...(f === 'volatility' || f === 'rsi' || f === 'sma_ratio' || f === 'ema_ratio' || f === 'volume_z' || f === 'obv_z' || f === 'obv_change' || f === 'vwap_distance'
                    ? { period: 5 }
                    : {}),
                },
          ]),
      );
      if (f === 'graph') card.observation.feature_graph = { file: 'f.onnx', window: 4 };
      delete card.observation.normalize;
      card.golden = [];
      expect(() => parseCard(card, 'c.card.json'), f).not.toThrow();
      expect(validate('policy-card.json', card), f).toEqual({ ok: true, paths: [] });
    }
  });
});

describe('policy-gate.config.json', () => {
  const good = [
    {},
    { $schema: '../schemas/policy-gate.config.json', gating: { preset: 'v2.4.5', approved: { fitness: 0.6 } }, backtest: { fee_bps: 10 } },
    { backtest: { fee_bps: { crypto: 25, us_equity: 1 }, fill: 'close' }, decision: { required: 'LIVE', live: { min_positive_share: 0.9 } }, evidence: { dsr_trials: null, rules: { min_psr: 0.9 } } },
    { data: { source: 'alpaca', feed: 'sip' }, runtime: { device: 'cpu', parallel_models: 4 }, walk_forward: { days: 90, folds: 3 } },
    { gating: null, evidence: { bootstrap: null } },
  ];
  it('accepts what parseConfig accepts', () => {
    for (const doc of good) {
      expect(() => parseConfig(doc, 'c.yml')).not.toThrow();
      expect(validate('policy-gate.config.json', doc), JSON.stringify(doc)).toEqual({ ok: true, paths: [] });
    }
  });
  const bad: [unknown, string][] = [
    [{ gating: { presets: 'v4.1.0' } }, '/gating/presets'],
    [{ runtime: { device: 'gpu' } }, '/runtime/device'],
    [{ backtest: { fee_bps: { crypto: -1 } } }, '/backtest/fee_bps'],
    [{ walk_forward: { folds: 2.5 } }, '/walk_forward/folds'],
    [{ decision: { required: 'GOLD' } }, '/decision/required'],
    [{ evidence: { bootstrap: { confidence: 0.2 } } }, '/evidence/bootstrap/confidence'],
    [{ gating: { preset: 'v9' } }, '/gating/preset'],
  ];
  it.each(bad)('rejects %j where parseConfig does, at the same key', (doc, pointer) => {
    expect(() => parseConfig(doc, 'c.yml')).toThrow();
    const r = validate('policy-gate.config.json', doc);
    expect(r.ok).toBe(false);
    expect(
      r.paths.some((p) => p.startsWith(pointer)),
      r.paths.join(' '),
    ).toBe(true);
  });
});

describe('deploy.json', () => {
  it('accepts a deployment config as promote writes it, and rejects a malformed entry', () => {
    const doc = {
      models: {
        BTCUSD_1Hour: {
          model: 'models/BTCUSD_1Hour/0123456789ab/BTCUSD_1Hour.onnx',
          model_sha256: '0'.repeat(64),
          card: 'models/BTCUSD_1Hour/0123456789ab/BTCUSD_1Hour.card.json',
          card_sha256: '1'.repeat(64),
          candidate: 'final',
          tier: 'PAPER',
          reasons: 'rule 4',
          gating: 'APPROVED',
          train_end: null,
          report_sha256: '2'.repeat(64),
          run_url: null,
          promoted_at: '2024-09-12T00:00:00.000Z',
          config_sha256: '3'.repeat(64),
          data_start: null,
          data_end: null,
          owner: 'quant-desk',
        },
      },
    };
    expect(() => parseDeployDoc(JSON.stringify(doc), 'deploy/paper.json')).not.toThrow();
    expect(validate('deploy.json', doc)).toEqual({ ok: true, paths: [] });
    const r = validate('deploy.json', { models: { X: { tier: 'GOLD', model_sha256: 'abc' } } });
    expect(r.ok).toBe(false);
    expect(r.paths).toEqual(expect.arrayContaining(['/models/X/tier', '/models/X/model_sha256']));
  });
});
