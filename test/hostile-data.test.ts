/**
 * Hostile case: bad market data (SPEC section 4; threats.md B5, A6; docs/threat-model.md).
 *
 * Each fault is planted in a copy of the example's bar files, and validate must give a clear
 * per-model error (naming the file and line) or a data-quality note — and never a made-up number:
 * every metric in report.json is a finite number, or null with a reason (scanned below), and the
 * models whose data is intact come out exactly as in a clean run.
 */
import { closeSync, cpSync, ftruncateSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { cleanupTempDirs, EXAMPLE_DATA, EXAMPLE_ZIP, runCli, tempDir } from './helpers/e2e.js';

const END = '2024-09-10T00:00:00Z';
const IDS = ['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day'];

interface Note {
  kind: string;
  message: string;
  count?: number;
}
interface ModelJson {
  id: string;
  errors: string[];
  dataQuality: Note[];
  backtest: { metrics: Record<string, unknown> } | null;
  walkForward: { folds: { metrics: Record<string, unknown> }[]; summary: Record<string, unknown> } | null;
  [k: string]: unknown;
}
interface ReportJson {
  conclusion: string;
  models: ModelJson[];
}

/**
 * Every metric object in the report (backtest, folds, walk-forward summary, evidence): each value is
 * a finite number, or null with an entry in its undefinedReasons. Returns the offenders.
 */
function metricProblems(report: ReportJson): string[] {
  const problems: string[] = [];
  const check = (where: string, obj: Record<string, unknown> | undefined | null): void => {
    if (!obj) return;
    const reasons = (obj['undefinedReasons'] ?? {}) as Record<string, string>;
    for (const [k, v] of Object.entries(obj)) {
      if (k === 'undefinedReasons' || k === 'notes' || k === 'rating') continue;
      if (v === null && !(typeof reasons[k] === 'string' && reasons[k]!.length > 0)) problems.push(`${where}.${k} is null without a reason`);
      if (typeof v === 'number' && !Number.isFinite(v)) problems.push(`${where}.${k} is ${v}`);
    }
  };
  for (const m of report.models) {
    check(`${m.id}.backtest.metrics`, m.backtest?.metrics);
    m.walkForward?.folds.forEach((f, i) => {
      check(`${m.id}.folds[${i}].metrics`, f.metrics);
    });
    check(`${m.id}.walkForward.summary`, m.walkForward?.summary);
  }
  return problems;
}

/** A copy of the example bars with `edit` applied, validated. */
async function validateWith(edit: (dir: string) => void): Promise<{ code: number; stderr: string; report: ReportJson; text: string }> {
  const ws = tempDir('data-');
  const data = path.join(ws, 'bars');
  cpSync(EXAMPLE_DATA, data, { recursive: true });
  edit(data);
  const run = await runCli(['validate', EXAMPLE_ZIP, '--data', data, '--out', path.join(ws, 'out'), '--end', END], ws);
  const text = readFileSync(path.join(ws, 'out', 'report.json'), 'utf8');
  return { code: run.code, stderr: run.stderr, report: JSON.parse(text), text };
}

/** Edits the data rows (not the header) of one CSV file. */
function editRows(dir: string, file: string, edit: (rows: string[]) => string[]): void {
  const p = path.join(dir, file);
  const [header, ...rows] = readFileSync(p, 'utf8').trimEnd().split('\n');
  writeFileSync(p, [header, ...edit(rows)].join('\n') + '\n');
}

/** The index of the row whose timestamp is `iso`. */
function rowAt(rows: string[], iso: string): number {
  const i = rows.findIndex((r) => r.startsWith(iso));
  expect(i, iso).toBeGreaterThan(0);
  return i;
}

let clean: ReportJson;
beforeAll(async () => {
  clean = (await validateWith(() => {})).report;
  expect(metricProblems(clean)).toEqual([]);
}, 60_000);
afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

function expectUnchanged(report: ReportJson, ids: string[]): void {
  for (const id of ids)
    expect(
      report.models.find((m) => m.id === id),
      id,
    ).toEqual(clean.models.find((m) => m.id === id));
}

describe('impossible prices: a per-model error naming the file and the line', () => {
  it.each([
    ['NaN', "close 'NaN' is not a number"],
    ['Infinity', "close 'Infinity' is not a number"],
    ['-Infinity', "close '-Infinity' is not a number"],
    ['0', 'non-positive price: close 0'],
    ['', 'empty close'],
  ])('close %j in the 4-hour bars', async (value, problem) => {
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_4Hour.csv', (rows) => {
        const i = rowAt(rows, '2024-08-01T00:00:00Z');
        const f = rows[i]!.split(',');
        f[4] = value;
        rows[i] = f.join(',');
        return rows;
      }),
    );
    expect(r.code).toBe(2); // the bars are the run's input: bad input, that model not evaluated
    const m = r.report.models.find((x) => x.id === 'BTCUSD_4Hour')!;
    expect(m.errors).toHaveLength(1);
    expect(m.notEvaluated).toEqual({ reason: m.errors[0], kind: 'input' });
    expect(m.decision).toBeNull();
    const line =
      1 +
      1 +
      readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_4Hour.csv'), 'utf8')
        .split('\n')
        .slice(1)
        .findIndex((l) => l.startsWith('2024-08-01T00:00:00Z'));
    expect(m.errors[0]).toMatch(new RegExp(`BTCUSD_4Hour\\.csv: 1 impossible or unreadable bar: line ${line}: ${problem.replace(/[()]/g, '\\$&')}\\. Fix or remove these rows\\.$`));
    expect(m.backtest).toBeNull();
    expectUnchanged(r.report, ['BTCUSD_1Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']);
    expect(metricProblems(r.report)).toEqual([]);
  });
});

describe('disorder: a data-quality note, and the same results', () => {
  it('unsorted rows are sorted', async () => {
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_2Hour.csv', (rows) => {
        const i = rowAt(rows, '2024-08-15T00:00:00Z');
        [rows[i], rows[i + 1]] = [rows[i + 1]!, rows[i]!];
        return rows;
      }),
    );
    const m = r.report.models.find((x) => x.id === 'BTCUSD_2Hour')!;
    expect(m.dataQuality).toContainEqual({ kind: 'unsorted', message: expect.stringMatching(/BTCUSD_2Hour\.csv: rows are not in time order \(first at line \d+\); sorted by timestamp/), count: 1 });
    const { dataQuality: _a, ...rest } = m;
    const { dataQuality: _b, ...cleanRest } = clean.models.find((x) => x.id === 'BTCUSD_2Hour')!;
    expect(rest).toEqual(cleanRest);
  });

  it('duplicate rows (same values) are dropped', async () => {
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_2Hour.csv', (rows) => {
        const i = rowAt(rows, '2024-08-15T00:00:00Z');
        rows.splice(i, 0, rows[i]!, rows[i]!);
        return rows;
      }),
    );
    const m = r.report.models.find((x) => x.id === 'BTCUSD_2Hour')!;
    expect(m.dataQuality).toContainEqual(
      expect.objectContaining({ kind: 'duplicate', message: expect.stringContaining('BTCUSD_2Hour.csv: 2 duplicate rows (same timestamp, same values) dropped, first at 2024-08-15T00:00:00Z') }),
    );
    const { dataQuality: _a, ...rest } = m;
    const { dataQuality: _b, ...cleanRest } = clean.models.find((x) => x.id === 'BTCUSD_2Hour')!;
    expect(rest).toEqual(cleanRest);
  });

  it('a duplicate timestamp with different values is an error naming the file', async () => {
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_2Hour.csv', (rows) => {
        const i = rowAt(rows, '2024-08-15T00:00:00Z');
        const f = rows[i]!.split(',');
        f[5] = String(Number(f[5]) + 1);
        rows.splice(i, 0, f.join(','));
        return rows;
      }),
    );
    const m = r.report.models.find((x) => x.id === 'BTCUSD_2Hour')!;
    expect(m.errors[0]).toMatch(/BTCUSD_2Hour\.csv: .*2024-08-15T00:00:00Z/);
    expect(metricProblems(r.report)).toEqual([]);
  });
});

describe('holes and missing history', () => {
  it('a gap inside the backtest window: a note with its start and size; metrics stay numbers', async () => {
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_1Hour.csv', (rows) => {
        // Inside the 30-day backtest window, away from the card's golden bars (2024-09-03).
        const i = rowAt(rows, '2024-08-20T00:00:00Z');
        rows.splice(i, 10);
        return rows;
      }),
    );
    const m = r.report.models.find((x) => x.id === 'BTCUSD_1Hour')!;
    expect(m.dataQuality).toEqual([{ kind: 'gap', at: '2024-08-20T00:00:00Z', count: 10, message: 'BTCUSD 1Hour: 10 missing bars from 2024-08-20T00:00:00Z to 2024-08-20T09:00:00Z' }]);
    expect(m.errors).toEqual([]);
    expect(typeof m.backtest!.metrics['sharpe']).toBe('number');
    expect(metricProblems(r.report)).toEqual([]);
    expectUnchanged(r.report, ['BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']);
  });

  it('a symbol with no bars at all: each of its models fails naming the missing file; the report is written', async () => {
    const r = await validateWith((dir) => {
      for (const f of ['BTCUSD_1Hour.csv', 'BTCUSD_2Hour.csv', 'BTCUSD_4Hour.csv', 'BTCUSD_1Day.csv']) rmSync(path.join(dir, f));
    });
    expect(r.code).toBe(2);
    for (const id of IDS) {
      const m = r.report.models.find((x) => x.id === id)!;
      expect(m.errors[0], id).toMatch(new RegExp(`^no bars for BTCUSD ${id.split('_')[1]}: expected \\S*BTCUSD_${id.split('_')[1]}\\.csv`));
      expect(m.backtest).toBeNull();
      expect(m.decision, id).toBeNull();
      expect(m.notEvaluated, id).toEqual({ reason: m.errors[0], kind: 'input' });
    }
    expect(r.report.conclusion).toBe('failure');
  });

  it('too little history for the warm-up: the model fails saying how much is missing', async () => {
    // Keep only the last 200 4-hour bars before --end: 33 days, while the 180-day walk-forward needs more.
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_4Hour.csv', (rows) => {
        const end = rowAt(rows, END.replace('.000', ''));
        return rows.slice(end - 200, end + 1);
      }),
    );
    const m = r.report.models.find((x) => x.id === 'BTCUSD_4Hour')!;
    expect(m.errors).toHaveLength(1);
    expect(m.errors[0]).toMatch(/BTCUSD_4Hour: (too little history|.*only \d+ bars|.*needs)/);
    expect(m.walkForward).toBeNull();
    expect(metricProblems(r.report)).toEqual([]);
    expectUnchanged(r.report, ['BTCUSD_1Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']);
  });

  it('a flat market (every price equal): undefined metrics are null with a reason, never NaN', async () => {
    // Flat from July on (the card's golden vectors are earlier bars, so they still check out).
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_1Day.csv', (rows) =>
        rows.map((row) => {
          if (row < '2024-07-01') return row;
          const f = row.split(',');
          return [f[0], '100', '100', '100', '100', f[5]].join(',');
        }),
      ),
    );
    const m = r.report.models.find((x) => x.id === 'BTCUSD_1Day')!;
    expect(m.errors).toEqual([]);
    expect(metricProblems(r.report)).toEqual([]);
    // Buy and hold earns exactly nothing on a flat price; whatever the policy did is a finite number or a reasoned null.
    expect(m.backtest!.metrics['buyHoldReturn']).toBe(0);
    for (const [k, v] of Object.entries(m.backtest!.metrics)) if (k !== 'undefinedReasons') expect(v === null || Number.isFinite(v), k).toBe(true);
  });
});

describe('oversized bars: a byte cap per file and a character cap per field', () => {
  it('a field of 1 MiB (an unclosed quote swallowing the file, or planted): that model fails naming the file, line and cap; nothing quotes the field', async () => {
    const r = await validateWith((dir) =>
      editRows(dir, 'BTCUSD_4Hour.csv', (rows) => {
        const i = rowAt(rows, '2024-08-01T00:00:00Z');
        const f = rows[i]!.split(',');
        f[4] = 'Z'.repeat(1024 * 1024);
        rows[i] = f.join(',');
        return rows;
      }),
    );
    expect(r.code).toBe(2); // the bars are the run's input: that model is not evaluated, exit 2
    const m = r.report.models.find((x) => x.id === 'BTCUSD_4Hour')!;
    const line =
      1 +
      1 +
      readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_4Hour.csv'), 'utf8')
        .split('\n')
        .slice(1)
        .findIndex((l) => l.startsWith('2024-08-01T00:00:00Z'));
    expect(m.errors).toEqual([
      `${m.errors[0]!.split(' line ')[0]} line ${line}: a field of ${1024 * 1024} characters runs past the limit of 4096 characters per field (a bars field is a timestamp or a number); the file is broken — a quote never closed? — or not a bars file. Fix or regenerate it.`,
    ]);
    expect(m.errors[0]).toMatch(/BTCUSD_4Hour\.csv line/);
    // nothing repeats the field: stderr and report.json stay small
    expect(r.stderr).not.toContain('ZZZZ');
    expect(r.text).not.toContain('ZZZZ');
    expect(r.text.length).toBeLessThan(2 * JSON.stringify(clean).length);
    expectUnchanged(r.report, ['BTCUSD_1Hour', 'BTCUSD_1Day']);
  });

  it('a quoted field that never closes is refused at the cap, not read to the end of the file', async () => {
    const { readBarsCsv } = await import('../src/adapters/bars/csv.js');
    const text = 'timestamp,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,1,1,"1' + ',2'.repeat(10_000) + '\n';
    expect(() => readBarsCsv(text, { file: 'X_1Hour.csv', symbol: 'X', timeframe: '1Hour' })).toThrow(/^X_1Hour\.csv line 2: a field runs past the limit of 4096 characters per field/);
  });

  it('a bars file above 256 MiB is refused from its size, before it is read', async () => {
    const { loadBarsFromDir } = await import('../src/adapters/bars/csv.js');
    const dir = tempDir('data-huge-');
    const file = path.join(dir, 'BTCUSD_1Hour.csv');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 300 * 1024 * 1024); // sparse: 300 MiB that take no disk
    closeSync(fd);
    const rss0 = process.memoryUsage.rss();
    await expect(loadBarsFromDir(dir, 'BTCUSD', '1Hour')).rejects.toThrow(`bars file ${file} is 300 MiB, more than the limit of 256 MiB per bars file; it was not read.`);
    expect(process.memoryUsage.rss() - rss0).toBeLessThan(64 * 1024 * 1024);
  });
});
