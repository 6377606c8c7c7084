/**
 * report.html of the example run, rendered by headless Chromium (Debian's `chromium` package,
 * installed by the test setup when missing; launched with --headless --no-sandbox and a fresh
 * --user-data-dir): the page is not blank in light or dark mode or on a phone-sized window, and every
 * chart carries the data points of report.json's curves, plotted where its axes say.
 *
 * Set REPORT_SHOTS_DIR to keep the screenshots (to look at them).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../src/core/render/html.js';
import { ensureChromium, measureLayout, renderPage, type Layout, type Rendered } from './helpers/chromium.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, TIMEFRAME_MS, cleanupTempDirs, runCli, tempDir } from './helpers/e2e.js';
import { countNear, cropWidth, decodePng, inkShare, pixel, type Image } from './helpers/png.js';

afterAll(cleanupTempDirs);

interface Element {
  tag: string;
  attrs: Record<string, string>;
  /** The markup between the start tag and its end tag (svg only). */
  inner: string;
}

const unescapeHtml = (s: string): string => s.replace(/&(amp|lt|gt|quot|#39|#x27|nbsp);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'", nbsp: '\u00a0' })[e]!);

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) out[m[1]!] = unescapeHtml(m[2]!);
  return out;
}

/** Every <svg> in the (Chromium-serialised) DOM with its attributes and inner markup. */
function svgs(dom: string): Element[] {
  const out: Element[] = [];
  const re = /<svg\b([^>]*)>([\s\S]*?)<\/svg>/g;
  for (const m of dom.matchAll(re)) out.push({ tag: 'svg', attrs: attrs(m[1]!), inner: m[2]! });
  return out;
}

function children(inner: string, tag: string): Record<string, string>[] {
  return [...inner.matchAll(new RegExp(`<${tag}\\b([^>]*?)/?>`, 'g'))].map((m) => attrs(m[1]!));
}

const nums = (s: string | undefined): number[] => (s ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
const points = (s: string | undefined): [number, number][] =>
  (s ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((p) => p.split(',').map(Number) as [number, number]);

/** The pixels are an affine image of the data: px = a + b·v for every point (to the 0.1 px the SVG is written at). */
function expectAffine(pixels: number[], values: number[], what: string): void {
  expect(pixels.length, what).toBe(values.length);
  const i = 0;
  let j = 0;
  for (let k = 1; k < values.length; k++) {
    if (Math.abs(values[k]! - values[i]!) > Math.abs(values[j]! - values[i]!)) j = k;
  }
  if (values[j] === values[i]) {
    for (const p of pixels) expect(p, what).toBeCloseTo(pixels[0]!, 6);
    return;
  }
  const b = (pixels[j]! - pixels[i]!) / (values[j]! - values[i]!);
  const a = pixels[i]! - b * values[i]!;
  for (let k = 0; k < values.length; k++) expect(Math.abs(a + b * values[k]! - pixels[k]!), `${what}[${k}]`).toBeLessThan(0.2);
}

describe('report.html in headless Chromium', () => {
  let report: any;
  let html: string;
  let light: Rendered;
  let dark: Rendered;
  let images: Record<string, Image>;
  let desktop: Layout;
  let mobile: Layout;

  beforeAll(async () => {
    const chromium = ensureChromium();
    const out = path.join(tempDir('html-'), 'report');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out, '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(1); // the example's conclusion is failure (some models fall short)
    report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    const file = path.join(out, 'report.html');
    html = readFileSync(file, 'utf8');
    const shots = tempDir('shots-');
    light = renderPage(chromium, file, { width: 1280, height: 2400, screenshot: path.join(shots, 'light.png') });
    dark = renderPage(chromium, file, { width: 1280, height: 2400, dark: true, screenshot: path.join(shots, 'dark.png') });
    const probes = {
      summaryDecision: 'table.summary td.decision',
      modelDecision: 'section.model h2 .decision',
      evidenceReading: 'table.evidence td:nth-child(3)',
      gatingCheckpoint: 'table.gating td:last-child',
    };
    desktop = measureLayout(chromium, file, { width: 1280, height: 2400, probes });
    // A phone: 390 CSS px wide (the page in an iframe of that width; the screenshot's left 390 columns).
    mobile = measureLayout(chromium, file, { width: 390, height: 2400, probes, screenshot: path.join(shots, 'phone.png') });
    images = { light: decodePng(light.png), dark: decodePng(dark.png), phone: cropWidth(decodePng(new Uint8Array(readFileSync(path.join(shots, 'phone.png')))), 390) };
    const keep = process.env['REPORT_SHOTS_DIR'];
    if (keep) {
      mkdirSync(keep, { recursive: true });
      for (const n of ['light', 'dark', 'phone']) copyFileSync(path.join(shots, `${n}.png`), path.join(keep, `${n}.png`));
    }
  }, 20 * 60_000);

  it('is one self-contained file: no scripts, no external resources', () => {
    expect(html).not.toMatch(/<script\b/i);
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html).toMatch(/@media \(prefers-color-scheme:dark\)/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
  });

  it('renders a page that is not blank, in light mode, dark mode and on a phone', () => {
    for (const [name, img] of Object.entries(images)) {
      expect(img.width, name).toBe(name === 'phone' ? 390 : 1280);
      expect(inkShare(img), name).toBeGreaterThan(0.05);
    }
    // The background follows prefers-color-scheme: near white in light mode, near #0d1117 in dark mode.
    const [lr, lg, lb] = pixel(images.light!, 2, 2);
    const [dr, dg, db] = pixel(images.dark!, 2, 2);
    expect(lr + lg + lb).toBeGreaterThan(3 * 240);
    expect(dr + dg + db).toBeLessThan(3 * 40);
    // The equity lines are drawn in the theme's accent colour (light #0969da, dark #4493f8).
    expect(countNear(images.light!, [0x09, 0x69, 0xda])).toBeGreaterThan(500);
    expect(countNear(images.dark!, [0x44, 0x93, 0xf8])).toBeGreaterThan(500);
    // Profitable and losing folds are coloured bars (light #1a7f37 / #cf222e).
    expect(countNear(images.light!, [0x1a, 0x7f, 0x37], 16)).toBeGreaterThan(200);
    expect(countNear(images.light!, [0xcf, 0x22, 0x2e], 16)).toBeGreaterThan(200);
  });

  it('draws each evaluated model’s backtest curves from report.json, point for point', () => {
    const charts = svgs(light.dom);
    const evaluated = report.models.filter((m: any) => m.charts);
    expect(evaluated.map((m: any) => m.id)).toEqual(['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']);
    for (const m of evaluated) {
      const c = m.charts.backtest;
      const el = charts.filter((s) => s.attrs['data-chart'] === 'backtest' && s.attrs['data-model'] === m.id);
      expect(el, m.id).toHaveLength(1);
      const times = el[0]!.attrs['data-times']!.split(' ');
      expect(times).toEqual(c.time);
      const lines = Object.fromEntries(children(el[0]!.inner, 'polyline').map((p) => [p['data-series'], p]));
      expect(Object.keys(lines).sort()).toEqual(['buyHold', 'drawdown', 'equity']);
      const tms = times.map((t) => Date.parse(t));
      for (const key of ['equity', 'buyHold', 'drawdown'] as const) {
        const p = lines[key]!;
        expect(nums(p['data-values']), `${m.id} ${key}`).toEqual(c[key]);
        const px = points(p['points']);
        expectAffine(
          px.map(([x]) => x),
          tms,
          `${m.id} ${key} x`,
        );
        expectAffine(
          px.map(([, y]) => y),
          c[key],
          `${m.id} ${key} y`,
        );
      }
      // Higher equity is drawn higher up (smaller y); a deeper drawdown lower down.
      const eqPx = points(lines['equity']!['points']);
      const hi = c.equity.indexOf(Math.max(...c.equity));
      const lo = c.equity.indexOf(Math.min(...c.equity));
      expect(eqPx[hi]![1]).toBeLessThan(eqPx[lo]![1]);
      const ddPx = points(lines['drawdown']!['points']);
      const worst = c.drawdown.indexOf(Math.max(...c.drawdown));
      expect(ddPx[worst]![1]).toBeGreaterThan(ddPx[0]![1]);
    }
  });

  it('keeps what the metrics say in the downsampled curves: final equity, max drawdown, buy & hold', () => {
    for (const m of report.models.filter((x: any) => x.charts)) {
      const windows = [
        { name: 'backtest', curve: m.charts.backtest, w: m.backtest },
        ...m.walkForward.folds.map((f: any) => ({ name: `fold ${f.index}`, curve: m.charts.folds.find((c: any) => c.index === f.index), w: f })),
      ];
      for (const { name, curve, w } of windows) {
        const what = `${m.id} ${name}`;
        expect(curve.points, what).toBe(w.bars + 1);
        expect(curve.time.length, what).toBeLessThanOrEqual(name === 'backtest' ? 400 : 160);
        expect(curve.time[0], what).toBe(w.start);
        // The last point is the close of the last bar (its start + one bar).
        expect(Date.parse(curve.time.at(-1)) - Date.parse(w.end), what).toBe(TIMEFRAME_MS[m.timeframe]);
        expect(curve.equity.at(-1), what).toBeCloseTo(w.metrics.finalEquity, 2);
        expect(Math.max(...curve.drawdown), what).toBeCloseTo(w.metrics.maxDrawdown, 8);
        expect(curve.buyHold.at(-1) / curve.buyHold[0] - 1, what).toBeCloseTo(w.metrics.buyHoldReturn, 7);
        expect(curve.equity[0], what).toBe(report.config.backtest.capital);
        const sorted = [...curve.time].sort();
        expect(curve.time, what).toEqual(sorted);
      }
    }
    // The 1-hour model's 721-point backtest curve was thinned, its 31-point daily one was not.
    const byId = Object.fromEntries(report.models.map((m: any) => [m.id, m]));
    expect(byId.BTCUSD_1Hour.charts.backtest.points).toBe(721);
    expect(byId.BTCUSD_1Hour.charts.backtest.time.length).toBeLessThan(721);
    expect(byId.BTCUSD_1Day.charts.backtest.time.length).toBe(31);
  });

  it('draws every fold: its equity against buy & hold, and its return and Sharpe as bars', () => {
    const charts = svgs(light.dom);
    for (const m of report.models.filter((x: any) => x.charts)) {
      const folds = m.walkForward.folds;
      for (const f of folds) {
        const c = m.charts.folds.find((x: any) => x.index === f.index);
        const el = charts.filter((s) => s.attrs['data-chart'] === 'fold' && s.attrs['data-model'] === m.id && s.attrs['data-fold'] === String(f.index));
        expect(el, `${m.id} fold ${f.index}`).toHaveLength(1);
        expect(el[0]!.attrs['data-times']!.split(' ')).toEqual(c.time);
        const lines = Object.fromEntries(children(el[0]!.inner, 'polyline').map((p) => [p['data-series'], p]));
        for (const key of ['equity', 'buyHold', 'drawdown'] as const) {
          expect(nums(lines[key]!['data-values']), `${m.id} fold ${f.index} ${key}`).toEqual(c[key]);
          expectAffine(
            points(lines[key]!['points']).map(([, y]) => y),
            c[key],
            `${m.id} fold ${f.index} ${key} y`,
          );
        }
      }
      for (const [chart, metric] of [
        ['fold-returns', 'totalReturn'],
        ['fold-sharpe', 'sharpe'],
      ] as const) {
        const el = charts.filter((s) => s.attrs['data-chart'] === chart && s.attrs['data-model'] === m.id);
        expect(el, `${m.id} ${chart}`).toHaveLength(1);
        const bars = children(el[0]!.inner, 'rect').filter((r) => r['data-index'] !== undefined);
        const nulls = children(el[0]!.inner, 'text').filter((t) => t['data-value'] === 'null');
        const drawn = new Map<number, number | null>([
          ...bars.map((b) => [Number(b['data-index']), Number(b['data-value'])] as [number, number]),
          ...nulls.map((t) => [Number(t['data-index']), null] as [number, null]),
        ]);
        expect([...drawn.keys()].sort(), `${m.id} ${chart}`).toEqual(folds.map((f: any) => f.index));
        for (const f of folds) expect(drawn.get(f.index), `${m.id} ${chart} fold ${f.index}`).toBe(f.metrics[metric]);
        // Bar heights are proportional to |value| (to the 0.1 px written, 0.5 px at least); positive bars
        // rise from the zero line, negative ones hang below it.
        const defined = bars.map((b) => ({ v: Number(b['data-value']), y: Number(b['y']), h: Number(b['height']) })).filter((b) => b.v !== 0);
        const tallest = defined.reduce((a, b) => (Math.abs(b.v) > Math.abs(a.v) ? b : a));
        const perUnit = tallest.h / Math.abs(tallest.v);
        for (const b of defined) expect(Math.abs(Math.max(0.5, perUnit * Math.abs(b.v)) - b.h), `${m.id} ${chart} ${b.v}`).toBeLessThan(0.2);
        const zeroY = defined.map((b) => (b.v > 0 ? b.y + b.h : b.y));
        for (const z of zeroY) expect(Math.abs(z - zeroY[0]!)).toBeLessThan(0.2);
      }
    }
  });

  it('shows the decision, its reasons, the gating table and the notes of every model', () => {
    const text = unescapeHtml(light.dom.replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ');
    for (const m of report.models) {
      expect(text, m.id).toContain(m.id);
      if (m.decision) for (const r of m.decision.reasons) expect(text, `${m.id} reason`).toContain(r.replace(/\s+/g, ' '));
      else expect(text, `${m.id} not evaluated`).toContain(`not evaluated, so no decision (requested ${m.requested}): ${m.notEvaluated.reason}`.replace(/\s+/g, ' '));
      for (const q of m.dataQuality) expect(text).toContain(q.message);
    }
    expect(text).toContain('Gating');
    expect(text).toContain('IN_SAMPLE_OVERLAP: the evaluation starts 2024-03-15T00:00:00.000Z');
    expect(text).toContain('export it to ONNX');
  });

  it('at 1280 px nothing is cut off: every table fits its column, the Evidence reading and the gating Checkpoint are on screen', () => {
    expect(desktop.viewport).toBe(1280);
    expect(desktop.pageWidth).toBeLessThanOrEqual(1280);
    expect(desktop.tables.length).toBeGreaterThan(5);
    for (const t of desktop.tables) expect(t.width, `table ${t.index} (${t.head})`).toBeLessThanOrEqual(t.container + 0.5);
    const evaluated = report.models.filter((m: any) => m.evidence).length;
    expect(desktop.probes['evidenceReading']!.length).toBe(evaluated * 9);
    expect(desktop.probes['gatingCheckpoint']!.length).toBe(report.models.filter((m: any) => m.gating).length);
    for (const k of ['evidenceReading', 'gatingCheckpoint', 'summaryDecision', 'modelDecision']) {
      for (const c of desktop.probes[k]!) expect(c.right, `${k}: ${c.text}`).toBeLessThanOrEqual(1280);
    }
  });

  it('on a 390 px phone the page does not scroll sideways, wide tables scroll inside their box, and every decision is on screen', () => {
    expect(mobile.viewport).toBe(390);
    expect(mobile.pageWidth).toBeLessThanOrEqual(390);
    for (const t of mobile.tables) {
      const fits = t.width <= t.container + 0.5;
      expect(fits || ['auto', 'scroll'].includes(t.overflowX), `table ${t.index} (${t.head}) is ${t.width} px in ${t.container} px and does not scroll`).toBe(true);
    }
    // The summary's decision column and each model's decision badge: fully inside the 390 px screen.
    const decisions = mobile.probes['summaryDecision']!;
    expect(decisions.map((d) => d.text)).toEqual(report.models.map((m: any) => m.decision?.tier ?? 'not evaluated'));
    for (const d of [...decisions, ...mobile.probes['modelDecision']!]) {
      expect(d.left, d.text).toBeGreaterThanOrEqual(0);
      expect(d.right, d.text).toBeLessThanOrEqual(390);
    }
    expect(mobile.probes['modelDecision']!.length).toBe(report.models.length);
  });

  it("draws a model's fold charts on shared scales: the same value is at the same height in every fold", () => {
    const charts = svgs(light.dom);
    for (const m of report.models.filter((x: any) => x.charts)) {
      const folds = charts.filter((s) => s.attrs['data-chart'] === 'fold' && s.attrs['data-model'] === m.id);
      expect(folds.length, m.id).toBe(m.walkForward.folds.length);
      for (const key of ['equity', 'drawdown'] as const) {
        const series = folds.map((f) => {
          const p = children(f.inner, 'polyline').find((x) => x['data-series'] === key)!;
          return { values: nums(p['data-values']), ys: points(p['points']).map(([, y]) => y) };
        });
        // The map value → pixel of the fold with the widest range, checked against every fold's points.
        const widest = series.reduce((a, b) => (Math.max(...b.values) - Math.min(...b.values) > Math.max(...a.values) - Math.min(...a.values) ? b : a));
        const hi = widest.values.indexOf(Math.max(...widest.values));
        const lo = widest.values.indexOf(Math.min(...widest.values));
        const slope = (widest.ys[hi]! - widest.ys[lo]!) / (widest.values[hi]! - widest.values[lo]!);
        const at = (v: number): number => widest.ys[lo]! + slope * (v - widest.values[lo]!);
        series.forEach((s, k) => {
          s.values.forEach((v, i) => {
            expect(Math.abs(at(v) - s.ys[i]!), `${m.id} fold ${k + 1} ${key}[${i}]`).toBeLessThan(0.3);
          });
        });
      }
    }
  });

  it('escapes everything that comes from an archive', () => {
    const hostile = structuredClone(report);
    const m = hostile.models.find((x: any) => x.charts);
    m.id = '<img src=x onerror=alert(1)>"\'&';
    m.candidate = '<script>alert(2)</script>';
    m.decision.reasons = ['</li><script>alert(3)</script>'];
    m.notes = ['<svg onload=alert(4)>'];
    m.dataQuality = [{ kind: 'gap', message: '<iframe src=//evil>' }];
    m.flags = ['<b>FLAG</b>'];
    const out = renderHtml(hostile);
    expect(out).not.toMatch(/<(script|img|iframe)\b/i);
    expect(out).not.toContain('<b>FLAG');
    expect(out).not.toMatch(/<svg onload/i);
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
    expect(out).toContain('data-model="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"');
  });
});
