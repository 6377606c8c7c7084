/**
 * The action's inputs, parsed once from INPUT_* into a typed, readonly value; then merged over the
 * config file into the one `Config` (SPEC section 8: inputs override the file). Every error names the
 * input and the bad value.
 *
 * A JavaScript action gets `INPUT_<NAME>` with the name upper-cased and hyphens kept
 * (`INPUT_FAIL-ON-REJECTION`); action.yml (a composite action) maps each input explicitly and, since a
 * shell cannot name a variable with a hyphen, uses underscores (`INPUT_FAIL_ON_REJECTION`). Both are read.
 */
import { parseUtc } from '../core/time.js';
import { isAbsolute, relative, resolve } from 'node:path';
import { statSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { checkNoLinkBelow } from '../util/safe-read.js';
import { checkCrossField, type Config, type Device } from '../config/schema.js';
import { inputError } from '../core/errors.js';
import { parseShardSpec, type ShardSpec } from '../core/shard.js';

/** `merge`: combine the partial reports of a sharded run and publish them (docs/sharding.md); it publishes as `auto` would. */
export type Mode = 'auto' | 'pull_request' | 'workflow_run' | 'schedule' | 'merge';
const MODES: readonly Mode[] = ['auto', 'pull_request', 'workflow_run', 'schedule', 'merge'];
const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

export interface ActionInputs {
  /** A training archive in the workspace: a .zip file or a folder. */
  readonly archive: string | null;
  /** workflow_run: the name of the triggering run's training-archive artifact. */
  readonly artifactName: string;
  /** workflow_run: the run to download from (default: the triggering run). */
  readonly runId: number | null;
  readonly config: string | null;
  /** A folder of CSV bars, or `alpaca`. */
  readonly data: string | null;
  readonly days: number | null;
  readonly folds: number | null;
  readonly backtestDays: number | null;
  readonly capital: number | null;
  readonly endMs: number | null;
  readonly device: Device | null;
  readonly token: string;
  readonly failOnRejection: boolean;
  readonly mode: Mode;
  readonly reportDir: string;
  /** Name of the report artifact; null = do not upload (upload-report: false). */
  readonly reportArtifact: string | null;
  /** `shard: i/n`: evaluate this shard's models only and upload a partial report (docs/sharding.md). */
  readonly shard: ShardSpec | null;
  /** schedule without an archive: track the deployed models of this account on its record instead of re-validating them. */
  readonly track: 'paper' | 'live' | null;
}

/** The raw value of one input ('' when unset), trimmed like core.getInput. */
export function readInput(env: NodeJS.ProcessEnv, name: string): string {
  const upper = name.replace(/ /g, '_').toUpperCase();
  const value = env[`INPUT_${upper}`] ?? env[`INPUT_${upper.replace(/-/g, '_')}`] ?? '';
  return value.trim();
}

function bad(name: string, expected: string, raw: string): never {
  throw inputError(`input "${name}" must be ${expected}, got ${JSON.stringify(raw)}`, `input ${name}`);
}

function optionalNumber(env: NodeJS.ProcessEnv, name: string, integer = false): number | null {
  const raw = readInput(env, name);
  if (raw === '') return null;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) bad(name, `a positive ${integer ? 'integer' : 'number'}`, raw);
  return v;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, values: readonly T[]): T | null {
  const raw = readInput(env, name);
  if (raw === '') return null;
  if (!(values as readonly string[]).includes(raw)) bad(name, `one of ${values.join(' | ')}`, raw);
  return raw as T;
}

/** YAML 1.2 core booleans, like core.getBooleanInput. */
function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = readInput(env, name);
  if (raw === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(raw)) return true;
  if (['false', 'False', 'FALSE'].includes(raw)) return false;
  return bad(name, 'true or false', raw);
}

function endInput(env: NodeJS.ProcessEnv): number | null {
  const raw = readInput(env, 'end');
  if (raw === '') return null;
  // No offset means UTC, whatever the runner's time zone (src/core/time.ts).
  const ms = parseUtc(raw);
  if (ms === null) return bad('end', 'an ISO 8601 date or time (UTC unless it names an offset)', raw);
  return ms;
}

export function parseInputs(env: NodeJS.ProcessEnv): ActionInputs {
  const token = readInput(env, 'github-token');
  if (token === '') {
    throw inputError('input "github-token" is empty; leave it out to use ${{ github.token }}, or pass a token with checks: write', 'input github-token');
  }
  const runIdRaw = readInput(env, 'run-id');
  let runId: number | null = null;
  if (runIdRaw !== '') {
    if (!/^[1-9][0-9]*$/.test(runIdRaw) || !Number.isSafeInteger(Number(runIdRaw))) bad('run-id', 'a workflow run id (a positive integer)', runIdRaw);
    runId = Number(runIdRaw);
  }
  const artifactName = readInput(env, 'artifact-name') || 'training-archive';
  if (/[\\/:*?"<>|\r\n]/.test(artifactName)) bad('artifact-name', 'an artifact name (no \\ / : * ? " < > |)', artifactName);
  const reportArtifact = readInput(env, 'report-artifact') || 'policy-gate-report';
  if (/[\\/:*?"<>|\r\n]/.test(reportArtifact)) bad('report-artifact', 'an artifact name (no \\ / : * ? " < > |)', reportArtifact);
  const shard = shardInput(env);
  const mode = oneOf(env, 'mode', MODES) ?? 'auto';
  const upload = boolean(env, 'upload-report', true);
  if (shard && mode === 'merge') {
    throw inputError('inputs "shard" and "mode: merge" exclude each other: the shard jobs set shard, the final job (needs: the shards) sets mode: merge', 'input shard');
  }
  if (shard && !upload) {
    throw inputError('input "upload-report" must not be false with "shard": the merge job reads each shard\'s partial report from its artifact', 'input upload-report');
  }
  return {
    archive: readInput(env, 'archive') || null,
    artifactName,
    runId,
    config: readInput(env, 'config') || null,
    data: readInput(env, 'data') || null,
    days: optionalNumber(env, 'days'),
    folds: optionalNumber(env, 'folds', true),
    backtestDays: optionalNumber(env, 'backtest-days'),
    capital: optionalNumber(env, 'capital'),
    endMs: endInput(env),
    device: oneOf(env, 'device', DEVICES),
    token,
    failOnRejection: boolean(env, 'fail-on-rejection', true),
    mode,
    reportDir: readInput(env, 'report-dir') || 'policy-gate-report',
    reportArtifact: upload ? reportArtifact : null,
    shard,
    track: oneOf(env, 'track', ['paper', 'live'] as const),
  };
}

/** The `shard` input (`i/n`), or null when empty. */
export function shardInput(env: NodeJS.ProcessEnv): ShardSpec | null {
  const raw = readInput(env, 'shard');
  if (raw === '') return null;
  const spec = parseShardSpec(raw);
  if ('error' in spec) throw inputError(`input "shard" ${spec.error}`, 'input shard');
  return spec;
}

/** A workspace-relative path as the pipeline sees it (relative to the process, like the CLI does). */
export function workspacePath(workspace: string, p: string): string {
  return isAbsolute(p) ? p : relative(process.cwd(), resolve(workspace, p)) || '.';
}

function checkFolder(what: string, path: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) throw inputError(`${what}: the bars folder ${path} does not exist; pass a folder of <SYMBOL>_<TIMEFRAME>.csv files, or alpaca`, what);
  if (!st.isDirectory()) throw inputError(`${what}: ${path} is not a folder; pass a folder of <SYMBOL>_<TIMEFRAME>.csv files, or alpaca`, what);
}

/** The config file (from the workspace) with the inputs applied over it. */
export async function resolveConfig(inputs: ActionInputs, workspace: string): Promise<{ config: Config; file: string | null }> {
  const loaded = await loadConfig(inputs.config ?? undefined, workspace);
  const c = structuredClone(loaded.config);
  c.walkForward.days = inputs.days ?? c.walkForward.days;
  c.walkForward.folds = inputs.folds ?? c.walkForward.folds;
  c.backtest.days = inputs.backtestDays ?? c.backtest.days;
  c.backtest.capital = inputs.capital ?? c.backtest.capital;
  c.runtime.device = inputs.device ?? c.runtime.device;
  if (inputs.data === 'alpaca') {
    c.data.source = 'alpaca';
  } else if (inputs.data !== null) {
    c.data.source = 'csv';
    c.data.dir = workspacePath(workspace, inputs.data);
    checkNoLinkBelow(workspace, c.data.dir, 'input "data"');
    checkFolder('input "data"', c.data.dir);
  } else if (c.data.source === 'csv' && c.data.dir) {
    c.data.dir = workspacePath(workspace, c.data.dir);
    checkNoLinkBelow(workspace, c.data.dir, `${loaded.file ?? 'config'}: data.dir`);
    checkFolder(`${loaded.file ?? 'config'}: data.dir`, c.data.dir);
  }
  if (c.data.source === 'alpaca') c.data.cache = workspacePath(workspace, c.data.cache);
  checkCrossField(c, 'action inputs');
  return { config: c, file: loaded.file };
}
