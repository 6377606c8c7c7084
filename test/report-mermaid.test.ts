/**
 * The Mermaid `xychart-beta` blocks of report.md, the PR comment, the check run and the job summary:
 * parsed by a strict parser of the grammar Mermaid uses (test/helpers/xychart-parser.ts), their
 * numbers equal each model's fold returns, they sit right after that model's fold table, and nothing
 * from an archive can break out of them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionMarkdown, htmlReportLink } from '../src/action/render.js';
import { renderMarkdown } from '../src/core/render/markdown.js';
import { axisRange, foldReturnsChart, mermaidNumber, mermaidText, renderXyChart } from '../src/core/render/mermaid.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, cleanupTempDirs, runCli, tempDir } from './helpers/e2e.js';
import { XyChartSyntaxError, mermaidBlocks, parseXyChart } from './helpers/xychart-parser.js';

afterAll(cleanupTempDirs);

describe('the xychart parser itself', () => {
  const ok = ['xychart-beta', '    title "T"', '    x-axis "Fold" ["F1", "F2"]', '    y-axis "Return (%)" -5 --> 10', '    bar [1.5, -2]', '    line [0, 0]'];

  it('reads a well-formed block', () => {
    expect(parseXyChart(ok.join('\n'))).toEqual({
      title: 'T',
      xAxis: { title: 'Fold', labels: ['F1', 'F2'] },
      yAxis: { title: 'Return (%)', min: -5, max: 10 },
      bars: [[1.5, -2]],
      lines: [[0, 0]],
    });
  });

  it.each([
    ['an exponent', ok.map((l) => l.replace('bar [1.5, -2]', 'bar [1e-7, -2]'))],
    ['NaN', ok.map((l) => l.replace('bar [1.5, -2]', 'bar [NaN, -2]'))],
    ['a quote inside a string', ok.map((l) => l.replace('title "T"', 'title "T"x"'))],
    ['a comment marker', ok.map((l) => l.replace('title "T"', 'title "T %% x"'))],
    ['a statement separator', ok.map((l) => l.replace('title "T"', 'title "T; bar [1]"'))],
    ['no header', ok.slice(1)],
    ['an unknown statement', [...ok, '    pie "x"']],
    ['unquoted categories with a bracket', ok.map((l) => l.replace('["F1", "F2"]', '[F1], F2]'))],
  ])('rejects %s', (_what, lines) => {
    expect(() => parseXyChart(lines.join('\n'))).toThrow(XyChartSyntaxError);
  });
});

describe('fold-return charts of the example run', () => {
  let report: any;
  let reportMd: string;

  beforeAll(async () => {
    const out = path.join(tempDir('mermaid-'), 'report');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out, '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(1);
    report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    reportMd = readFileSync(path.join(out, 'report.md'), 'utf8');
  });

  /** The markdown of one model: from its "### id" heading to the next heading of that level. */
  function section(markdown: string, id: string): string {
    const start = markdown.indexOf(`### ${id.replace(/_/g, '\\_')} — `);
    expect(start, id).toBeGreaterThanOrEqual(0);
    const next = markdown.indexOf('\n### ', start + 4);
    return markdown.slice(start, next < 0 ? undefined : next);
  }

  function checkBlocks(markdown: string): void {
    const withFolds = report.models.filter((m: any) => m.walkForward?.folds.length);
    expect(withFolds.map((m: any) => m.id)).toEqual(['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']);
    expect(mermaidBlocks(markdown)).toHaveLength(withFolds.length);
    for (const m of report.models) {
      const sec = section(markdown, m.id);
      const blocks = mermaidBlocks(sec);
      if (!m.walkForward?.folds.length) {
        expect(blocks, m.id).toHaveLength(0);
        continue;
      }
      expect(blocks, m.id).toHaveLength(1);
      const chart = parseXyChart(blocks[0]!.body);
      const returns = m.walkForward.folds.map((f: any) => Number((f.metrics.totalReturn * 100).toFixed(2)));
      expect(chart.bars, m.id).toEqual([returns]);
      expect(chart.lines, m.id).toEqual([returns.map(() => 0)]);
      expect(chart.xAxis, m.id).toEqual({ title: 'Fold', labels: m.walkForward.folds.map((f: any) => `F${f.index}`) });
      expect(chart.title).toBe('Return per fold after costs (%)');
      // The y range holds every bar and the zero line.
      expect(chart.yAxis!.min, m.id).toBeLessThanOrEqual(Math.min(0, ...returns));
      expect(chart.yAxis!.max, m.id).toBeGreaterThanOrEqual(Math.max(0, ...returns));
      expect(chart.yAxis!.max).toBeGreaterThan(Math.max(0, ...returns)); // room above, so the zero line shows
      // Beside the fold table: the chart follows the model's fold table directly.
      const before = sec.slice(0, blocks[0]!.offset).trimEnd().split('\n');
      expect(before.at(-1), m.id).toMatch(/^\| +5 \| /);
      expect(before.at(-1)).toContain(`${(m.walkForward.folds[4].metrics.totalReturn * 100).toFixed(2)}%`);
    }
  }

  it('in report.md: one parseable block per model with folds, equal to its fold returns, after its fold table', () => {
    checkBlocks(reportMd);
    // The example's 1-hour model lost money in every fold: all its bars end below the zero line.
    const chart = foldReturnsChart(report.models.find((m: any) => m.id === 'BTCUSD_1Hour'))!;
    expect(chart.bars[0]!.every((v) => v < 0)).toBe(true);
    expect(reportMd).toContain('📈 Equity curves, drawdowns and fold charts: [report.html](report.html)');
  });

  it('in the Action markdown (comment, check run, job summary), with the link to report.html in the artifact', () => {
    const uploaded = actionMarkdown(report, {
      mode: 'pull_request',
      headSha: 'a'.repeat(40),
      pullRequest: { number: 7, changed: new Map(), noChanges: null, relevantFiles: [] },
      reportArtifact: { name: 'policy-gate-report', url: 'https://github.com/o/r/actions/runs/1/artifacts/9', runUrl: 'https://github.com/o/r/actions/runs/1' },
    });
    checkBlocks(uploaded);
    expect(uploaded).toContain('📈 Equity curves, drawdowns and fold charts: report.html in the [`policy-gate-report` artifact](https://github.com/o/r/actions/runs/1/artifacts/9)');
    const later = actionMarkdown(report, {
      mode: 'schedule',
      headSha: 'a'.repeat(40),
      reportArtifact: { name: 'policy-gate-report', url: null, runUrl: 'https://github.com/o/r/actions/runs/1' },
    });
    expect(later).toContain('report.html in the `policy-gate-report` artifact of [this run](https://github.com/o/r/actions/runs/1)');
    expect(actionMarkdown(report, { mode: 'schedule', headSha: 'a'.repeat(40) })).not.toContain('📈');
  });

  it('keeps archive strings out of the blocks', () => {
    const hostile = structuredClone(report);
    for (const m of hostile.models) m.id = '"]\n%% x-axis ["`;bar [1e9]';
    const blocks = mermaidBlocks(renderMarkdown(hostile));
    expect(blocks.length).toBe(4);
    for (const b of blocks) {
      expect(b.body).not.toContain('1e9');
      expect(() => parseXyChart(b.body)).not.toThrow();
    }
    expect(htmlReportLink({ name: 'a`b', url: null, runUrl: null })).toBe("report.html in the `a'b` artifact");
  });

  it('leaves out the chart when a fold return is undefined (the table shows it)', () => {
    const m = structuredClone(report.models.find((x: any) => x.id === 'BTCUSD_4Hour'));
    m.walkForward.folds[2].metrics.totalReturn = null;
    expect(foldReturnsChart(m)).toBeNull();
    expect(mermaidBlocks(renderMarkdown({ ...report, models: [m] }))).toHaveLength(0);
  });
});

describe('what renderXyChart writes always parses', () => {
  it('any title, labels and finite values round-trip through the parser', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 8 }),
        (title, labels, values) => {
          const { min, max } = axisRange(values);
          const text = renderXyChart({ title, xAxis: { title: 'x', labels }, yAxis: { title: 'y', min, max }, bars: [values], lines: [values] });
          expect(text.startsWith('```mermaid\nxychart-beta\n')).toBe(true);
          const parsed = parseXyChart(text.slice('```mermaid\n'.length, -'\n```'.length));
          expect(parsed.title).toBe(mermaidText(title));
          expect(parsed.xAxis!.labels).toEqual(labels.map(mermaidText));
          parsed.bars[0]!.forEach((v, i) => expect(Math.abs(v - values[i]!)).toBeLessThanOrEqual(0.005 + 1e-9));
          expect(parsed.yAxis!.min).toBeLessThanOrEqual(Math.min(0, ...values) + 0.005);
          expect(parsed.yAxis!.max).toBeGreaterThanOrEqual(Math.max(0, ...values) - 0.005);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes numbers the grammar reads: fixed decimals, never an exponent or "-0"', () => {
    expect(mermaidNumber(1e-9)).toBe('0.00');
    expect(mermaidNumber(-1e-9)).toBe('0.00');
    expect(mermaidNumber(123456.789)).toBe('123456.79');
    expect(mermaidNumber(-0.125, 1)).toBe('-0.1');
    expect(() => mermaidNumber(Number.NaN)).toThrow();
    expect(axisRange([-14.13, -0.44, -20.88, -5.68, -6.71])).toEqual({ min: -23, max: 3 });
    expect(axisRange([16.3, 11.16, 2.64, -3.39, 8.17])).toEqual({ min: -6, max: 19 });
    expect(axisRange([0.3, 1.2])).toEqual({ min: 0, max: 1.4 });
    expect(axisRange([0, 0])).toEqual({ min: 0, max: 1.1 });
  });
});
