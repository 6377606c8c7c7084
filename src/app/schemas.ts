/**
 * The published JSON Schemas (schemas/*.json), each built from the code that reads the file:
 *   policy-card.json          a policy card (src/core/card-schema.ts, from the card parser's lists);
 *   policy-gate.config.json   the config file (src/config/schema.ts, recorded by running its parser);
 *   deploy.json               a deployment config, deploy/paper.json or deploy/live.json (the entry fields
 *                             promotion writes: src/core/promotion.ts);
 *   report.json               the report a run writes (--out, --json): src/core/report-schema.ts, typed
 *                             against the Report interfaces.
 * `npm run schemas` writes them; test/schemas.test.ts checks the committed files are current and that
 * they accept what the parsers accept.
 */
import { cardSchema } from '../core/card-schema.js';
import { ENTRY_KEYS } from '../core/promotion.js';
import { configSchema } from '../config/schema.js';
import { SCHEMA_VERSION } from '../core/report.js';
import { reportSchema } from '../core/report-schema.js';

type Schema = Record<string, unknown>;

function deploySchema(): Schema {
  const text = { type: 'string' };
  const nullableText = { type: ['string', 'null'] };
  const sha = { type: 'string', pattern: '^[0-9a-f]{64}$' };
  const fields: Record<string, Schema> = {
    model: { ...text, description: 'the deployed ONNX file, relative to the repository root' },
    model_sha256: sha,
    card: { ...text, description: 'its policy card' },
    card_sha256: sha,
    candidate: text,
    tier: { enum: ['PAPER', 'LIVE'] },
    reasons: text,
    gating: { enum: ['APPROVED', 'REVIEW', null] },
    train_end: nullableText,
    report_sha256: sha,
    run_url: nullableText,
    promoted_at: { ...text, description: 'ISO 8601 UTC' },
    config_sha256: sha,
    data_start: nullableText,
    data_end: nullableText,
    client_order_id_prefix: { ...text, description: 'track: the client_order_id prefix of this model’s orders, when several models trade one symbol in an account' },
    capital: { type: 'number', exclusiveMinimum: 0, description: 'track: the sleeve’s starting capital' },
  };
  for (const k of ENTRY_KEYS) if (!(k in fields)) throw new Error(`deploy schema: no schema for ${k}`);
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'policy-gate deployment config (deploy/paper.json, deploy/live.json)',
    description: 'What promote writes and revalidate and track read (docs/promotion.md). Other top-level keys and entry fields are kept as they are.',
    type: 'object',
    properties: {
      $schema: { type: 'string' },
      models: {
        anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: { anyOf: [{ type: 'null' }, { type: 'object', properties: fields }] }, description: 'entries keyed by model id' }],
      },
    },
  };
}

/** File name → schema. */
export function publishedSchemas(): Record<string, Schema> {
  return {
    'policy-card.json': cardSchema(),
    'policy-gate.config.json': configSchema(),
    'deploy.json': deploySchema(),
    'report.json': reportSchema(SCHEMA_VERSION),
  };
}

/** A schema as the committed file holds it. */
export function schemaText(schema: Schema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
