/** Writing report.json, report.md and report.html, each atomically (temp file + rename). */
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.js';
export { writeFileAtomic };
import { join } from 'node:path';
import type { Report } from '../core/report.js';
import { renderMarkdown } from '../core/render/markdown.js';
import { renderHtml } from '../core/render/html.js';
import { outputRedactor, redactDeep } from '../util/redact.js';
import { visibleText } from '../util/visible.js';

/**
 * report.json text. JSON.stringify would silently turn NaN or Infinity into null; a non-finite number
 * here is a bug, so it is recorded in the report's errors with its path instead of passing unnoticed.
 */
export function reportJson(report: Report): string {
  const bad: string[] = [];
  const text = JSON.stringify(
    report,
    function (this: unknown, key: string, value: unknown) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        bad.push(key);
        return null;
      }
      return value;
    },
    2,
  );
  if (bad.length === 0) return text;
  const fixed = { ...report, errors: [...report.errors, `internal: non-finite numbers written as null at keys ${bad.join(', ')}`] };
  return JSON.stringify(fixed, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

/**
 * The report as every output shows it: each string (keys included) with every registered secret
 * redacted and every control, bidirectional or zero-width character shown as a visible escape
 * (src/util/redact.ts, src/util/visible.ts). It runs on the DATA, before any markdown or HTML
 * escaping, so no escaping can change a secret's spelling past the redactor. Idempotent.
 */
export function outputReport(report: Report): Report {
  return redactDeep(report, outputRedactor, visibleText);
}

export async function writeReportFiles(raw: Report, dir: string): Promise<string[]> {
  const report = outputReport(raw);
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    ['report.json', reportJson(report) + '\n'],
    // report.md sits beside report.html (in the folder and in the artifact): a relative link to the charts.
    ['report.md', renderMarkdown(report, { htmlLink: '[report.html](report.html)' })],
    ['report.html', renderHtml(report)],
  ];
  const written: string[] = [];
  for (const [name, text] of files) {
    const p = join(dir, name);
    await writeFileAtomic(p, text);
    written.push(p);
  }
  return written;
}
