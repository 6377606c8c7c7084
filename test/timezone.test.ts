/**
 * One timestamp parser for the whole program (src/core/time.ts): text without a UTC offset is UTC, for
 * `--end`, the Action's `end` input, bars and cards alike — so the same command on the same data
 * evaluates the same window under any TZ. (Date.parse reads "2024-09-01T13:00:00" in the machine's
 * local time zone, and the two copies of the old parser did exactly that.)
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseInputs } from '../src/action/inputs.js';
import { parseEnd } from '../src/cli.js';
import { parseIsoUtc } from '../src/core/card.js';
import { parseIsoTimestamp, parseUtc } from '../src/core/time.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFiles, MODELS_DIR, runCli, tempDir } from './helpers/e2e.js';
import { writeFileSync } from 'node:fs';

const ZONES = ['UTC', 'America/New_York', 'Asia/Tokyo'];
const savedTz = process.env.TZ;
let modelPath: string;

beforeAll(() => {
  const files = exampleFiles();
  const dir = tempDir('tz-');
  writeFileSync(path.join(dir, 'BTCUSD_1Hour.onnx'), files[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!);
  writeFileSync(path.join(dir, 'BTCUSD_1Hour.card.json'), files[`${MODELS_DIR}/BTCUSD_1Hour.card.json`]!);
  modelPath = path.join(dir, 'BTCUSD_1Hour.onnx');
});
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});
afterAll(cleanupTempDirs);

describe('a timestamp without an offset is UTC under every TZ', () => {
  it('the zones really differ here (Date.parse reads naive text as local time)', () => {
    const local = ZONES.map((tz) => {
      process.env.TZ = tz;
      return Date.parse('2024-09-01T13:00:00');
    });
    expect(new Set(local).size).toBe(3);
  });

  it('--end, the Action input, cards and bars parse the same text to the same instant', () => {
    const utc = Date.UTC(2024, 8, 1, 13, 0, 0);
    for (const tz of ZONES) {
      process.env.TZ = tz;
      expect(parseEnd('2024-09-01T13:00:00'), tz).toBe(utc);
      expect(parseEnd('2024-09-01T13:00:00Z'), tz).toBe(utc);
      expect(parseEnd('2024-09-01T15:00:00+02:00'), tz).toBe(utc);
      expect(parseEnd('2024-09-01'), tz).toBe(Date.UTC(2024, 8, 1));
      expect(parseUtc(' 2024-09-01 13:00 '), tz).toBe(utc);
      expect(parseIsoUtc('2024-09-01T13:00:00'), tz).toBe(utc);
      expect(parseIsoTimestamp('2024-09-01T13:00:00.000'), tz).toBe(utc);
      const inputs = parseInputs({ 'INPUT_GITHUB-TOKEN': 'ghs_x', INPUT_END: '2024-09-01T13:00:00' } as NodeJS.ProcessEnv);
      expect(inputs.endMs, tz).toBe(utc);
    }
    expect(() => parseEnd('2024-09-01T25:00:00')).toThrow('--end must be an ISO 8601 date or time');
    expect(() => parseEnd('September 1, 2024')).toThrow('--end must be an ISO 8601 date or time');
  });

  it('the same backtest with a naive --end evaluates the same window, bit for bit, under UTC, New York and Tokyo', async () => {
    const reports: string[] = [];
    for (const tz of ZONES) {
      process.env.TZ = tz;
      const r = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '30', '--end', '2024-09-01T13:00:00', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.models[0].backtest.end).toBe('2024-09-01T13:00:00.000Z');
      reports.push(JSON.stringify(report.models[0].backtest));
    }
    expect(reports[1]).toBe(reports[0]);
    expect(reports[2]).toBe(reports[0]);
  });
});
