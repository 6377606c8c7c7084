/**
 * The JSON Schema of a policy card (schemas/policy-card.json): for a training repository's own CI
 * (validate a card before it is archived) and for editors (a card with `"$schema"` gets completion).
 *
 * Built from the parser's own lists — the keys of each section (card.ts), the feature vocabulary and
 * each feature's parameters with their types, ranges and enums (features.ts), the action meanings
 * (actions.ts) — so the schema cannot drift from what parseCard accepts. parseCard stays the judge:
 * it also checks what a schema cannot say (array lengths against the feature list, golden widths
 * against the meanings, a feature graph that nothing reads) and words every message; the schema
 * accepts every card parseCard accepts (test/schemas.test.ts).
 */
import {
  CARD_SCHEMA,
  CONTINUOUS_KEYS,
  DISCRETE_KEYS,
  EXECUTION_KEYS,
  EXTRA_INPUT_KEYS,
  FEATURE_GRAPH_KEYS,
  GOLDEN_KEYS,
  MAX_AXIS,
  MAX_WINDOW,
  METADATA_KEYS,
  NORMALIZE_KEYS,
  OBSERVATION_KEYS,
  OUTPUT_KINDS,
  STATE_ALL_KEYS,
  TOP_KEYS,
} from './card.js';
import { ACTION_MEANINGS } from './meanings.js';
import { FEATURE_NAMES, featureParams, type ParamDef } from './features.js';
import { TIMEFRAMES } from './types.js';

type Schema = Record<string, unknown>;

const name: Schema = { type: 'string', minLength: 1, pattern: '\\S' };
const finite: Schema = { type: 'number' };

/** A closed object: exactly these keys (the parser rejects any other). */
function closed(keys: readonly string[], properties: Record<string, Schema>, extra: Schema = {}): Schema {
  for (const k of keys) if (!(k in properties)) throw new Error(`card schema: no schema for key ${k}`);
  for (const k of Object.keys(properties)) if (!keys.includes(k)) throw new Error(`card schema: ${k} is not a key the parser reads`);
  return { type: 'object', additionalProperties: false, properties, ...extra };
}

function paramSchema(def: ParamDef): Schema {
  switch (def.type) {
    case 'int': {
      const s: Schema = { type: 'integer', minimum: def.min ?? 1 };
      if (def.max !== undefined) s['maximum'] = def.max;
      return s;
    }
    case 'number':
      return { type: 'number', ...(def.min !== undefined ? { minimum: def.min } : {}), ...(def.max !== undefined ? { maximum: def.max } : {}) };
    case 'bool':
      return { type: 'boolean' };
    case 'symbol':
      return { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9./_-]{0,31}$' };
    default:
      return { enum: [...(def.values ?? [])] };
  }
}

/** One feature: its name as a string, or an object with exactly its parameters. */
function featureSchema(): Schema {
  const objects = FEATURE_NAMES.map((n) => {
    const defs = featureParams(n);
    const properties: Record<string, Schema> = { name: { const: n } };
    for (const d of defs) properties[d.key] = paramSchema(d);
    const required = ['name', ...defs.filter((d) => d.default === undefined && !d.optional).map((d) => d.key)];
    return { type: 'object', additionalProperties: false, properties, required };
  });
  const plain = FEATURE_NAMES.filter((n) => featureParams(n).every((d) => d.default !== undefined || d.optional));
  return { anyOf: [{ enum: plain }, ...objects] };
}

/** An action meaning as the parser reads it: any case, surrounding spaces, BUY_25 or BUY_25%. */
function meaningPattern(): string {
  const ci = (w: string): string => [...w].map((c) => (/[A-Za-z]/.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c)).join('');
  const words = ACTION_MEANINGS.map((m) => (/_\d+$/.test(m) ? `${ci(m)}%?` : ci(m)));
  return `^\\s*(${words.join('|')})\\s*$`;
}

export function cardSchema(): Schema {
  const numbers = { type: 'array', items: finite, minItems: 1 };
  const observation = closed(
    OBSERVATION_KEYS,
    {
      window: { type: 'integer', minimum: 1, maximum: MAX_WINDOW, description: 'W: feature rows per observation (default 1)' },
      features: { type: 'array', minItems: 1, items: featureSchema(), description: "the features in the model's input order (docs/policy-card.md)" },
      normalize: {
        anyOf: [
          { type: 'null' },
          closed(
            NORMALIZE_KEYS,
            {
              mean: { type: 'array', items: finite },
              std: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 } },
              var: { type: 'array', items: { type: 'number', minimum: 0 } },
              epsilon: { type: 'number', minimum: 0 },
            },
            { not: { required: ['std', 'var'] }, description: 'per feature (F values) or per observation element (W·F, time-major); std, or var with epsilon' },
          ),
        ],
      },
      clip: { anyOf: [{ type: 'null' }, { type: 'number', exclusiveMinimum: 0 }] },
      feature_graph: {
        anyOf: [
          { type: 'null' },
          closed(
            FEATURE_GRAPH_KEYS,
            {
              file: { type: 'string', pattern: '^(?!/)(?![A-Za-z]:)(?!.*\\\\)(?!(.*/)?\\.\\.?(/|$))(?!.*//).+\\.[Oo][Nn][Nn][Xx]$', description: "the graph, relative to the card's folder" },
              window: { type: 'integer', minimum: 1, maximum: MAX_WINDOW, description: 'L: bars per window, the decision bar included' },
              bars_input: name,
              times_input: name,
              times_unit: { enum: ['s', 'ms', 'ns'] },
              output: name,
            },
            { required: ['file', 'window'] },
          ),
        ],
      },
    },
    { required: ['features'] },
  );

  const discrete = closed(
    DISCRETE_KEYS,
    {
      type: { const: 'discrete' },
      output: name,
      output_kind: { enum: [...OUTPUT_KINDS] },
      log_prob_output: name,
      meanings: { type: 'array', minItems: 1, items: { type: 'string', pattern: meaningPattern() } },
      min_confidence: { type: 'number', minimum: 0, maximum: 1 },
    },
    { required: ['meanings'] },
  );
  const continuous = closed(
    CONTINUOUS_KEYS,
    {
      type: { const: 'continuous' },
      output: name,
      output_kind: { const: 'continuous' },
    },
    { required: ['type'] },
  );

  const axis = { type: 'integer', minimum: 0, maximum: MAX_AXIS - 1 };
  const top = closed(
    TOP_KEYS,
    {
      schema: { const: CARD_SCHEMA },
      symbol: name,
      timeframe: { enum: [...TIMEFRAMES] },
      asset_class: { enum: ['crypto', 'us_equity'] },
      input: name,
      observation,
      action: { anyOf: [discrete, continuous] },
      execution: {
        anyOf: [
          { type: 'null' },
          closed(EXECUTION_KEYS, {
            long_only: { type: 'boolean' },
            max_exposure: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            rebalance_band: { type: 'number', minimum: 0, maximum: 1 },
          }),
        ],
      },
      state: { anyOf: [{ type: 'null' }, { type: 'array', items: closed(STATE_ALL_KEYS, { input: name, output: name, batch_axis: axis }, { required: ['input', 'output'] }) }] },
      extra_inputs: {
        anyOf: [
          { type: 'null' },
          { type: 'array', items: closed(EXTRA_INPUT_KEYS, { name, value: { anyOf: [{ const: 'episode_start' }, finite] }, batch_axis: axis }, { required: ['name', 'value'] }) },
        ],
      },
      golden: {
        anyOf: [
          { type: 'null' },
          {
            type: 'array',
            items: closed(
              GOLDEN_KEYS,
              {
                obs: numbers,
                output: numbers,
                at: { type: 'string', description: 'ISO 8601 start of the decision bar, e.g. 2024-06-01T13:00:00Z' },
                position: { type: 'number', minimum: -2, maximum: 2 },
                unrealized_return: finite,
                action: { anyOf: [{ type: 'string' }, { type: 'number' }] },
              },
              { required: ['obs'], anyOf: [{ required: ['output'] }, { required: ['at'] }] },
            ),
          },
        ],
      },
    },
    { required: ['observation', 'action'] },
  );
  // Free-form metadata and x_* / x-* keys are allowed at the top level only.
  const metadata: Record<string, Schema> = {};
  for (const k of METADATA_KEYS) metadata[k] = {};
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `policy card (${CARD_SCHEMA})`,
    description: "How policy-gate builds a model's observation from bars and reads its output (docs/policy-card.md). Generated from src/core/card.ts and src/core/features.ts.",
    ...top,
    properties: { ...(top['properties'] as object), ...metadata },
    additionalProperties: false,
    patternProperties: { '^x[_-]': {} },
  };
}
