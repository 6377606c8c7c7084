/**
 * action.yml's steps run the way the runner runs a composite action, for end-to-end tests of what
 * happens around the program (a failed install, a cancelled job):
 *
 *   - the steps run in order; each `run:` step is written to a script file and started as
 *     `bash --noprofile --norc -eo pipefail <file>` (the runner's `shell: bash`), with the runner's
 *     environment, GITHUB_ACTION_PATH, the step's evaluated `env:`, and a fresh GITHUB_OUTPUT and
 *     GITHUB_STEP_SUMMARY file of its own, read back when it ends (outputs as `steps.<id>.outputs`,
 *     summaries appended to the job summary);
 *   - `${{ … }}` is evaluated against `inputs` (action.yml's defaults, `${{ github.token }}` included),
 *     `github`, `runner` and `steps`; `if:` too, with success() as the default and failure(),
 *     always(), cancelled() as the runner defines them; a failed step with `continue-on-error: true`
 *     has outcome failure and conclusion success, and fails nothing after it;
 *   - a `uses:` step is answered by the test (`uses`, keyed by the action without its ref): these are
 *     other repositories' JavaScript actions (setup-node, cache, upload-artifact), not this action;
 *   - cancel(): what the runner does to a cancelled or timed-out job — SIGINT to the running step's
 *     process, SIGTERM `sigtermAfterMs` later (7.5 s), SIGKILL 2.5 s after that; then only steps whose
 *     `if:` holds always() or cancelled() run.
 *
 * Workflow commands in a step's output are parsed with the runner's own parser (./runner-commands.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { runnerCommands, type RunnerCommand } from './runner-commands.js';

export interface UsesStep {
  id: string | undefined;
  name: string;
  uses: string;
  with: Record<string, string>;
}

export type UsesHandler = (step: UsesStep) => Promise<{ outputs?: Record<string, string>; ok?: boolean }> | { outputs?: Record<string, string>; ok?: boolean };

export interface StepRecord {
  id: string | undefined;
  name: string;
  /** null: skipped by its `if:`. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  outcome: 'success' | 'failure' | 'cancelled' | 'skipped';
  conclusion: 'success' | 'failure' | 'cancelled' | 'skipped';
  stdout: string;
  stderr: string;
  commands: RunnerCommand[];
  outputs: Record<string, string>;
  env: Record<string, string>;
}

export interface CompositeResult {
  steps: StepRecord[];
  /** action.yml's `outputs:`, evaluated at the end. */
  outputs: Record<string, string>;
  /** The job summary: every step's GITHUB_STEP_SUMMARY, in order. */
  summary: string;
  /** success, failure or cancelled: what the runner shows for the action's step. */
  result: 'success' | 'failure' | 'cancelled';
  step(idOrName: string): StepRecord | undefined;
}

export interface CompositeOptions {
  /** The folder holding action.yml (GITHUB_ACTION_PATH). */
  actionDir: string;
  inputs: Record<string, string>;
  /** The runner's environment for every step (GITHUB_*, RUNNER_*, PATH, HOME). */
  env: Record<string, string>;
  /** The `github` context: token, and anything else the expressions read. */
  github: Record<string, string>;
  runner?: Record<string, string>;
  uses: Record<string, UsesHandler>;
  /** Where the runner writes step scripts and per-step files (RUNNER_TEMP). */
  runnerTemp: string;
  /** Called when a step's process starts. */
  onStepStart?: (step: { id: string | undefined; name: string }, child: ChildProcess) => void;
  sigtermAfterMs?: number;
  /** SIGKILL this long after SIGTERM (default 2500, the runner's); Infinity: never, so a test can wait for the step to end by itself. */
  sigkillAfterMs?: number;
}

export interface CompositeRun {
  done: Promise<CompositeResult>;
  /** Cancels the job: SIGINT to the running step, SIGTERM after `sigtermAfterMs` (7.5 s), SIGKILL `sigkillAfterMs` (2.5 s) later; Infinity: never. */
  cancel(): void;
}

/** A GITHUB_OUTPUT file as the runner reads it: `name=value` lines and `name<<DELIMITER` blocks. */
export function parseFileCommand(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    const eq = line.indexOf('=');
    if (heredoc && (eq < 0 || eq > line.indexOf('<<'))) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i]!);
      if (i >= lines.length) throw new Error(`GITHUB_OUTPUT: no closing ${heredoc[2]} for ${heredoc[1]}`);
      out[heredoc[1]!] = value.join('\n');
    } else if (eq > 0) {
      out[line.slice(0, eq)] = line.slice(eq + 1);
    } else {
      throw new Error(`GITHUB_OUTPUT: invalid line ${JSON.stringify(line)}`);
    }
  }
  return out;
}

// ------------------------------------------------------------------ expressions

type Value = string | number | boolean | null | { [k: string]: Value } | undefined;

interface Scope {
  lookup(root: string): Value;
  status: { failed: boolean; cancelled: boolean };
}

type Token = { t: 'str' | 'num' | 'id' | 'op'; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = '';
      for (i++; i < src.length; i++) {
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i++;
          } else break;
        } else s += src[i];
      }
      i++;
      out.push({ t: 'str', v: s });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9.]+/.exec(src.slice(i))![0];
      out.push({ t: 'num', v: m });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))![0];
      out.push({ t: 'id', v: m });
      i += m.length;
    } else {
      const two = src.slice(i, i + 2);
      if (['==', '!=', '&&', '||', '<=', '>='].includes(two)) {
        out.push({ t: 'op', v: two });
        i += 2;
      } else {
        out.push({ t: 'op', v: c });
        i++;
      }
    }
  }
  return out;
}

function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0) return false;
  return true;
}

function str(v: Value): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function loose(a: Value, b: Value): boolean {
  // GitHub: strings compare case-insensitively; null and '' are equal after coercion to string here.
  if (typeof a === 'boolean' || typeof b === 'boolean') return truthy(a) === truthy(b) && typeof a === typeof b;
  return str(a).toLowerCase() === str(b).toLowerCase();
}

/** A recursive-descent evaluator for the expression language's subset action.yml uses. */
export function evaluate(expr: string, scope: Scope): Value {
  const toks = tokenize(expr);
  let p = 0;
  const peek = (): Token | undefined => toks[p];
  const eat = (v?: string): Token => {
    const t = toks[p++];
    if (!t || (v !== undefined && t.v !== v)) throw new Error(`expression ${JSON.stringify(expr)}: expected ${v ?? 'a token'} at ${p - 1}`);
    return t;
  };
  const primary = (): Value => {
    const t = eat();
    if (t.t === 'str') return t.v;
    if (t.t === 'num') return Number(t.v);
    if (t.t === 'op' && t.v === '(') {
      const v = or();
      eat(')');
      return v;
    }
    if (t.t === 'op' && t.v === '!') return !truthy(primary());
    if (t.t !== 'id') throw new Error(`expression ${JSON.stringify(expr)}: unexpected ${t.v}`);
    if (t.v === 'true') return true;
    if (t.v === 'false') return false;
    if (t.v === 'null') return null;
    if (peek()?.v === '(') {
      eat('(');
      const args: Value[] = [];
      while (peek()?.v !== ')') {
        args.push(or());
        if (peek()?.v === ',') eat(',');
      }
      eat(')');
      const fn = t.v.toLowerCase();
      if (fn === 'success') return !scope.status.failed && !scope.status.cancelled;
      if (fn === 'failure') return scope.status.failed && !scope.status.cancelled;
      if (fn === 'cancelled') return scope.status.cancelled;
      if (fn === 'always') return true;
      if (fn === 'contains') return str(args[0]).toLowerCase().includes(str(args[1]).toLowerCase());
      if (fn === 'format') return str(args[0]).replace(/\{(\d+)\}/g, (_, i: string) => str(args[Number(i) + 1]));
      throw new Error(`expression function ${t.v} is not supported here`);
    }
    let v: Value = scope.lookup(t.v);
    for (;;) {
      if (peek()?.v === '.') {
        eat('.');
        const k = eat().v;
        v = v && typeof v === 'object' ? (v as Record<string, Value>)[k] : undefined;
      } else if (peek()?.v === '[') {
        eat('[');
        const k = str(or());
        eat(']');
        v = v && typeof v === 'object' ? (v as Record<string, Value>)[k] : undefined;
      } else break;
    }
    return v === undefined ? null : v;
  };
  const cmp = (): Value => {
    let l = primary();
    while (peek()?.v === '==' || peek()?.v === '!=') {
      const op = eat().v;
      const r = primary();
      l = op === '==' ? loose(l, r) : !loose(l, r);
    }
    return l;
  };
  const and = (): Value => {
    let l = cmp();
    while (peek()?.v === '&&') {
      eat();
      const r = cmp();
      l = truthy(l) ? r : l;
    }
    return l;
  };
  const or = (): Value => {
    let l = and();
    while (peek()?.v === '||') {
      eat();
      const r = and();
      l = truthy(l) ? l : r;
    }
    return l;
  };
  const v = or();
  if (p !== toks.length) throw new Error(`expression ${JSON.stringify(expr)}: trailing ${toks[p]!.v}`);
  return v;
}

/** A string with `${{ … }}` parts replaced by their values. */
export function interpolate(text: string, scope: Scope): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, e: string) => str(evaluate(e, scope)));
}

/** An `if:` condition: `${{ }}` optional; a condition without a status function gets success() && …. */
export function condition(text: string | undefined, scope: Scope): boolean {
  if (text === undefined) return truthy(evaluate('success()', scope));
  const bare = String(text)
    .trim()
    .replace(/^\$\{\{([\s\S]*)\}\}$/, '$1');
  const hasStatus = /\b(success|failure|always|cancelled)\s*\(/.test(bare);
  return truthy(evaluate(hasStatus ? bare : `success() && (${bare})`, scope));
}

// ------------------------------------------------------------------ steps

interface ActionStep {
  id?: string;
  name?: string;
  if?: string;
  shell?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
  'continue-on-error'?: boolean | string;
}

interface ActionYml {
  inputs?: Record<string, { default?: string }>;
  outputs?: Record<string, { value: string }>;
  runs: { using: string; steps: ActionStep[] };
}

export function runComposite(opts: CompositeOptions): CompositeRun {
  const doc = parse(readFileSync(path.join(opts.actionDir, 'action.yml'), 'utf8')) as ActionYml;
  const status = { failed: false, cancelled: false };
  const stepsCtx: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }> = {};
  const githubCtx: Record<string, Value> = { action_path: opts.actionDir, ...opts.github };
  const runnerCtx: Record<string, Value> = { os: 'Linux', arch: 'X64', temp: opts.runnerTemp, ...opts.runner };
  const inputs: Record<string, Value> = {};
  const scope: Scope = {
    status,
    lookup: (root) => {
      if (root === 'inputs') return inputs;
      if (root === 'steps') return stepsCtx as unknown as Value;
      if (root === 'github') return githubCtx;
      if (root === 'runner') return runnerCtx;
      if (root === 'env') return opts.env;
      throw new Error(`expression context ${root} is not supported here`);
    },
  };
  for (const [name, spec] of Object.entries(doc.inputs ?? {})) {
    inputs[name] = opts.inputs[name] ?? interpolate(String(spec.default ?? ''), scope);
  }
  for (const name of Object.keys(opts.inputs)) {
    if (!(name in inputs)) throw new Error(`action.yml has no input ${name}`);
  }

  let current: ChildProcess | null = null;
  const timers: NodeJS.Timeout[] = [];
  const cancel = (): void => {
    if (status.cancelled) return;
    status.cancelled = true;
    const child = current;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGINT');
    const term = opts.sigtermAfterMs ?? 7500;
    if (!Number.isFinite(term)) return; // a test that waits for the step to end by itself
    timers.push(
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const kill = opts.sigkillAfterMs ?? 2500;
        if (Number.isFinite(kill)) timers.push(setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), kill));
      }, term),
    );
  };

  const runShell = (step: ActionStep, index: number, env: Record<string, string>): Promise<StepRecord> => {
    const dir = path.join(opts.runnerTemp, '_runner_file_commands');
    mkdirSync(dir, { recursive: true });
    const script = path.join(opts.runnerTemp, `step-${index}.sh`);
    writeFileSync(script, interpolate(step.run!, scope));
    const outputFile = path.join(dir, `set_output_${index}`);
    const summaryFile = path.join(dir, `step_summary_${index}`);
    writeFileSync(outputFile, '');
    writeFileSync(summaryFile, '');
    const fullEnv = { ...opts.env, GITHUB_ACTION_PATH: opts.actionDir, ...env, GITHUB_OUTPUT: outputFile, GITHUB_STEP_SUMMARY: summaryFile };
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { cwd: opts.env['GITHUB_WORKSPACE'], env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      current = child;
      opts.onStepStart?.({ id: step.id, name: step.name ?? '' }, child);
      if (status.cancelled) cancel();
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        current = null;
        const ok = code === 0;
        const outcome = ok ? 'success' : status.cancelled ? 'cancelled' : 'failure';
        resolve({
          id: step.id,
          name: step.name ?? '',
          exitCode: code,
          signal,
          outcome,
          conclusion: outcome,
          stdout,
          stderr,
          commands: runnerCommands(`${stdout}\n${stderr}`),
          outputs: parseFileCommand(readFileSync(outputFile, 'utf8')),
          env: fullEnv,
        });
        summaries.push(readFileSync(summaryFile, 'utf8'));
      });
    });
  };

  const summaries: string[] = [];
  const records: StepRecord[] = [];

  const done = (async (): Promise<CompositeResult> => {
    try {
      for (const [index, step] of doc.runs.steps.entries()) {
        const name = step.name ?? step.uses ?? step.run ?? '';
        if (!condition(step.if, scope)) {
          const rec: StepRecord = { id: step.id, name, exitCode: null, signal: null, outcome: 'skipped', conclusion: 'skipped', stdout: '', stderr: '', commands: [], outputs: {}, env: {} };
          records.push(rec);
          if (step.id) stepsCtx[step.id] = { outputs: {}, outcome: 'skipped', conclusion: 'skipped' };
          continue;
        }
        const env = Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, interpolate(String(v), scope)]));
        let rec: StepRecord;
        if (step.run !== undefined) {
          if (step.shell !== 'bash') throw new Error(`step ${name}: only shell: bash is run here`);
          rec = await runShell(step, index, env);
        } else {
          const uses = String(step.uses);
          const key = uses.replace(/@.*$/, '');
          const handler = opts.uses[key];
          if (!handler) throw new Error(`step ${name}: no handler for ${uses}`);
          const withs = Object.fromEntries(Object.entries(step.with ?? {}).map(([k, v]) => [k, interpolate(String(v), scope)]));
          const res = await handler({ id: step.id, name, uses, with: withs });
          const outcome = res.ok === false ? 'failure' : 'success';
          rec = { id: step.id, name, exitCode: res.ok === false ? 1 : 0, signal: null, outcome, conclusion: outcome, stdout: '', stderr: '', commands: [], outputs: res.outputs ?? {}, env };
        }
        const coe = step['continue-on-error'] === true || step['continue-on-error'] === 'true';
        if (rec.outcome === 'failure' && coe) rec.conclusion = 'success';
        if (rec.conclusion === 'failure') status.failed = true;
        records.push(rec);
        if (step.id) stepsCtx[step.id] = { outputs: rec.outputs, outcome: rec.outcome, conclusion: rec.conclusion };
      }
    } finally {
      for (const t of timers) clearTimeout(t);
    }
    const outputs = Object.fromEntries(Object.entries(doc.outputs ?? {}).map(([k, o]) => [k, interpolate(o.value, scope)]));
    return {
      steps: records,
      outputs,
      summary: summaries.join(''),
      result: status.cancelled ? 'cancelled' : status.failed ? 'failure' : 'success',
      step: (idOrName) => records.find((r) => r.id === idOrName || r.name === idOrName),
    };
  })();
  return { done, cancel };
}
