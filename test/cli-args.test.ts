/**
 * The command line's rules as pure functions: parsing (src/cli-args.ts), the arguments each command
 * takes, the exit code of a finished run and of one stopped by an error (src/app/exit-code.ts), and the
 * report of a run that stopped (src/app/report-base.ts). The end-to-end behaviour is test/cli.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { applyFlags, parseCommandLine, positionalError } from '../src/cli-args.js';
import { describeRunError, exitCodeOf, modelInputErrors } from '../src/app/exit-code.js';
import { runErrorReport } from '../src/app/report-base.js';
import { defaultConfig } from '../src/config/schema.js';
import { PolicyGateError, inputError, usageError } from '../src/core/errors.js';
import type { Report } from '../src/core/report.js';

const errorOf = (argv: string[]): { message: string; out?: string } => {
  const line = parseCommandLine(argv);
  if (line.kind !== 'error') throw new Error(`expected a usage error, got ${line.kind}`);
  expect(line.error.kind).toBe('usage');
  return { message: line.error.message, ...(line.out !== undefined ? { out: line.out } : {}) };
};

describe('parseCommandLine', () => {
  it('no command is the usage with exit 2; --help, -h and help are the usage with exit 0', () => {
    expect(parseCommandLine([])).toEqual({ kind: 'usage', exitCode: 2 });
    for (const a of ['--help', '-h', 'help']) expect(parseCommandLine([a])).toEqual({ kind: 'usage', exitCode: 0 });
    expect(parseCommandLine(['help', 'nonsense'])).toEqual({ kind: 'usage', exitCode: 0 });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
  });

  it("a command's help wins over anything else on the line, a bad flag included", () => {
    expect(parseCommandLine(['help', 'gate'])).toEqual({ kind: 'help', command: 'gate' });
    expect(parseCommandLine(['gate', 'a.zip', '--bogus', '-h'])).toEqual({ kind: 'help', command: 'gate' });
  });

  it('a mistyped command or flag is a usage error with a guess; a flag of another command names the command', () => {
    expect(errorOf(['validat', 'a.zip']).message).toBe('unknown command "validat"; did you mean validate? (run policy-gate --help)');
    expect(errorOf(['--bogus']).message).toBe('unknown command "--bogus" (run policy-gate --help)');
    expect(errorOf(['backtest', '--walkforward', '5']).message).toBe('unknown flag --walkforward for "backtest"; did you mean --walk-forward? (run policy-gate backtest --help)');
    expect(errorOf(['gate', 'a.zip', '--days', '5'])).toEqual({ message: expect.stringContaining('--days does not apply to "gate"') });
  });

  it('a flag that does not apply still leaves --out, where the failure report goes', () => {
    expect(errorOf(['merge', 'p.json', '--out', 'o', '--config', 'c.yml'])).toEqual({ message: expect.stringContaining('--config does not apply to "merge"'), out: 'o' });
  });

  it("a name on Object's prototype is an unknown command, not a crash", () => {
    expect(errorOf(['constructor']).message).toBe('unknown command "constructor" (run policy-gate --help)');
    expect(errorOf(['toString', 'a.zip']).message).toMatch(/^unknown command "toString"/);
    expect(parseCommandLine(['help', 'constructor'])).toEqual({ kind: 'usage', exitCode: 0 });
  });

  it('a command with its flags and arguments', () => {
    expect(parseCommandLine(['validate', 'a.zip', '--days', '90', '--json'])).toEqual({
      kind: 'run',
      command: 'validate',
      values: { days: '90', json: true },
      positionals: ['a.zip'],
    });
  });
});

describe('positionalError', () => {
  const msg = (...a: Parameters<typeof positionalError>): string | null => positionalError(...a)?.message ?? null;

  it('gate and validate take exactly one archive', () => {
    expect(msg('gate', {}, ['a.zip'])).toBeNull();
    expect(msg('validate', {}, [])).toBe('"validate" takes exactly one archive (a .zip file or a folder), got 0');
    expect(msg('gate', {}, ['a', 'b'])).toBe('"gate" takes exactly one archive (a .zip file or a folder), got 2');
  });

  it('backtest takes no arguments and needs --model', () => {
    expect(msg('backtest', { model: 'm.onnx' }, [])).toBeNull();
    expect(msg('backtest', { model: 'm.onnx' }, ['x'])).toBe('"backtest" takes no positional arguments; use --model <file.onnx>');
    expect(msg('backtest', {}, [])).toBe('"backtest" needs --model <file.onnx>');
  });

  it('check takes an archive or --model, not both; --card only with --model', () => {
    expect(msg('check', {}, ['a.zip'])).toBeNull();
    expect(msg('check', { model: 'm.onnx', card: 'c.json' }, [])).toBeNull();
    expect(msg('check', { model: 'm.onnx' }, ['a.zip'])).toBe('"check" takes an archive or --model <file.onnx>, not both');
    expect(msg('check', {}, [])).toContain('"check" takes exactly one archive');
    expect(msg('check', { card: 'c.json' }, ['a.zip'])).toBe('--card goes with --model <file.onnx>');
  });

  it('promote, revalidate and track take no arguments; merge takes any number', () => {
    for (const c of ['promote', 'revalidate', 'track'] as const) {
      expect(msg(c, {}, [])).toBeNull();
      expect(msg(c, {}, ['x'])).toContain(`"${c}" takes no positional arguments`);
    }
    expect(msg('merge', {}, [])).toBeNull();
    expect(msg('merge', {}, ['a', 'b', 'c'])).toBeNull();
  });
});

describe('applyFlags', () => {
  it('--days is the walk-forward window of validate but the backtest of backtest', () => {
    const base = defaultConfig();
    expect(applyFlags(base, 'validate', { days: '90' }).walkForward.days).toBe(90);
    expect(applyFlags(base, 'validate', { days: '90' }).backtest.days).toBe(base.backtest.days);
    expect(applyFlags(base, 'backtest', { days: '20' }).backtest.days).toBe(20);
    expect(applyFlags(base, 'backtest', { days: '20' }).walkForward.days).toBe(base.walkForward.days);
    expect(() => applyFlags(base, 'validate', { 'walk-forward': '2.5' })).toThrow('--walk-forward must be a positive integer, got "2.5"');
  });
});

const report = (r: Partial<Pick<Report, 'conclusion' | 'infraErrors' | 'models'>>): Pick<Report, 'conclusion' | 'infraErrors' | 'models'> => ({
  conclusion: 'failure',
  infraErrors: [],
  models: [],
  ...r,
});
const notEvaluated = (id: string, kind: 'input' | 'model' | 'infra', reason: string): Report['models'][number] => ({ id, notEvaluated: { kind, reason } }) as unknown as Report['models'][number];
const clean = { writeFailed: false, failedOnInput: false };

describe('exitCodeOf', () => {
  it('success 0, a model fell short 1', () => {
    expect(exitCodeOf(report({ conclusion: 'success' }), clean)).toBe(0);
    expect(exitCodeOf(report({ conclusion: 'failure' }), clean)).toBe(1);
  });

  it('an infrastructure error is 3, whatever the conclusion', () => {
    expect(exitCodeOf(report({ conclusion: 'success', infraErrors: ['alpaca unreachable'] }), clean)).toBe(3);
  });

  it("the run's own bad input is 2: on a model, or the run failed on it", () => {
    expect(exitCodeOf(report({ conclusion: 'success', models: [notEvaluated('A', 'input', 'no bars')] }), clean)).toBe(2);
    expect(exitCodeOf(report({ conclusion: 'failure', models: [notEvaluated('A', 'model', 'bad onnx')] }), clean)).toBe(1);
    expect(exitCodeOf(report({ conclusion: 'failure' }), { writeFailed: false, failedOnInput: true })).toBe(2);
  });

  it('a report --out could not take is 2, before everything else', () => {
    expect(exitCodeOf(report({ conclusion: 'success', infraErrors: ['x'] }), { writeFailed: true, failedOnInput: false })).toBe(2);
  });
});

describe('modelInputErrors', () => {
  it('names each model not evaluated for bad input, once', () => {
    const r = report({ models: [notEvaluated('A', 'input', 'no bars for BTC'), notEvaluated('B', 'model', 'bad onnx'), notEvaluated('C', 'input', 'C: window too long')] });
    expect(modelInputErrors(r)).toEqual(['A: no bars for BTC', 'C: window too long']);
  });
});

describe('describeRunError', () => {
  it("a PolicyGateError is the user's: its message and its exit code (3 infra, 2 input or usage)", () => {
    expect(describeRunError(new PolicyGateError('infra', 'alpaca down'))).toEqual({ known: true, message: 'alpaca down', reportError: 'alpaca down', infra: true, exitCode: 3 });
    expect(describeRunError(inputError('bad card')).exitCode).toBe(2);
    expect(describeRunError(usageError('bad flag')).infra).toBe(false);
  });

  it('a full disk met during the run is an input error naming the file, exit 2', () => {
    const e = describeRunError(Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC', path: 'out/equity.csv' }));
    expect(e.known).toBe(true);
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('out/equity.csv: cannot write there (ENOSPC');
  });

  it('anything else is an internal error: the stack on stderr, its first line in the report, exit 2', () => {
    const err = new Error('boom');
    const e = describeRunError(err);
    expect(e).toMatchObject({ known: false, infra: false, exitCode: 2, reportError: 'internal error: Error: boom' });
    expect(e.message).toBe(`internal error: ${err.stack}`);
    expect(describeRunError('a string').message).toBe('internal error: a string');
  });
});

describe('runErrorReport', () => {
  it('a failure whose only reason is the error; an infrastructure error listed as one', () => {
    const r = runErrorReport('validate', defaultConfig(), null, new Date('2024-01-02T00:00:00Z'), 'alpaca down', 'alpaca down');
    expect(r).toMatchObject({ command: 'validate', conclusion: 'failure', errors: ['alpaca down'], infraErrors: ['alpaca down'], conclusionReasons: ['run error: alpaca down'], models: [] });
    expect(runErrorReport('gate', defaultConfig(), null, new Date(), 'bad').infraErrors).toEqual([]);
  });
});
