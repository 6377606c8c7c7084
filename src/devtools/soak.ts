/**
 * `npm run soak` (node lib/devtools/soak.js): memory and CPU of `validate` over many small models on
 * 1-minute bars, to show that the run stays flat in the number of models and symbols.
 *
 * Writes a benchmark archive (bench-archive.ts) of N small models (default 500: window 8 × 8 features,
 * MLP 64 → 16 → 8, one symbol each) and generated 1-minute bars (a seeded random walk, default 30 days:
 * 43 200 bars per symbol, one file hard-linked under every symbol's name), then runs validate in ONE child
 * process with a 2-day backtest and a 10-day 5-fold walk-forward, and reports:
 *   - the parent's CPU seconds and peak RSS (VmHWM from /proc), and its RSS after every 50 models;
 *   - each onnxruntime process's CPU seconds and peak RSS, read from /proc before it is stopped;
 *   - the wall time, and the decisions.
 * Flags: --models N · --days D (history of 1-minute bars) · --position-aware (cards with position state:
 * stepped in lockstep, much slower) · --keep · --json.
 *
 * A measurement, not a test: it exits non-zero only when a run errors.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: '500' },
    days: { type: 'string', default: '30' },
    'position-aware': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    measure: { type: 'string' },
  },
});

/** A seeded random walk of 1-minute bars as the CSV the data folder holds. */
export function minuteBarsCsv(days: number, seed = 7): string {
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const start = Date.parse('2024-06-01T00:00:00Z');
  const lines = ['timestamp,open,high,low,close,volume'];
  let close = 60_000;
  for (let i = 0; i < days * 1440; i++) {
    const open = close;
    close = open * Math.exp((rand() - 0.5) * 0.002);
    const high = Math.max(open, close) * (1 + rand() * 0.0005);
    const low = Math.min(open, close) * (1 - rand() * 0.0005);
    const volume = 1 + rand() * 10;
    lines.push(`${new Date(start + i * 60_000).toISOString().replace('.000Z', 'Z')},${open.toFixed(2)},${high.toFixed(2)},${low.toFixed(2)},${close.toFixed(2)},${volume.toFixed(4)}`);
  }
  return lines.join('\n') + '\n';
}

interface ProcessFigures {
  pid: number;
  cpuS: number;
  peakMiB: number;
}

/** utime + stime (clock ticks of 1/100 s) and VmHWM of a process, from /proc. */
function procFigures(pid: number | 'self'): ProcessFigures | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { pid: pid === 'self' ? process.pid : pid, cpuS: (Number(f[11]) + Number(f[12])) / 100, peakMiB: hwm ? Number(hwm[1]) / 1024 : Number.NaN };
  } catch {
    return null;
  }
}

interface Soak {
  models: number;
  bars: number;
  wallS: number;
  parent: ProcessFigures;
  /** The parent's resident memory after every 50 evaluated models (MiB). */
  rssSteps: number[];
  /** report.json's size: what the run must keep in memory whatever else it frees. */
  reportMiB: number;
  hosts: ProcessFigures[];
  decisions: Record<string, number>;
  errors: string[];
}

async function measure(spec: string): Promise<void> {
  const bench = JSON.parse(spec) as { archiveDir: string; dataDir: string };
  const { runValidate } = await import('../app/validate.js');
  const { defaultConfig } = await import('../config/schema.js');
  const { ortHostPids, shutdownOrtHost } = await import('../adapters/onnx/host.js');
  const config = defaultConfig();
  config.data.source = 'csv';
  config.data.dir = bench.dataDir;
  config.backtest.days = 2;
  config.walkForward.days = 10;
  config.walkForward.folds = 5;
  const rssSteps: number[] = [];
  const hosts = new Map<number, ProcessFigures>();
  const t0 = performance.now();
  const report = await runValidate(bench.archiveDir, config, null, {
    now: new Date('2024-07-01T00:00:00Z'),
    log: () => {},
    endMs: undefined,
    equityOut: null,
    progress: ({ done }) => {
      // Host figures are read while the processes live (a crash would start a new one).
      for (const pid of ortHostPids()) {
        const f = procFigures(pid);
        if (f) hosts.set(pid, f);
      }
      if (done > 0 && done % 50 === 0 && rssSteps.length < done / 50) rssSteps.push(process.memoryUsage.rss() / MiB);
    },
  });
  const wallS = (performance.now() - t0) / 1000;
  for (const pid of ortHostPids()) {
    const f = procFigures(pid);
    if (f) hosts.set(pid, f);
  }
  await shutdownOrtHost();
  // The parent's figures first: the size below is measured model by model, never as one string of the
  // whole report (261 MiB at 500 models), which would itself be the run's peak.
  const parent = procFigures('self') ?? { pid: process.pid, cpuS: process.cpuUsage().user / 1e6, peakMiB: process.resourceUsage().maxRSS / 1024 };
  let reportBytes = Buffer.byteLength(JSON.stringify({ ...report, models: [] })) + Math.max(0, report.models.length - 1);
  for (const m of report.models) reportBytes += Buffer.byteLength(JSON.stringify(m));
  const reportMiB = reportBytes / MiB;
  const decisions: Record<string, number> = {};
  for (const m of report.models) decisions[m.decision?.tier ?? 'none'] = (decisions[m.decision?.tier ?? 'none'] ?? 0) + 1;
  const out: Soak = {
    models: report.models.length,
    bars: 0,
    wallS,
    parent,
    rssSteps,
    reportMiB,
    hosts: [...hosts.values()],
    decisions,
    errors: report.models.flatMap((m) => m.errors.map((e) => `${m.id}: ${e}`)),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function orchestrate(): Promise<void> {
  const { writeBenchArchive } = await import('./bench-archive.js');
  const models = Number(args.models);
  const days = Number(args.days);
  const root = await mkdtemp(path.join(tmpdir(), 'policy-gate-soak-'));
  try {
    const t0 = performance.now();
    const csv = minuteBarsCsv(days);
    const bench = await writeBenchArchive(root, csv, {
      models,
      window: 8,
      features: 8,
      hidden: [16],
      positionAware: args['position-aware'],
      timeframe: '1Min',
      manifest: true,
      golden: true,
    });
    process.stderr.write(`soak: generated ${models} models and ${days} days of 1-minute bars (${days * 1440} per symbol) in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${root}\n`);
    const child = spawn(process.execPath, [here, '--measure', JSON.stringify(bench)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
    if (code !== 0) {
      process.stderr.write(`soak: the measuring process exited with ${code}\n`);
      process.exitCode = 1;
      return;
    }
    const soak = { ...(JSON.parse(stdout) as Soak), bars: days * 1440 };
    if (args.json) process.stdout.write(JSON.stringify(soak, null, 2) + '\n');
    else {
      const rows: [string, string][] = [
        ['run', `${soak.models} models, ${soak.bars} 1-minute bars per symbol, one symbol each; validate ${soak.wallS.toFixed(1)} s`],
        ['policy-gate', `CPU ${soak.parent.cpuS.toFixed(1)} s, peak RSS ${soak.parent.peakMiB.toFixed(0)} MiB`],
        ['RSS after every 50 models', soak.rssSteps.map((r) => `${r.toFixed(0)}`).join(', ') + ' MiB'],
        ['report.json', `${soak.reportMiB.toFixed(1)} MiB (${((soak.reportMiB * 1024) / soak.models).toFixed(0)} KiB per model)`],
        ...soak.hosts.map((h, i) => [`onnxruntime process ${i + 1}`, `CPU ${h.cpuS.toFixed(1)} s, peak RSS ${h.peakMiB.toFixed(0)} MiB`] as [string, string]),
        [
          'decisions',
          Object.entries(soak.decisions)
            .map(([k, v]) => `${k} ${v}`)
            .join(', '),
        ],
        ...soak.errors.slice(0, 5).map((e) => ['ERROR', e] as [string, string]),
      ];
      const w = Math.max(...rows.map(([k]) => k.length));
      process.stdout.write(rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n');
    }
    if (soak.errors.length) process.exitCode = 1;
  } finally {
    if (args.keep) process.stderr.write(`soak: kept ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
}

if (args.measure) await measure(args.measure);
else await orchestrate();
