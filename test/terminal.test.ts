/**
 * The terminal output of `validate`: every line within 100 display columns (the example and hostile
 * long ids — tables cut cells with "…", prose wraps), each model's decision printed with its rule and
 * what it missed for the next tier, its notes right under it, and the backtest marked informational.
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderForTerminal } from '../src/cli.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, cleanupTempDirs, runCli, tempDir } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

/** Display columns, measured independently of the renderer: wide CJK and emoji take two. */
const columns = (line: string): number =>
  [...line].reduce((n, c) => n + (/\p{Extended_Pictographic}|\p{Script=Han}|\p{Script=Hiragana}|\p{Script=Hangul}/u.test(c) ? 2 : /\p{Mn}/u.test(c) ? 0 : 1), 0);

function expectWithin(text: string, width: number, what: string): void {
  const over = text.split('\n').filter((l) => columns(l) > width);
  expect(over, what).toEqual([]);
}

/** The lines of one model's block: from its "=== id" header to the next header or the DECISIONS table. */
function block(stdout: string, id: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`=== ${id} `));
  expect(start, id).toBeGreaterThanOrEqual(0);
  let end = lines.findIndex((l, i) => i > start && (l.startsWith('=== ') || l === 'DECISIONS'));
  if (end < 0) end = lines.length;
  return lines.slice(start, end);
}

describe('validate on the terminal', () => {
  let stdout: string;
  let report: any;

  beforeAll(async () => {
    const cwd = tempDir('terminal-');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', 'out', '--device', 'cpu'], cwd);
    expect(r.code, r.stderr).toBe(1);
    stdout = r.stdout;
    report = JSON.parse(readFileSync(path.join(cwd, 'out', 'report.json'), 'utf8'));
  }, 5 * 60_000);

  it('fits 100 columns, the DECISIONS table included', () => {
    expectWithin(stdout, 100, 'example');
    const lines = stdout.split('\n');
    const at = lines.indexOf('DECISIONS');
    expect(lines[at + 1]).toMatch(/^model\s+gating\s+backtest\s+folds \+\s+Sharpe μ ± σ\s+rating\s+decision\s+requested\s+verdict$/);
    expect(stdout).toMatch(/^BTCUSD_4Hour\s+REVIEW\s+-3\.54%\s+4\/5\s+1\.86 ± 1\.50\s+MARGINAL\s+PAPER\s+PAPER\s+ok$/m);
    expect(stdout).toContain("(backtest: the plain backtest's return, informational; the walk-forward folds decide)");
  });

  it("prints each model's decision with its rule and what it missed for the next tier, and its notes in its block", () => {
    const joined = (id: string): string =>
      block(stdout, id)
        .join('\n')
        .replace(/\n {10}/g, ' ');
    expect(joined('BTCUSD_4Hour')).toContain('DECISION: PAPER (rule 4: positive share 80 % ≥ 60 %, Sharpe std 1.496 ≤ 2) — not LIVE: Sharpe std 1.496 ≥ 1, gating REVIEW (LIVE needs APPROVED)');
    expect(joined('BTCUSD_2Hour')).toContain('DECISION: PAPER (rule 4: positive share 80 % ≥ 60 %, Sharpe std 1.418 ≤ 2) — not LIVE: Sharpe std 1.418 ≥ 1');
    expect(joined('BTCUSD_1Day')).toContain('DECISION: RETRAIN (rule 5: positive share 20 % < 60 %, Sharpe std 3.278 > 2) — not PAPER: 1/5 positive (20 %) < 60 %, Sharpe std 3.278 > 2');
    expect(joined('BTCUSD_1Hour')).toContain('— not RETRAIN: no fold made money (best -0.4 %)');
    for (const m of report.models) {
      const b = block(stdout, m.id);
      // A model that was not evaluated says so where the decision would be.
      const decision = b.findIndex((l) => l.startsWith(m.decision ? `DECISION: ${m.decision.tier} (` : 'DECISION: not evaluated — '));
      expect(decision, m.id).toBeGreaterThan(0);
      // Its notes (gating reasons, notes, errors) come right after the decision, inside its block.
      const notes = b.slice(decision + 1).filter((l) => /^ {2}(note|gating|error): /.test(l));
      const expected = [
        ...(m.gating.classification !== 'APPROVED' ? m.gating.reasons.map((r: string) => `gating: ${r}`) : []),
        ...m.errors.map((e: string) => `error: ${e}`),
        ...m.notes.map((n: string) => `note: ${n}`),
      ];
      expect(notes.length, m.id).toBe(expected.length);
      const text = b
        .slice(decision + 1)
        .join(' ')
        .replace(/\s+/g, ' ');
      for (const n of expected) expect(text, m.id).toContain(n.replace(/\s+/g, ' '));
    }
    // No notes are printed away from their model (after the last block).
    const tail = stdout.slice(stdout.indexOf('\nDECISIONS\n'));
    expect(tail).not.toMatch(/^ {2}(note|gating):/m);
  });

  it('says the 30-day backtest is informational', () => {
    for (const id of ['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']) {
      expect(block(stdout, id)[1], id).toBe('BACKTEST (30 days; informational — the walk-forward folds decide)');
    }
  });

  it('hostile long ids, candidates, flags and notes: every line still within 100 columns, ids cut with "…"', () => {
    const hostile = structuredClone(report);
    hostile.models.forEach((m: any, i: number) => {
      m.id = `${'模型'.repeat(30)}_${'X'.repeat(80)}_${i}🚀`;
      m.candidate = `checkpoint:${'9'.repeat(60)}`;
      m.flags = [...m.flags, 'A_VERY_LONG_FLAG_NAME_THAT_GOES_ON'.repeat(3)];
      m.notes = [...m.notes, `${'n'.repeat(250)} and a path ${'/deep'.repeat(40)}`];
    });
    hostile.conclusionReasons = hostile.models.map((m: any) => `${m.id}: DROP is below the requested PAPER`);
    const out = renderForTerminal(hostile);
    expectWithin(out, 100, 'hostile');
    const lines = out.split('\n');
    const at = lines.indexOf('DECISIONS');
    const rows = lines.slice(at + 3, at + 3 + hostile.models.length);
    for (const r of rows) expect(r).toMatch(/^模型模型.*… +(APPROVED|REVIEW|DROP) /);
    // Nothing of a wrapped note is lost: its characters are all there, in order.
    expect(out.replace(/\s+/g, '')).toContain(`${'n'.repeat(250)}andapath${'/deep'.repeat(40)}`);
  });
});
