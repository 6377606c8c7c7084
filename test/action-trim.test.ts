/**
 * GitHub's size limits: the check run's summary (65,535), the PR comment (65,536) and the job summary
 * (1 MiB), each trimmed by UTF-8 bytes with a note — at a line end, never inside a code fence, never
 * between the halves of a surrogate pair.
 */
import { describe, expect, it } from 'vitest';
import { checkOutput } from '../src/action/checks.js';
import { commentBody, STICKY_MARKER } from '../src/action/comment.js';
import { jobSummaryText } from '../src/action/summary.js';
import { CHECK_SUMMARY_LIMIT, COMMENT_LIMIT, JOB_SUMMARY_LIMIT, cutAtCodePoint, trimToBytes } from '../src/action/trim.js';

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const NOTE = "> ✂️ Trimmed to GitHub's size limit. The full report is in the `policy-gate-report` artifact.";

/** A report-like markdown body: a heading, then table rows with emoji (4-byte UTF-8, 2 UTF-16 units). */
function bigTable(rows: number): string {
  const lines = ['## ❌ policy-gate: failure', '', '| Model | Decision |', '| :--- | :--- |'];
  for (let i = 0; i < rows; i++) lines.push(`| MODEL_${String(i).padStart(5, '0')} | 🔴 **DROP** — rule 2: every fold lost money |`);
  return lines.join('\n') + '\n';
}

/** No lone surrogate anywhere: every high surrogate is followed by a low one. */
function wellFormed(s: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
}

describe('trimToBytes', () => {
  it('leaves text within the limit alone', () => {
    const text = bigTable(10);
    expect(trimToBytes(text, bytes(text), NOTE)).toEqual({ text, trimmed: false });
  });

  it('cuts at a line end, keeps whole table rows, and ends with the note', () => {
    const text = bigTable(2000);
    const r = trimToBytes(text, 20_000, NOTE);
    expect(r.trimmed).toBe(true);
    expect(bytes(r.text)).toBeLessThanOrEqual(20_000);
    expect(r.text.endsWith(`\n\n${NOTE}\n`)).toBe(true);
    const body = r.text.slice(0, r.text.length - NOTE.length - 3);
    for (const line of body.split('\n').slice(2)) expect(line).toMatch(/^\|.*\|$/);
    expect(text.startsWith(body)).toBe(true);
    expect(wellFormed(r.text)).toBe(true);
  });

  it('never cuts inside a fenced code block: the cut moves back to before the fence', () => {
    const fenced = ['intro line', '', '```text', ...Array.from({ length: 500 }, (_, i) => `log line ${i} 🔴`), '```', 'after'].join('\n');
    const r = trimToBytes(fenced, 4_000, NOTE);
    expect(r.trimmed).toBe(true);
    expect(r.text).not.toContain('```');
    expect(r.text.startsWith('intro line')).toBe(true);
    // A ~~~ fence and a fence that closes before the cut are handled too.
    const closed = ['```', 'a', '```', ...Array.from({ length: 500 }, (_, i) => `row ${i}`)].join('\n');
    const r2 = trimToBytes(closed, 1_000, NOTE);
    expect(r2.text.startsWith('```\na\n```\nrow 0')).toBe(true);
    const tilde = ['head', '~~~', ...Array.from({ length: 500 }, (_, i) => `row ${i}`), '~~~'].join('\n');
    expect(trimToBytes(tilde, 1_000, NOTE).text.startsWith(`head\n\n${NOTE}`)).toBe(true);
  });

  it('cuts one over-long line at a code point boundary, never between surrogate halves', () => {
    const line = '🔴'.repeat(10_000); // 4 bytes and 2 UTF-16 units each
    for (const limit of [1_000, 1_001, 1_002, 1_003]) {
      const r = trimToBytes(line, limit, NOTE);
      expect(bytes(r.text)).toBeLessThanOrEqual(limit);
      expect(wellFormed(r.text)).toBe(true);
      expect(r.text.endsWith(`${NOTE}\n`)).toBe(true);
    }
    expect(cutAtCodePoint('a🔴b', 4)).toBe('a');
    expect(cutAtCodePoint('a🔴b', 5)).toBe('a🔴');
    expect(cutAtCodePoint('ééé', 5)).toBe('éé');
  });

  it('a limit smaller than the note keeps as much of the note as fits', () => {
    const r = trimToBytes('x'.repeat(100), 10, NOTE);
    expect(bytes(r.text)).toBeLessThanOrEqual(10);
    expect(r.trimmed).toBe(true);
  });
});

describe('the three limits', () => {
  it('check run summary: 65,535', () => {
    expect(CHECK_SUMMARY_LIMIT).toBe(65_535);
    const summary = bigTable(3_000); // ~200 KB
    const out = checkOutput({ conclusion: 'failure', title: 'x\ny', summary, trimNote: NOTE });
    expect(out.trimmed).toBe(true);
    expect(bytes(out.summary)).toBeLessThanOrEqual(65_535);
    expect(out.summary.length).toBeLessThanOrEqual(65_535);
    expect(bytes(out.summary)).toBeGreaterThan(65_535 - 200); // trimmed to the limit, not far below it
    expect(out.summary.endsWith(`${NOTE}\n`)).toBe(true);
    expect(out.title).toBe('x y');
    const small = checkOutput({ conclusion: 'success', title: 't', summary: bigTable(3), trimNote: NOTE });
    expect(small).toEqual({ title: 't', summary: bigTable(3), trimmed: false });
  });

  it('PR comment: 65,536, marker included', () => {
    expect(COMMENT_LIMIT).toBe(65_536);
    const body = commentBody(bigTable(3_000), NOTE);
    expect(body.startsWith(`${STICKY_MARKER}\n## ❌`)).toBe(true);
    expect(bytes(body)).toBeLessThanOrEqual(65_536);
    expect(bytes(body)).toBeGreaterThan(65_536 - 200);
    expect(body.endsWith(`${NOTE}\n`)).toBe(true);
    expect(wellFormed(body)).toBe(true);
    expect(commentBody('short', NOTE)).toBe(`${STICKY_MARKER}\nshort`);
  });

  it('job summary: 1 MiB, with room for the newline core.summary adds', () => {
    expect(JOB_SUMMARY_LIMIT).toBe(1_048_576);
    const text = jobSummaryText(bigTable(20_000), NOTE); // ~1.4 MB
    expect(bytes(text) + 1).toBeLessThanOrEqual(1_048_576);
    expect(bytes(text)).toBeGreaterThan(1_048_576 - 200);
    expect(text.endsWith(`${NOTE}\n`)).toBe(true);
    expect(wellFormed(text)).toBe(true);
    const small = bigTable(100);
    expect(jobSummaryText(small, NOTE)).toBe(small);
  });
});
