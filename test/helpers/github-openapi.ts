/**
 * Checks a request against GitHub's published REST description (@octokit/openapi,
 * generated/api.github.com.deref.json: OpenAPI 3.0, every $ref already inlined), the way GitHub's own
 * request validation would: the operation (method + path template) must exist, path parameters and
 * the query parameters sent must be declared and match their schemas, required query parameters must
 * be there, and a JSON body must match the operation's requestBody schema.
 *
 * The document (73 MB) is read once per process, on first use, and only what requests are checked
 * against is kept (parameters and request bodies; responses are dropped). Body validators are
 * compiled per operation on first use.
 *
 * Not checked: headers, response shapes, and bodies that are not JSON (no operation the fake serves
 * takes one).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';

type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
  'x-multi-segment'?: boolean;
}

interface Operation {
  method: string;
  template: string;
  operationId: string;
  pattern: RegExp;
  /** Path parameter names, in the order of the pattern's groups. */
  pathNames: string[];
  parameters: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  literals: number;
  multiSegments: number;
  bodyValidator?: ValidateFunction | null;
}

export interface SpecCheck {
  /** The operation the request matched (e.g. "checks/create"), or null when none did. */
  operationId: string | null;
  /** What GitHub's description forbids about the request; empty when nothing. */
  problems: string[];
}

interface Loaded {
  version: string;
  byMethod: Map<string, Operation[]>;
  ajv: Ajv;
}

// On globalThis so that test files sharing a process (vitest re-evaluates modules per file) share it.
const CACHE = Symbol.for('policy-gate.test.github-openapi');
type CacheHost = { [CACHE]?: Loaded };

/** The path of the description inside node_modules. */
export function descriptionPath(): string {
  return createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.deref.json');
}

/**
 * OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the type (and the enum, when there is
 * one), or, for a schema without a type (an anyOf/oneOf), an anyOf with {type: "null"}.
 */
export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema as Schema)) {
    // Descriptions and examples are most of the document's size and none of its meaning.
    if (k === 'description' || k === 'example' || k === 'examples') continue;
    // Under "properties" every key is a property name, not a keyword: keep them all, convert each.
    if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v as Schema).map(([name, sub]) => [name, toJsonSchema(sub)]));
      continue;
    }
    out[k] = toJsonSchema(v);
  }
  if (out['nullable'] !== true) {
    delete out['nullable'];
    return out;
  }
  delete out['nullable'];
  if (typeof out['type'] === 'string') {
    out['type'] = [out['type'], 'null'];
    if (Array.isArray(out['enum']) && !out['enum'].includes(null)) out['enum'] = [...out['enum'], null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function load(): Loaded {
  const host = globalThis as CacheHost;
  if (host[CACHE]) return host[CACHE];
  const doc = JSON.parse(readFileSync(descriptionPath(), 'utf8')) as {
    info: { version: string };
    paths: Record<string, Record<string, { operationId: string; parameters?: Parameter[]; requestBody?: Operation['requestBody'] }>>;
  };
  const byMethod = new Map<string, Operation[]>();
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'].includes(method)) continue;
      const parameters = (op.parameters ?? []).map((p) => ({ ...p, schema: toJsonSchema(p.schema ?? {}) as Schema }));
      const pathNames: string[] = [];
      let literals = 0;
      let multiSegments = 0;
      const source = template
        .split('/')
        .map((segment) =>
          segment.replace(/\{([^}]+)\}|[^{]+/g, (whole, name: string | undefined) => {
            if (name === undefined) {
              literals++;
              return escapeRegExp(whole);
            }
            pathNames.push(name);
            // A parameter GitHub marks x-multi-segment (a branch, a file path, a ref) may hold slashes.
            const multi = parameters.some((p) => p.in === 'path' && p.name === name && p['x-multi-segment']);
            if (multi) multiSegments++;
            return multi ? '(.+)' : '([^/]+)';
          }),
        )
        .join('/');
      const list = byMethod.get(method.toUpperCase()) ?? [];
      list.push({
        method: method.toUpperCase(),
        template,
        operationId: op.operationId,
        pattern: new RegExp(`^${source}$`),
        pathNames,
        parameters,
        ...(op.requestBody ? { requestBody: op.requestBody } : {}),
        literals,
        multiSegments,
      });
      byMethod.set(method.toUpperCase(), list);
    }
  }
  // The most specific template first: /pulls/comments before /pulls/{pull_number}.
  for (const list of byMethod.values()) list.sort((a, b) => b.literals - a.literals || a.multiSegments - b.multiSegments);
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: false, validateFormats: true });
  // ajv-formats is CommonJS whose module.exports is the plugin; its default export is the same function.
  const addFormats = ((formatsModule as unknown as { default?: typeof formatsModule }).default ?? formatsModule) as unknown as (a: Ajv) => void;
  addFormats(ajv);
  // Formats OpenAPI or GitHub name that say nothing checkable about a JSON value.
  for (const f of ['int32', 'int64', 'float', 'double', 'binary', 'byte', 'password', 'repo.nwo']) ajv.addFormat(f, true);
  const loaded: Loaded = { version: doc.info.version, byMethod, ajv };
  host[CACHE] = loaded;
  return loaded;
}

/** Reads and indexes the description now (it takes a few seconds), so that no request waits on it. */
export function loadGitHubDescription(): { version: string; operations: number } {
  const l = load();
  return { version: l.version, operations: [...l.byMethod.values()].reduce((n, list) => n + list.length, 0) };
}

/** The operation `method path` (path without any base prefix) matches, with its decoded path parameters. */
export function findOperation(method: string, path: string): { op: Operation; params: Record<string, string> } | null {
  for (const op of load().byMethod.get(method.toUpperCase()) ?? []) {
    const m = op.pattern.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    op.pathNames.forEach((name, i) => {
      const raw = m[i + 1]!;
      let value = raw;
      try {
        value = decodeURIComponent(raw);
      } catch {
        // Left as sent: the schema check below reports what it can.
      }
      params[name] = value;
    });
    return { op, params };
  }
  return null;
}

/** A string from a URL as the type the schema asks for (a query or path value is always text). */
function coerce(value: string, schema: Schema | undefined): unknown {
  const type = schema?.['type'];
  const types = Array.isArray(type) ? type : [type];
  if (types.includes('integer') || types.includes('number')) {
    if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(value.trim())) return Number(value);
    return value;
  }
  if (types.includes('boolean')) {
    if (value === 'true') return true;
    if (value === 'false') return false;
    return value;
  }
  return value;
}

function describeErrors(where: string, validate: ValidateFunction): string[] {
  return (validate.errors ?? []).map((e) => {
    const at = `${where}${e.instancePath.replace(/\//g, '.')}`;
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'required') return `${at}.${String(params['missingProperty'])} is required`;
    if (e.keyword === 'enum') return `${at} must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    if (e.keyword === 'additionalProperties') return `${at}.${String(params['additionalProperty'])} is not allowed`;
    return `${at} ${e.message ?? e.keyword}`;
  });
}

function schemaCheck(ajv: Ajv, where: string, schema: Schema, value: unknown): string[] {
  const validate = ajv.compile(schema);
  return validate(value) ? [] : describeErrors(where, validate);
}

/**
 * What GitHub's REST description says is wrong with a request. `path` is the URL path with any base
 * prefix (GHES's /api/v3) already removed; `search` its query string; `body` the parsed JSON body
 * (undefined when none was sent; a string when it was not JSON).
 */
export function checkRequest(req: { method: string; path: string; search: URLSearchParams; body: unknown; contentType?: string }): SpecCheck {
  const { ajv } = load();
  const found = findOperation(req.method, req.path);
  if (!found) return { operationId: null, problems: [`${req.method} ${req.path} is not an operation of GitHub's REST API`] };
  const { op, params } = found;
  const problems: string[] = [];

  for (const p of op.parameters.filter((x) => x.in === 'path')) {
    const value = params[p.name];
    if (value === undefined) {
      problems.push(`path parameter ${p.name} is missing`);
      continue;
    }
    problems.push(...schemaCheck(ajv, `path parameter ${p.name}`, p.schema ?? {}, coerce(value, p.schema)));
  }

  const declared = new Map(op.parameters.filter((x) => x.in === 'query').map((p) => [p.name, p]));
  for (const name of new Set(req.search.keys())) {
    const p = declared.get(name);
    if (!p) {
      problems.push(`query parameter ${name} is not a parameter of ${op.operationId}`);
      continue;
    }
    const values = req.search.getAll(name);
    const schema = p.schema ?? {};
    const isArray = schema['type'] === 'array' || (Array.isArray(schema['type']) && schema['type'].includes('array'));
    const value = isArray
      ? values.flatMap((v) => v.split(',')).map((v) => coerce(v, schema['items'] as Schema | undefined))
      : values.length > 1
        ? values // a scalar sent twice: the schema reports it
        : coerce(values[0]!, schema);
    problems.push(...schemaCheck(ajv, `query parameter ${name}`, schema, value));
  }
  for (const p of declared.values()) if (p.required && !req.search.has(p.name)) problems.push(`query parameter ${p.name} is required`);

  const content = op.requestBody?.content ?? {};
  const jsonSchema = content['application/json']?.schema;
  const sent = req.body !== undefined && req.body !== '';
  if (!sent) {
    if (op.requestBody?.required) problems.push(`${op.operationId} requires a request body`);
  } else if (!op.requestBody) {
    problems.push(`${op.operationId} takes no request body`);
  } else if (jsonSchema) {
    if (typeof req.body === 'string' && !/json/i.test(req.contentType ?? '')) {
      if (!Object.keys(content).some((t) => t !== 'application/json')) problems.push(`body must be JSON (${op.operationId} takes application/json)`);
    } else {
      if (op.bodyValidator === undefined) op.bodyValidator = ajv.compile(toJsonSchema(jsonSchema) as Schema);
      if (!op.bodyValidator!(req.body)) problems.push(...describeErrors('body', op.bodyValidator!));
    }
  }
  return { operationId: op.operationId, problems };
}
