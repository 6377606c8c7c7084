/**
 * Headless Chromium for the report.html test: Debian's `chromium` package, installed with apt when it
 * is missing and the process can (root; CI runs the tests as root with Debian's apt reachable). When
 * it cannot be installed, `ensureChromium` throws with the reason — the test fails, it never skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : null;
}

function apt(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('apt-get', args, {
    encoding: 'utf8',
    timeout: 15 * 60_000,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return { ok: r.status === 0, out: `${r.error ? `${r.error.message}\n` : ''}${r.stdout ?? ''}${r.stderr ?? ''}`.slice(-2000) };
}

/** The chromium binary, installing Debian's package first when it is missing. */
export function ensureChromium(): string {
  const found = which('chromium');
  if (found) return found;
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(
      `chromium is needed for the report.html screenshot tests and this process (uid ${uid}) cannot install it: run "sudo apt-get install -y chromium" (Debian's package), then rerun npm test`,
    );
  }
  if (!which('apt-get'))
    throw new Error(
      'chromium is needed for the report.html screenshot tests and apt-get is not available: install Chromium (Debian\'s "chromium" package) so that "chromium" is on PATH, then rerun npm test',
    );
  let install = apt(['install', '-y', '--no-install-recommends', 'chromium']);
  if (!install.ok) {
    const update = apt(['update']);
    if (!update.ok) throw new Error(`chromium is needed for the report.html screenshot tests: run "sudo apt-get install -y chromium" ("apt-get update" failed here):\n${update.out}`);
    install = apt(['install', '-y', '--no-install-recommends', 'chromium']);
  }
  const after = which('chromium');
  if (!install.ok || !after) throw new Error(`chromium is needed for the report.html screenshot tests: "apt-get install -y chromium" failed here:\n${install.out}`);
  return after;
}

export interface Rendered {
  /** The DOM after layout (--dump-dom). */
  dom: string;
  /** The screenshot (PNG bytes). */
  png: Uint8Array;
}

/**
 * Renders `file` in headless Chromium with a fresh profile: its DOM and a screenshot of `width`×`height`.
 * `dark` asks for prefers-color-scheme: dark.
 */
export function renderPage(chromium: string, file: string, opts: { width: number; height: number; dark?: boolean; screenshot: string }): Rendered {
  const common = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', '--disable-dev-shm-usage', '--mute-audio'];
  if (opts.dark) common.push('--force-dark-mode', '--blink-settings=preferredColorScheme=0');
  const url = `file://${path.resolve(file)}`;
  const run = (args: string[]): string => {
    const profile = mkdtempSync(path.join(tmpdir(), 'policy-gate-chromium-'));
    try {
      const r = spawnSync(chromium, [...common, `--user-data-dir=${profile}`, ...args, url], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
      if (r.status !== 0) throw new Error(`chromium ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.error?.message ?? '') + r.stderr.slice(-2000)}`);
      return r.stdout;
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  };
  const dom = run(['--dump-dom', '--virtual-time-budget=2000']);
  run([`--screenshot=${opts.screenshot}`, `--window-size=${opts.width},${opts.height}`]);
  return { dom, png: new Uint8Array(readFileSync(opts.screenshot)) };
}

/** What measureLayout reads from a laid-out page. */
export interface Layout {
  /** The viewport's width (CSS px) and the page's scroll width: the page overflows when it is larger. */
  viewport: number;
  pageWidth: number;
  tables: { index: number; cls: string; head: string; width: number; container: number; overflowX: string }[];
  /** Each element matching a `probes` selector: its text and horizontal extent. */
  probes: Record<string, { text: string; left: number; right: number }[]>;
}

/**
 * Lays `file` out in a viewport of `width` CSS px and measures it with a script run in the page. The page
 * is shown in an iframe of exactly that width, because a headless window is never narrower than 500 px:
 * the iframe's media queries and layout are those of a `width`-px screen (a phone at 390). The script
 * posts its measurements to the outer page, which --dump-dom prints. `screenshot` (optional) captures
 * the outer page, the iframe at its top left.
 */
export function measureLayout(chromium: string, file: string, opts: { width: number; height: number; probes: Record<string, string>; screenshot?: string }): Layout {
  const dir = mkdtempSync(path.join(tmpdir(), 'policy-gate-layout-'));
  try {
    const script = `(function(){
      var probes = ${JSON.stringify(opts.probes)};
      var out = { viewport: window.innerWidth, pageWidth: document.documentElement.scrollWidth, tables: [], probes: {} };
      document.querySelectorAll('table').forEach(function (t, i) {
        var wrap = t.parentElement;
        out.tables.push({ index: i, cls: t.className, head: Array.prototype.map.call(t.querySelectorAll('th'), function (h) { return h.textContent; }).join('|'),
          width: t.getBoundingClientRect().width, container: wrap.clientWidth, overflowX: getComputedStyle(wrap).overflowX });
      });
      Object.keys(probes).forEach(function (k) {
        out.probes[k] = Array.prototype.map.call(document.querySelectorAll(probes[k]), function (e) {
          var r = e.getBoundingClientRect(); return { text: e.textContent, left: r.left, right: r.right };
        });
      });
      parent.postMessage(JSON.stringify(out), '*');
    })();`;
    const html = readFileSync(file, 'utf8').replace('</body>', `<script>${script}</script></body>`);
    writeFileSync(path.join(dir, 'page.html'), html);
    writeFileSync(
      path.join(dir, 'frame.html'),
      `<!doctype html><html><body style="margin:0;background:#888"><iframe src="page.html" style="display:block;border:0;width:${opts.width}px;height:${opts.height}px"></iframe>` +
        `<pre id="pg-layout"></pre><script>addEventListener('message', function (e) { document.getElementById('pg-layout').textContent = e.data; });</script></body></html>`,
    );
    const outer = Math.max(500, opts.width);
    const common = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', '--disable-dev-shm-usage', '--mute-audio', `--window-size=${outer},${opts.height}`];
    const run = (args: string[]): string => {
      const profile = mkdtempSync(path.join(tmpdir(), 'policy-gate-chromium-'));
      try {
        const r = spawnSync(chromium, [...common, `--user-data-dir=${profile}`, ...args, `file://${path.join(dir, 'frame.html')}`], {
          encoding: 'utf8',
          timeout: 120_000,
          maxBuffer: 64 * 1024 * 1024,
        });
        if (r.status !== 0) throw new Error(`chromium ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.error?.message ?? '') + r.stderr.slice(-2000)}`);
        return r.stdout;
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    };
    const dom = run(['--dump-dom', '--virtual-time-budget=3000']);
    const m = /<pre id="pg-layout">([\s\S]*?)<\/pre>/.exec(dom);
    const text = (m?.[1] ?? '').replace(/&(amp|lt|gt|quot|#39);/g, (_x, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);
    if (!text) throw new Error(`the layout script reported nothing for ${file} at ${opts.width} px`);
    if (opts.screenshot) run([`--screenshot=${opts.screenshot}`]);
    return JSON.parse(text) as Layout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
