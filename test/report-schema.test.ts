/**
 * schemas/report.json against the reports the CLI really writes: the bundled example's validate run
 * (--out), gate, backtest with and without --walk-forward, a model that could not be evaluated, a
 * partial shard report and an interrupted run; and a report with a field missing, of the wrong type or
 * unknown is rejected at that field.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishedSchemas } from '../src/app/schemas.js';
import { interruptedReport } from '../src/app/interrupt.js';
import type { Report } from '../src/core/report.js';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, exampleFiles, MODELS_DIR, runCli, tempDir, writeTree } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

const validate = new Ajv2020({ strict: false, allErrors: true }).compile(publishedSchemas()['report.json']!);
const check = (doc: unknown): { ok: boolean; errors: string[] } => {
  const ok = validate(doc) as boolean;
  return {
    ok,
    errors: (validate.errors ?? []).map(
      (e) => `${e.instancePath} ${e.message}${e.keyword === 'additionalProperties' ? ` ${String((e.params as { additionalProperty: string }).additionalProperty)}` : ''}`,
    ),
  };
};
const valid = { ok: true, errors: [] };
const json = (stdout: string): Report => JSON.parse(stdout) as Report;
const copy = (r: Report): any => JSON.parse(JSON.stringify(r));

describe('schemas/report.json', () => {
  let example: Report;
  let modelPath: string;
  /** A bars folder without the example's BTCUSD bars: every model is "not evaluated" (kind input). */
  let noBars: string;

  beforeAll(async () => {
    const out = tempDir('report-schema-');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out]);
    expect(r.code, r.stderr).toBe(1); // the example holds models built to fail
    example = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as Report;
    const files = exampleFiles();
    const dir = tempDir('report-schema-model-');
    writeTree(dir, {
      'BTCUSD_1Hour.onnx': files[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!,
      'BTCUSD_1Hour.card.json': files[`${MODELS_DIR}/BTCUSD_1Hour.card.json`]!,
    });
    modelPath = path.join(dir, 'BTCUSD_1Hour.onnx');
    noBars = tempDir('report-schema-bars-');
    writeFileSync(path.join(noBars, 'ETHUSD_1Hour.csv'), readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv')));
  });

  it('accepts the bundled example’s report.json (validate --out), null metrics and not-evaluated models included', () => {
    expect(check(example)).toEqual(valid);
    expect(example.models.length).toBeGreaterThan(3);
    expect(example.models.some((m) => m.walkForward?.folds.length)).toBe(true);
    expect(example.models.some((m) => m.errors.length > 0)).toBe(true);
  });

  it('accepts a metric that is null with its reason', () => {
    const r = copy(example);
    const m = r.models.find((x: any) => x.backtest)!;
    m.backtest.metrics.sharpe = null;
    m.backtest.metrics.undefinedReasons.sharpe = 'no returns with variance';
    expect(check(r)).toEqual(valid);
  });

  it('accepts the reports of gate, backtest, backtest --walk-forward and a backtest that could not evaluate its model', async () => {
    const runs = await Promise.all([
      runCli(['gate', EXAMPLE_ZIP, '--json']),
      runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '30', '--json']),
      runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '180', '--walk-forward', '5', '--json']),
      runCli(['backtest', '--model', modelPath, '--data', noBars, '--json']),
    ]);
    const [gate, backtest, walkForward, missing] = runs.map((r) => json(r.stdout));
    expect(gate!.command).toBe('gate');
    expect(backtest!.models[0]!.backtest).not.toBeNull();
    expect(walkForward!.models[0]!.walkForward?.folds).toHaveLength(5);
    expect(missing!.models[0]!.notEvaluated?.kind).toBe('input');
    for (const [i, r] of [gate, backtest, walkForward, missing].entries()) expect(check(r), `run ${i}`).toEqual(valid);
  });

  it('accepts a partial shard report (validate --shard) and a validate run that evaluated no model', async () => {
    const shard = json((await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--shard', '2/3', '--json'])).stdout);
    expect(shard.shard?.index).toBe(2);
    expect(check(shard)).toEqual(valid);
    const none = json((await runCli(['validate', EXAMPLE_ZIP, '--data', noBars, '--json'])).stdout);
    expect(none.conclusion).toBe('failure');
    expect(none.models.some((m) => m.notEvaluated?.kind === 'input')).toBe(true);
    expect(check(none)).toEqual(valid);
  });

  it('accepts the report of an interrupted run', () => {
    const r = interruptedReport('SIGTERM', copy(example));
    expect(r.conclusionReasons).toEqual(['run interrupted by SIGTERM: nothing was decided']);
    expect(check(r)).toEqual(valid);
  });

  const rejects: [string, (r: any) => void, string][] = [
    ['a missing required field (generatedAt)', (r) => delete r.generatedAt, "must have required property 'generatedAt'"],
    ['a missing model field (decision)', (r) => delete r.models[0].decision, "/models/0 must have required property 'decision'"],
    ['a wrong type (schemaVersion as text)', (r) => (r.schemaVersion = '1'), '/schemaVersion must be equal to constant'],
    ['a metric that is text', (r) => (r.models.find((m: any) => m.backtest).backtest.metrics.sharpe = 'high'), '/backtest/metrics/sharpe must be number,null'],
    ['an unknown tier', (r) => (r.models[0].requested = 'GOLD'), '/models/0/requested must be equal to one of the allowed values'],
    ['an unknown field on a model', (r) => (r.models[0].score = 1), '/models/0 must NOT have additional properties score'],
    ['a conclusion other than success or failure', (r) => (r.conclusion = 'maybe'), '/conclusion must be equal to one of the allowed values'],
  ];
  it.each(rejects)('rejects %s', (_what, edit, message) => {
    const r = copy(example);
    edit(r);
    const res = check(r);
    expect(res.ok).toBe(false);
    expect(
      res.errors.some((e) => e.includes(message)),
      res.errors.join('\n'),
    ).toBe(true);
  });
});
