/**
 * report.md and the markdown of the PR comment, the check run and the job summary: the summary table
 * (every decision) comes first, then one collapsed <details> section per model; each model's fold
 * returns are drawn as signed text bars — a losing fold hangs left of the zero axis, bar lengths on one
 * scale — so a loss reads as a loss wherever Markdown is shown. A generated 50-model run fits GitHub's
 * comment limit without trimming; a trimmed body says which sections were cut.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOutput } from '../src/action/checks.js';
import { commentBody, STICKY_MARKER } from '../src/action/comment.js';
import { actionMarkdown, MARKDOWN_BUDGET, trimNote } from '../src/action/render.js';
import { COMMENT_LIMIT, trimToBytes } from '../src/action/trim.js';
import { runValidate } from '../src/app/validate.js';
import { defaultConfig } from '../src/config/schema.js';
import { AXIS, BAR, THIN_GAIN, THIN_LOSS, foldReturnsBlock, signedBars } from '../src/core/render/foldbars.js';
import { modelSectionsIn, renderMarkdown } from '../src/core/render/markdown.js';
import { writeBenchArchive } from '../src/devtools/bench-archive.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, cleanupTempDirs, runCli, tempDir } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The ```text blocks of a markdown text. */
function textBlocks(markdown: string): string[][] {
  return [...markdown.matchAll(/^```text\n([\s\S]*?)^```$/gm)].map((m) => m[1]!.trimEnd().split('\n'));
}

/** A bar line read back: its label, its value, the bar's side and length (in cells, thin marks as 0.5). */
function readBar(line: string, axisAt: number): { label: string; value: number | null; side: 'loss' | 'gain' | 'none'; cells: number } {
  const m = /^(F\d+)\s+(n\/a|[+-]?\d+\.\d\d %)/.exec(line);
  expect(m, line).not.toBeNull();
  const chars = [...line];
  expect(chars[axisAt], `${line}: the axis is in one column`).toBe(AXIS);
  const left = chars
    .slice(0, axisAt)
    .join('')
    .replace(/^.*?%\s*/, '')
    .trim();
  const right = chars
    .slice(axisAt + 1)
    .join('')
    .trim();
  const len = (s: string): number => [...s].reduce((n, c) => n + (c === BAR ? 1 : c === THIN_GAIN || c === THIN_LOSS ? 0.5 : NaN), 0);
  const side =
    left && right
      ? (() => {
          throw new Error(`a bar on both sides: ${line}`);
        })()
      : left
        ? 'loss'
        : right
          ? 'gain'
          : 'none';
  return { label: m![1]!, value: m![2] === 'n/a' ? null : Number(m![2]!.replace(' %', '')), side, cells: len(left || right) };
}

function checkBars(lines: string[], returnsPct: (number | null)[], width: number, what: string): void {
  const axisAt = [...lines[0]!].indexOf(AXIS);
  expect(axisAt, what).toBeGreaterThan(0);
  const bars = lines.slice(1).map((l) => readBar(l, axisAt));
  expect(
    bars.map((b) => b.label),
    what,
  ).toEqual(returnsPct.map((_, i) => `F${i + 1}`));
  const max = Math.max(...returnsPct.filter((v): v is number => v !== null).map(Math.abs));
  bars.forEach((b, i) => {
    const v = returnsPct[i]!;
    if (v === null) {
      expect(b.value, what).toBeNull();
      return;
    }
    expect(b.value, `${what} F${i + 1}`).toBeCloseTo(v, 2);
    // A losing fold hangs left of the zero axis, a winning one right of it.
    expect(b.side, `${what} F${i + 1} ${v}`).toBe(v < 0 ? 'loss' : v > 0 ? 'gain' : 'none');
    // Lengths on one scale: |v| / max × width cells, rounded (a thin mark for a non-zero value under half a cell).
    const want = Math.round((Math.abs(v) / max) * width);
    expect(b.cells, `${what} F${i + 1} ${v}`).toBe(v !== 0 && want === 0 ? 0.5 : want);
  });
}

describe('signed fold bars', () => {
  it('draw losses left of the axis and gains right, lengths proportional to |return|', () => {
    const values = [-14.13, -0.44, -20.88, 16.3, 0, 0.1, null];
    const lines = signedBars(
      values.map((v, i) => ({ label: `F${i + 1}`, value: v })),
      20,
    );
    checkBars(lines, values, 20, 'mixed');
    // The largest loss has the longest bar: the opposite of a chart whose bars rise from the axis floor.
    const axisAt = [...lines[0]!].indexOf(AXIS);
    const lens = lines.slice(1, 4).map((l) => readBar(l, axisAt).cells);
    expect(lens).toEqual([14, 0.5, 20]);
  });

  it('a run with only gains has no loss side, and one with only losses no gain side', () => {
    const gains = signedBars(
      [
        { label: 'F1', value: 3 },
        { label: 'F2', value: 1.5 },
      ],
      10,
    );
    expect(gains.map((l) => [...l].indexOf(AXIS))).toEqual([15, 15, 15]);
    expect(gains[1]).toBe(`F1    +3.00 %  ${AXIS}${BAR.repeat(10)}`);
    expect(gains[2]).toBe(`F2    +1.50 %  ${AXIS}${BAR.repeat(5)}`);
    const losses = signedBars([{ label: 'F1', value: -3 }], 10);
    expect(losses[1]).toBe(`F1    -3.00 %  ${BAR.repeat(10)}${AXIS}`);
  });
});

describe('report.md and the Action markdown of the example run', () => {
  let report: any;
  let reportMd: string;

  beforeAll(async () => {
    const out = path.join(tempDir('markdown-'), 'report');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out, '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(1);
    report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    reportMd = readFileSync(path.join(out, 'report.md'), 'utf8');
  }, 5 * 60_000);

  /** One model's collapsed section. */
  function section(markdown: string, id: string): string {
    const start = markdown.search(new RegExp(`^<details><summary>[^\\n]*<b>${id}</b>`, 'm'));
    expect(start, id).toBeGreaterThanOrEqual(0);
    const end = markdown.indexOf('\n</details>', start);
    expect(end, id).toBeGreaterThan(start);
    return markdown.slice(start, end);
  }

  function checkLayout(markdown: string): void {
    // The summary table comes before any model section, and names every model with its decision and rule.
    const table = markdown.indexOf('| Model ');
    const firstSection = markdown.indexOf('<details><summary>');
    expect(table).toBeGreaterThan(0);
    expect(table).toBeLessThan(firstSection);
    for (const m of report.models) {
      const row = markdown.split('\n').find((l) => l.startsWith(`| ${m.id.replace(/_/g, '\\_')} `));
      expect(row, m.id).toBeDefined();
      if (!m.decision) {
        expect(row, m.id).toContain('**not evaluated**');
        continue;
      }
      expect(row, m.id).toContain(`**${m.decision.tier}**`);
      expect(row, m.id).toContain(m.decision.rule.replace(/:.*/, ''));
    }
    expect(modelSectionsIn(markdown)).toEqual(report.models.map((m: any) => m.id));
    for (const m of report.models) {
      const sec = section(markdown, m.id);
      expect(sec.split('\n')[0], m.id).toContain(m.decision ? `— ${m.decision.tier} · ` : '— not evaluated');
      const blocks = textBlocks(sec);
      if (!m.walkForward?.folds.length) {
        expect(blocks, m.id).toHaveLength(0);
        continue;
      }
      expect(blocks, m.id).toHaveLength(1);
      checkBars(
        blocks[0]!,
        m.walkForward.folds.map((f: any) => f.metrics.totalReturn * 100),
        20,
        m.id,
      );
    }
  }

  it('report.md: the summary table first, one collapsed section per model, signed fold bars equal to the fold returns', () => {
    checkLayout(reportMd);
    // The 1-hour model lost in every fold: every bar hangs left, and its worst fold (−20.88 %) is the longest.
    const lines = textBlocks(section(reportMd, 'BTCUSD_1Hour'))[0]!;
    const axisAt = [...lines[0]!].indexOf(AXIS);
    const bars = lines.slice(1).map((l) => readBar(l, axisAt));
    expect(bars.every((b) => b.side === 'loss')).toBe(true);
    const worst = bars.reduce((a, b) => (b.value! < a.value! ? b : a));
    expect(worst.cells).toBe(Math.max(...bars.map((b) => b.cells)));
    expect(reportMd).toContain('📈 Equity curves, drawdowns and fold charts: [report.html](report.html)');
    // Every decision says what it missed for the next tier; the backtest says it does not decide.
    expect(section(reportMd, 'BTCUSD_4Hour')).toContain('- not LIVE: Sharpe std 1.496 ≥ 1, gating REVIEW \\(LIVE needs APPROVED\\)');
    expect(section(reportMd, 'BTCUSD_1Hour')).toContain('- not RETRAIN: no fold made money \\(best -0.4 %\\)');
    expect(section(reportMd, 'BTCUSD_1Hour')).toContain('Backtest (informational — the decision comes from the walk-forward)');
    expect(reportMd).not.toContain('```mermaid');
  });

  it('the Action markdown (comment, check run, job summary) has the same layout and the link to report.html', () => {
    const uploaded = actionMarkdown(report, {
      mode: 'pull_request',
      headSha: 'a'.repeat(40),
      pullRequest: { number: 7, changed: new Map(), noChanges: null, relevantFiles: [] },
      reportArtifact: { name: 'policy-gate-report', url: 'https://github.com/o/r/actions/runs/1/artifacts/9', runUrl: 'https://github.com/o/r/actions/runs/1' },
    });
    checkLayout(uploaded);
    expect(uploaded).toContain('📈 Equity curves, drawdowns and fold charts: report.html in the [`policy-gate-report` artifact](https://github.com/o/r/actions/runs/1/artifacts/9)');
    expect(actionMarkdown(report, { mode: 'schedule', headSha: 'a'.repeat(40) })).not.toContain('📈');
  });

  it('keeps archive strings out of the bar blocks and the <summary> lines', () => {
    const hostile = structuredClone(report);
    for (const m of hostile.models) m.id = `${m.id}</summary></details><img src=x>\n\`\`\`\n# x`;
    const out = renderMarkdown(hostile);
    expect(out).not.toMatch(/(?<!\\)<img/); // markdown text escapes it as \<img; HTML text as &lt;img
    expect(textBlocks(out)).toHaveLength(4);
    for (const b of textBlocks(out)) for (const l of b.slice(1)) expect(l).toMatch(/^F\d /);
    expect(out.match(/^<details><summary>/gm)).toHaveLength(hostile.models.length);
    expect(out.match(/^<\/details>$/gm)).toHaveLength(hostile.models.length);
    expect(out).toContain('<b>BTCUSD_1Hour&lt;/summary&gt;&lt;/details&gt;&lt;img src=x&gt; &#96;&#96;&#96; # x</b>');
    expect(modelSectionsIn(out)).toEqual(hostile.models.map((m: any) => m.id.replace(/\n/g, ' ')));
    // Markdown link, image and table syntax in an id stays text in the <summary> line too.
    const linky = structuredClone(report);
    linky.models[0].id = '[link](https://evil.example/l)![img](https://evil.example/i.png)|PWN col|*x*';
    const line = renderMarkdown(linky)
      .split('\n')
      .find((l) => l.startsWith('<details><summary>'))!;
    expect(line).not.toMatch(/\]\(|!\[|\||\*x\*/);
    expect(modelSectionsIn(line)).toEqual([linky.models[0].id]);
  });

  it('an undefined fold return is "n/a" without a bar', () => {
    const m = structuredClone(report.models.find((x: any) => x.id === 'BTCUSD_4Hour'));
    m.walkForward.folds[2].metrics.totalReturn = null;
    const lines = foldReturnsBlock(m)!.split('\n').slice(1, -1);
    checkBars(
      lines,
      m.walkForward.folds.map((f: any) => (f.metrics.totalReturn === null ? null : f.metrics.totalReturn * 100)),
      20,
      'n/a',
    );
  });
});

describe('50 models in one PR comment', () => {
  let root: string;
  let report: any;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'policy-gate-fifty-'));
    const btc = readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv'), 'utf8');
    const bench = await writeBenchArchive(root, btc, { models: 50, window: 4, features: 16, hidden: [8], positionAware: false });
    const config = defaultConfig();
    config.data.source = 'csv';
    config.data.dir = bench.dataDir;
    report = await runValidate(bench.archiveDir, config, null, { now: new Date('2025-01-02T00:00:00Z'), log: () => {}, endMs: undefined, equityOut: null });
    expect(report.models).toHaveLength(50);
  }, 10 * 60_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('fits the comment and the check run without trimming: every decision in the summary table, a collapsed section each', () => {
    const facts = { mode: 'pull_request' as const, headSha: 'b'.repeat(40), pullRequest: { number: 9, changed: new Map(), noChanges: null, relevantFiles: [] } };
    const full = renderMarkdown(report);
    expect(bytes(full)).toBeGreaterThan(COMMENT_LIMIT); // the full report.md would not fit ...
    const markdown = actionMarkdown(report, facts);
    expect(bytes(markdown)).toBeLessThanOrEqual(MARKDOWN_BUDGET); // ... the comment's compact sections do
    const note = trimNote({ name: 'policy-gate-report', url: null }, null);
    const body = commentBody(markdown, note);
    expect(body).toBe(`${STICKY_MARKER}\n${markdown}`);
    expect(body).not.toContain('✂️');
    expect(checkOutput({ conclusion: 'failure', title: 't', summary: markdown, trimNote: note }).trimmed).toBe(false);
    const summaryEnd = markdown.indexOf('<details><summary>');
    const rows = markdown
      .slice(0, summaryEnd)
      .split('\n')
      .filter((l) => /^\| SYM\d\dUSD\\_1Hour /.test(l));
    expect(rows).toHaveLength(50);
    for (const m of report.models) {
      const row = rows.find((r) => r.startsWith(`| ${m.id.replace(/_/g, '\\_')} `));
      expect(row, m.id).toContain(`**${m.decision.tier}**`);
    }
    expect(modelSectionsIn(markdown)).toEqual(report.models.map((m: any) => m.id));
    expect(markdown).toContain("Each model's section is shortened to fit GitHub's size limit");
    // Each compact section still shows the decision, what it missed, and the fold bars.
    for (const m of report.models) expect(markdown, m.id).toContain(`<b>${m.id}</b> — ${m.decision.tier} · `);
    expect(textBlocks(markdown)).toHaveLength(50);
  });

  it('when trimming does happen, the note says which sections were cut', () => {
    const markdown = actionMarkdown(report, { mode: 'schedule', headSha: 'c'.repeat(40) });
    const cut = trimToBytes(markdown, 30_000, trimNote({ name: 'policy-gate-report', url: null }, null));
    expect(cut.trimmed).toBe(true);
    expect(bytes(cut.text)).toBeLessThanOrEqual(30_000);
    const note = cut.text.trimEnd().split('\n').at(-1)!;
    const m = /Cut: the sections of (\d+) of 50 models, from `(SYM\d\dUSD_1Hour)` on; their decisions are in the summary table above\./.exec(note);
    expect(m, note).not.toBeNull();
    const kept = cut.text.slice(0, cut.text.length - note.length);
    const complete = (kept.match(/^<\/details>$/gm) ?? []).length - (kept.includes('<details><summary>Gating') ? 1 : 0);
    expect(Number(m![1])).toBe(50 - complete);
    expect(m![2]).toBe(report.models[complete].id);
    // Every decision is still there.
    for (const x of report.models) expect(kept, x.id).toContain(`| ${x.id.replace(/_/g, '\\_')} `);
  });
});
