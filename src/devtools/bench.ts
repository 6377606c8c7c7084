/**
 * `npm run bench` (node lib/devtools/bench.js): the validation benchmark of issue 8.
 *
 * Builds the benchmark archive (bench-archive.ts: 20 models, observation 100 × 59, MLP 5900→256→256→8,
 * position-aware cards by default) and the bars for every symbol in a temporary folder, then in ONE
 * child node process (so its peak memory is the measurement's alone):
 *   1. `runValidate` end to end (open + hash + manifest, gate, load, golden check, 30-day backtest and
 *      180-day 5-fold walk-forward on hourly bars, evidence, decide) — the number the target is about;
 *   2. the seed-shaped single-model command: `backtest --days 180 --walk-forward 5` on the first model;
 *   3. the floor: create the same 20 ONNX sessions with onnxruntime-node in this process (no isolation,
 *      no inter-process hop; the session options policy-gate uses, 1 intra-op thread) and run ONE
 *      batched inference per model over the number of observations validate infers for it (counted
 *      from the report's windows, the cost-stressed folds included); and, for reference, the same with
 *      2 intra-op threads (the fastest a lone batched call gets on 2 cores);
 *   4. a card with a feature graph (test/fixtures/feature-graph on examples/data): the graph's columns
 *      over every bar, and `backtest --days 30 --walk-forward 3` with it;
 * and prints a table: total, floor, ratio, time per fold, observations per second, peak RSS.
 *
 * Validate runs both ways in each repeat, alternating: with the first-layer split (the default,
 * docs/performance.md) and with runtime.split_first_layer false, and their report.json are compared
 * (decisions and numbers). CPU seconds are read from /proc for policy-gate's process and each
 * onnxruntime process (utime + stime), peak memory from VmHWM; the CPU is named from /proc/cpuinfo;
 * the work is the full model's FLOPs over the observations, against the peak GFLOP/s the floor's batched
 * runs reach on 1 and 2 cores.
 *
 * Flags: --models N (20) · --position-independent (cards without position / unrealized_return) ·
 * --both (run both kinds) · --repeat N (validate and floor N times each; the ratio compares the best
 * runs, and the first validate run — a fresh process, as the CLI runs — is shown too; 3) · --no-single ·
 * --profile DIR (write a V8 CPU profile of the measuring process into DIR) · --json · --keep (keep the
 * temporary folder) · --verbose (validate's progress lines) · --parallel N (runtime.parallel_models; default the
 * config's, 2) · --no-stress (evidence.cost_stress.multiplier null: no cost-stressed folds to simulate) ·
 * --no-full (skip the runs without the split).
 *
 * A benchmark, not a test: it never fails on a time; it exits non-zero only when a run errors.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = fileURLToPath(import.meta.url);
const repoRoot = path.resolve(path.dirname(here), '..', '..');

/** FLOPs of one observation through the benchmark's MLP (a multiply-add counts 2): D → hidden… → 8 actions. */
function flopsPerObservation(o: { window: number; features: number; hidden: number[] }): number {
  const sizes = [o.window * o.features, ...o.hidden, 8];
  let f = 0;
  for (let i = 0; i + 1 < sizes.length; i++) f += 2 * sizes[i]! * sizes[i + 1]!;
  return f;
}

/** CPU seconds of one validate run: policy-gate's own process, and its onnxruntime processes (from /proc). */
interface CpuSplit {
  parent: number;
  hosts: number;
}

/** utime + stime of a process in seconds, and its peak RSS (VmHWM) in MiB, from /proc; null without /proc. */
function procUsage(pid: number | 'self'): { cpuS: number; peakMiB: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks of 1/100 s (USER_HZ on Linux).
    const cpuS = (Number(fields[11]) + Number(fields[12])) / 100;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuS, peakMiB: hwm ? Number(hwm[1]) / 1024 : NaN };
  } catch {
    return null;
  }
}

/** The CPU as /proc/cpuinfo names it (the benchmark's numbers belong to it), else os.cpus(). */
function cpuDescription(): string {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const first = text.split('\n\n')[0]!;
    const get = (k: string): string | undefined => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim();
    const flags = get('flags')?.split(' ') ?? [];
    const vec = flags.includes('avx512f') ? 'AVX-512' : flags.includes('avx2') ? 'AVX2' : flags.includes('avx') ? 'AVX' : 'no AVX';
    return `${get('model name') ?? 'unknown'} (family ${get('cpu family') ?? '?'} model ${get('model') ?? '?'}, ${vec})`;
  } catch {
    return cpus()[0]?.model.trim() ?? 'unknown CPU';
  }
}

interface Measurement {
  kind: 'position-aware' | 'position-independent';
  models: number;
  folds: number;
  observations: number;
  validate: { ms: number[]; best: number; errors: string[]; decisions: Record<string, number>; peakRssMiB: number; cpu: CpuSplit[]; inference: string };
  /** The same runs with runtime.split_first_layer false (the full model at every step), alternating with them. */
  validateFull: { ms: number[]; best: number; cpu: CpuSplit[] } | null;
  /** Whether the split and the full runs wrote the same report (decisions and numbers; models[].inference aside). */
  identical: boolean | null;
  /** FLOPs of the full model per observation, and over all of validate's observations. */
  flopsPerObservation: number;
  /** CPU seconds of the floor's best run (in-process, 1 intra-op thread). */
  floorCpuS: number;
  /** /proc/cpuinfo: model name, family/model, and the widest vector extension. */
  cpuInfo: string;
  /** The floor: onnxruntime in this process, the session options validate uses (1 intra-op thread). */
  floor: { ms: number[]; best: number; loadMs: number; inferMs: number; peakRssMiB: number };
  /** The same with 2 intra-op threads (the machine's best for a lone batched call), on 2+ cores. */
  floor2: Measurement['floor'] | null;
  single: { ms: number; observations: number; errors: string[]; peakRssMiB: number } | null;
  /** A card with a feature graph (test/fixtures/feature-graph on examples/data): the graph's columns alone, and a backtest with 3 folds. */
  graph: { bars: number; columnsMs: number; backtestMs: number; errors: string[] } | null;
  maxRssMiB: number;
  /** Peak RSS of the onnxruntime host processes (src/adapters/onnx/host.ts, one per slot) during validate, summed. */
  hostPeakRssMiB: number | null;
  /** Observations of the required windows alone (the backtest and the folds, without the cost-stressed folds). */
  requiredObservations: number;
  parallelModels: number;
  archiveMiB: number;
  generateMs: number;
  node: string;
  onnxruntime: string;
  cpu: string;
  cores: number;
}

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: '20' },
    'position-independent': { type: 'boolean', default: false },
    both: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    'no-single': { type: 'boolean', default: false },
    'no-stress': { type: 'boolean', default: false },
    profile: { type: 'string' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    parallel: { type: 'string' },
    'no-full': { type: 'boolean', default: false },
    // internal: the measuring child
    measure: { type: 'string' },
  },
  allowPositionals: false,
});

const MiB = 1024 * 1024;

// ------------------------------------------------------------------ parent: generate, spawn, print

async function orchestrate(): Promise<void> {
  const { writeBenchArchive } = await import('./bench-archive.js');
  const kinds: boolean[] = args.both ? [true, false] : [!args['position-independent']];
  const results: Measurement[] = [];
  let failed = false;
  for (const positionAware of kinds) {
    const root = await mkdtemp(path.join(tmpdir(), 'policy-gate-bench-'));
    try {
      const t0 = performance.now();
      const csv = await readFile(path.join(repoRoot, 'examples', 'data', 'BTCUSD_1Hour.csv'), 'utf8');
      const bench = await writeBenchArchive(root, csv, { models: Number(args.models), positionAware });
      const generateMs = performance.now() - t0;
      process.stderr.write(
        `bench: generated ${bench.ids.length} ${positionAware ? 'position-aware' : 'position-independent'} models (${(bench.archiveBytes / MiB).toFixed(0)} MiB) in ${(generateMs / 1000).toFixed(1)} s under ${root}\n`,
      );
      const childArgs = [
        ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args.profile)}`] : []),
        here,
        '--measure',
        JSON.stringify({ ...bench, positionAware, generateMs }),
        '--repeat',
        args.repeat!,
        ...(args['no-single'] ? ['--no-single'] : []),
        ...(args.verbose ? ['--verbose'] : []),
        ...(args.parallel ? ['--parallel', args.parallel] : []),
        ...(args['no-stress'] ? ['--no-stress'] : []),
        ...(args['no-full'] ? ['--no-full'] : []),
      ];
      const out = await runChild(process.execPath, childArgs);
      if (out.code !== 0) {
        failed = true;
        process.stderr.write(`bench: the measuring process exited with ${out.code}\n`);
        continue;
      }
      const m = JSON.parse(out.stdout) as Measurement;
      results.push(m);
      if (m.validate.errors.length || m.single?.errors.length) failed = true;
    } finally {
      if (args.keep) process.stderr.write(`bench: kept ${root}\n`);
      else await rm(root, { recursive: true, force: true });
    }
  }
  if (args.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else for (const m of results) process.stdout.write(table(m) + '\n');
  if (failed) process.exitCode = 1;
}

function runChild(cmd: string, argv: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

function table(m: Measurement): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const total = (c: CpuSplit): number => c.parent + c.hosts;
  const bestCpu = (cs: CpuSplit[]): CpuSplit => cs.reduce((a, c) => (total(c) < total(a) ? c : a));
  const cpuText = (cs: CpuSplit[]): string => {
    const c = bestCpu(cs);
    return `CPU ${total(c).toFixed(2)} s (policy-gate ${c.parent.toFixed(2)} s + onnxruntime processes ${c.hosts.toFixed(2)} s; least of ${cs.length})`;
  };
  const flops = m.observations * m.flopsPerObservation;
  const gflops = (ms: number): string => `${(flops / (ms / 1000) / 1e9).toFixed(1)} GFLOP/s`;
  const splitCpu = total(bestCpu(m.validate.cpu));
  const rows: [string, string][] = [
    ['machine', `${m.cpuInfo}, ${m.cores} cores, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`],
    ['archive', `${m.models} models, ${m.kind}, ${m.archiveMiB.toFixed(0)} MiB; 30-day backtest + 180-day ${m.folds}-fold walk-forward, 1Hour bars`],
    [
      'validate, end to end',
      `${s(m.validate.best)}${m.validate.ms.length > 1 ? ` best of ${m.validate.ms.length}; first run (fresh process) ${s(m.validate.ms[0]!)}` : ''}; runtime.parallel_models ${m.parallelModels}`,
    ],
    [
      'floor (load + 1 batched run/model)',
      `${s(m.floor.best)}${m.floor.ms.length > 1 ? ` best of ${m.floor.ms.length}` : ''} (load ${s(m.floor.loadMs)}, inference ${s(m.floor.inferMs)}); onnxruntime in-process, 1 intra-op thread`,
    ],
    ['ratio validate / floor', `${(m.validate.best / m.floor.best).toFixed(2)}×`],
    ['validate CPU', cpuText(m.validate.cpu)],
    ['inference', m.validate.inference],
    ...(m.validateFull
      ? ([
          [
            'validate, full model at every step',
            `${s(m.validateFull.best)} best of ${m.validateFull.ms.length}; ${cpuText(m.validateFull.cpu)} (runtime.split_first_layer false, runs alternating with the split's)`,
          ],
          ['report.json, split vs full', m.identical ? 'identical (decisions and numbers; models[].inference aside)' : 'DIFFERENT'],
          ['split / full model', `wall ${(m.validate.best / m.validateFull.best).toFixed(2)}×, CPU ${(splitCpu / total(bestCpu(m.validateFull.cpu))).toFixed(2)}×`],
        ] as [string, string][])
      : []),
    [
      'validate / old floor',
      `wall ${(m.validate.best / m.floor.best).toFixed(2)}×, CPU ${(splitCpu / m.floorCpuS).toFixed(2)}× (floor CPU ${m.floorCpuS.toFixed(2)} s)${
        m.validateFull ? `; full model: wall ${(m.validateFull.best / m.floor.best).toFixed(2)}×, CPU ${(total(bestCpu(m.validateFull.cpu)) / m.floorCpuS).toFixed(2)}×` : ''
      }`,
    ],
    [
      'work',
      `${(flops / 1e9).toFixed(1)} GFLOP (the full model over the observations, ${(m.flopsPerObservation / 1e6).toFixed(2)} MFLOP each); peak 1 core ${gflops(m.floor.inferMs)}${
        m.floor2 ? `, 2 cores ${gflops(m.floor2.inferMs)}` : ''
      } (the floor's batched runs); validate achieves ${(flops / splitCpu / 1e9).toFixed(1)} GFLOP per CPU-second, ${gflops(m.validate.best)} of wall`,
    ],
    [
      'work floor',
      `${s(m.floor.inferMs)} of one core's CPU${m.floor2 ? `, ${s(m.floor2.inferMs)} of wall on 2 cores` : ''} (the full model's FLOPs at the measured peak); validate / it: wall ${(
        m.validate.best / (m.floor2?.inferMs ?? m.floor.inferMs)
      ).toFixed(2)}×, CPU ${(splitCpu / (m.floor.inferMs / 1000)).toFixed(2)}×`,
    ],
    ...(m.floor2
      ? ([['floor, 2 intra-op threads', `${s(m.floor2.best)} (load ${s(m.floor2.loadMs)}, inference ${s(m.floor2.inferMs)}); validate / this: ${(m.validate.best / m.floor2.best).toFixed(2)}×`]] as [
          string,
          string,
        ][])
      : []),
    ['time per fold', `${(m.validate.best / (m.models * m.folds)).toFixed(0)} ms (validate total / ${m.models * m.folds} folds, backtests included)`],
    [
      'observations inferred',
      `${m.observations} (${Math.round(m.observations / m.models)} per model${
        m.observations !== m.requiredObservations ? `: ${Math.round(m.requiredObservations / m.models)} for the backtest and folds, the rest for the cost-stressed folds` : ''
      })`,
    ],
    ['observations / s', `${Math.round(m.observations / (m.validate.best / 1000))} (floor: ${Math.round(m.observations / (m.floor.best / 1000))})`],
    [
      'peak RSS',
      `validate ${m.validate.peakRssMiB.toFixed(0)} MiB + onnxruntime processes ${m.hostPeakRssMiB?.toFixed(0) ?? '—'} MiB (sum of their peaks); floor ${m.floor.peakRssMiB.toFixed(0)} MiB`,
    ],
    [
      'decisions',
      Object.entries(m.validate.decisions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
  ];
  if (m.single) {
    rows.push(['backtest --days 180 --walk-forward 5 (1 model)', `${s(m.single.ms)}, ${m.single.observations} observations, peak RSS ${m.single.peakRssMiB.toFixed(0)} MiB`]);
  }
  if (m.graph) {
    rows.push([
      'feature graph (test/fixtures/feature-graph)',
      `columns over ${m.graph.bars} bars ${m.graph.columnsMs.toFixed(0)} ms (${((m.graph.columnsMs * 1000) / m.graph.bars).toFixed(0)} µs per bar); backtest --days 30 --walk-forward 3 ${s(m.graph.backtestMs)}`,
    ]);
  }
  for (const e of [...m.validate.errors, ...(m.single?.errors ?? []), ...(m.graph?.errors ?? [])]) rows.push(['ERROR', e]);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}

// ------------------------------------------------------------------ child: the measurements

/** Samples RSS while a phase runs (the event loop turns between inference calls). */
class RssSampler {
  private peak = 0;
  private timer: NodeJS.Timeout | undefined;
  start(): void {
    this.peak = process.memoryUsage.rss();
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage.rss());
    }, 10);
  }
  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
    return this.peak / MiB;
  }
}

async function measure(spec: string): Promise<void> {
  const bench = JSON.parse(spec) as {
    archiveDir: string;
    dataDir: string;
    ids: string[];
    modelPaths: string[];
    archiveBytes: number;
    positionAware: boolean;
    generateMs: number;
    options: { window: number; features: number; hidden: number[] };
  };
  const { runValidate } = await import('../app/validate.js');
  const { runBacktest } = await import('../app/backtest.js');
  const { defaultConfig } = await import('../config/schema.js');
  const { onnxruntimeVersion } = await import('../adapters/onnx/session.js');
  const { ortHostPeakRssKiB, shutdownOrtHost } = await import('../adapters/onnx/host.js');
  const hostPeak = async (): Promise<number | null> => {
    const kib = await ortHostPeakRssKiB();
    await shutdownOrtHost(); // the next phase starts a fresh host, so each peak is its own
    return kib === null ? null : kib / 1024;
  };
  const { loadBarsFromDir } = await import('../adapters/bars/csv.js');
  const repeat = Math.max(1, Number(args.repeat));
  const log = args.verbose ? (line: string) => process.stderr.write(`  ${line}\n`) : () => {};
  const now = new Date('2025-01-02T00:00:00Z');

  const config = defaultConfig();
  config.data.source = 'csv';
  config.data.dir = bench.dataDir;
  if (args.parallel) config.runtime.parallelModels = Number(args.parallel);
  if (args['no-stress']) config.evidence.costStress.multiplier = null;

  // 1. validate, end to end: with the first-layer split (the default) and, alternating with it, with the
  // full model at every step, so both are measured on the same machine state. CPU seconds from /proc:
  // this process, and the onnxruntime processes (kept across runs, so each run's share is a difference).
  const { ortHostPids } = await import('../adapters/onnx/host.js');
  const hostCpu = (): number => ortHostPids().reduce((a, pid) => a + (procUsage(pid)?.cpuS ?? 0), 0);
  const validateMs: number[] = [];
  const fullMs: number[] = [];
  const cpuSplit: CpuSplit[] = [];
  const cpuFull: CpuSplit[] = [];
  const sampler = new RssSampler();
  sampler.start();
  let report!: Awaited<ReturnType<typeof runValidate>>;
  let fullReport: typeof report | null = null;
  const runOnce = async (split: boolean): Promise<typeof report> => {
    const cfg = { ...config, runtime: { ...config.runtime, splitFirstLayer: split } };
    const h0 = hostCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await runValidate(bench.archiveDir, cfg, null, { now, log, endMs: undefined, equityOut: null });
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpu = { parent: (c.user + c.system) / 1e6, hosts: hostCpu() - h0 };
    (split ? validateMs : fullMs).push(ms);
    (split ? cpuSplit : cpuFull).push(cpu);
    process.stderr.write(`bench: validate${split ? '' : ' (full model)'} ${(ms / 1000).toFixed(2)} s, CPU ${cpu.parent.toFixed(2)} + ${cpu.hosts.toFixed(2)} s\n`);
    return r;
  };
  for (let r = 0; r < repeat; r++) {
    report = await runOnce(true);
    if (!args['no-full']) fullReport = await runOnce(false);
  }
  const validatePeak = sampler.stop();
  const hostPids = ortHostPids();
  const hostPeakProc = hostPids.length ? hostPids.reduce((a, pid) => a + (procUsage(pid)?.peakMiB ?? 0), 0) : null;
  const hostValidatePeak = (await hostPeak()) ?? hostPeakProc;
  const comparable = (r: typeof report): string => JSON.stringify(r.models.map(({ inference: _i, ...m }) => m));
  const identical = fullReport === null ? null : comparable(report) === comparable(fullReport);
  const paths = new Map<string, number>();
  let recomputed = 0;
  let rows = 0;
  for (const m of report.models) {
    const key = m.inference ? (m.inference.path === 'split' ? `split (trunk: ${m.inference.trunk})` : `full (${m.inference.reason})`) : 'call by call';
    paths.set(key, (paths.get(key) ?? 0) + 1);
    recomputed += m.inference?.recomputed ?? 0;
    rows += m.inference?.rows ?? 0;
  }
  const inference = `${[...paths].map(([k, n]) => `${n} × ${k}`).join(', ')}; ${recomputed} of ${rows} head decisions recomputed by the guard`;
  const errors = report.models.flatMap((m) => m.errors.map((e) => `${m.id}: ${e}`));
  const decisions: Record<string, number> = {};
  for (const m of report.models) {
    const tier = m.decision?.tier ?? 'none';
    decisions[tier] = (decisions[tier] ?? 0) + 1;
  }

  // Observations validate infers per model: every step of every window (stateful cards run the windows
  // in lockstep), or each distinct decision bar once (position-independent cards). The cost-stressed
  // folds of the evidence (docs/evidence.md) are simulated too: position-aware, their steps are inferred
  // on their own (their positions differ); position-independent, they reuse the folds' decision bars.
  const perModel = new Map<string, number>();
  let required = 0;
  for (const m of report.models) {
    if (!m.backtest || !m.walkForward) continue;
    const { bars } = await loadBarsFromDir(bench.dataDir, m.symbol, m.timeframe);
    const index = new Map<number, number>();
    bars.time.forEach((t, i) => {
      index.set(t, i);
    });
    const windows = [m.backtest, ...m.walkForward.folds].map((w) => ({
      first: index.get(Date.parse(w.start))! - 1,
      last: index.get(Date.parse(w.start))! - 1 + w.bars - 1,
    }));
    const steps = windows.reduce((a, w) => a + (w.last - w.first + 1), 0);
    let n: number;
    if (bench.positionAware) {
      const stressed = m.evidence?.costStress ? windows.slice(1).reduce((a, w) => a + (w.last - w.first + 1), 0) : 0;
      n = steps + stressed;
      required += steps;
    } else {
      const distinct = new Set<number>();
      for (const w of windows) for (let i = w.first; i <= w.last; i++) distinct.add(i);
      n = distinct.size;
      required += n;
    }
    perModel.set(m.id, n);
  }
  const observations = [...perModel.values()].reduce((a, b) => a + b, 0);
  const folds = config.walkForward.folds;

  // 2. the seed-shaped single-model command: backtest --days 180 --walk-forward 5.
  let single: Measurement['single'] = null;
  if (!args['no-single']) {
    const cfg = defaultConfig();
    cfg.data.source = 'csv';
    cfg.data.dir = bench.dataDir;
    cfg.backtest.days = 180;
    sampler.start();
    const t0 = performance.now();
    const r = await runBacktest(bench.modelPaths[0]!, cfg, null, { now, log, cardPath: null, endMs: undefined, folds: 5, equityOut: null });
    const ms = performance.now() - t0;
    const m = r.models[0]!;
    const obs = (m.backtest?.bars ?? 0) + (m.walkForward?.folds.reduce((a, f) => a + f.bars, 0) ?? 0);
    single = {
      ms,
      observations: bench.positionAware ? obs : (m.backtest?.bars ?? 0),
      errors: r.models.flatMap((x) => x.errors.map((e) => `backtest ${x.id}: ${e}`)),
      peakRssMiB: sampler.stop(),
    };
    process.stderr.write(`bench: backtest --days 180 --walk-forward 5: ${(ms / 1000).toFixed(2)} s\n`);
  }

  // 3. the floor: the same sessions (onnxruntime-node's own, in this process, with the options
  // policy-gate creates them with), and ONE batched run per model over as many observations as validate
  // infers for it. In this process, with no inter-process hop: the least any evaluation could cost.
  const ort = await import('onnxruntime-node');
  let input: Float32Array | null = null;
  const floorRuns = async (threads: number): Promise<Measurement['floor'] & { cpuS: number }> => {
    const ms: number[] = [];
    let cpuS = 0;
    let loadMs = 0;
    let inferMs = 0;
    sampler.start();
    for (let r = 0; r < repeat; r++) {
      let load = 0;
      let infer = 0;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let k = 0; k < bench.ids.length; k++) {
        const n = perModel.get(bench.ids[k]!) ?? 0;
        if (n === 0) continue;
        const a = performance.now();
        const bytes = await readFile(bench.modelPaths[k]!);
        const session = await ort.InferenceSession.create(bytes, {
          graphOptimizationLevel: 'all',
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          executionProviders: ['cpu'],
        });
        const b = performance.now();
        const meta = session.inputMetadata[0]!;
        const dim = Number(meta.isTensor ? meta.shape[1] : NaN);
        if (!input || input.length < n * dim) {
          input = new Float32Array(n * dim);
          let seed = 12345;
          for (let i = 0; i < input.length; i++) {
            seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
            input[i] = (seed / 2 ** 32) * 4 - 2;
          }
        }
        await session.run({ obs: new ort.Tensor('float32', input.subarray(0, n * dim), [n, dim]) }, ['logits']);
        const c = performance.now();
        await session.release();
        load += b - a;
        infer += c - b;
      }
      const elapsed = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (ms.length === 0 || elapsed < Math.min(...ms)) {
        loadMs = load;
        inferMs = infer;
        cpuS = (c.user + c.system) / 1e6;
      }
      ms.push(elapsed);
      process.stderr.write(`bench: floor (${threads} thread${threads > 1 ? 's' : ''}) ${(elapsed / 1000).toFixed(2)} s\n`);
    }
    return { ms, best: Math.min(...ms), loadMs, inferMs, peakRssMiB: sampler.stop(), cpuS };
  };
  // 4. a card with a feature graph: the graph run one window per bar over the example's bars, then
  // the backtest with 3 folds that runs it (the graph's columns, the golden vectors, the simulations).
  let graph: Measurement['graph'] = null;
  const fixture = path.join(repoRoot, 'test', 'fixtures', 'feature-graph');
  const exampleData = path.join(repoRoot, 'examples', 'data');
  if (existsSync(path.join(fixture, 'BTCUSD_1Hour.onnx'))) {
    const { openFeatureGraph, folderCardFiles } = await import('../app/feature-graph.js');
    const { parseCard } = await import('../core/card.js');
    const cardPath = path.join(fixture, 'BTCUSD_1Hour.card.json');
    const card = parseCard(JSON.parse(await readFile(cardPath, 'utf8')), cardPath);
    const { bars } = await loadBarsFromDir(exampleData, 'BTCUSD', '1Hour');
    const g = (await openFeatureGraph(card, folderCardFiles(cardPath, repoRoot)))!;
    let columnsMs = Infinity;
    for (let r = 0; r < repeat; r++) {
      const t0 = performance.now();
      await g.columns(bars);
      columnsMs = Math.min(columnsMs, performance.now() - t0);
    }
    await g.release();
    const cfg = defaultConfig();
    cfg.data.source = 'csv';
    cfg.data.dir = exampleData;
    cfg.backtest.days = 30;
    const t0 = performance.now();
    const r = await runBacktest(path.join(fixture, 'BTCUSD_1Hour.onnx'), cfg, null, { now, log, cardPath: null, endMs: Date.parse('2024-09-10T00:00:00Z'), folds: 3, equityOut: null, root: repoRoot });
    const backtestMs = performance.now() - t0;
    graph = { bars: bars.time.length, columnsMs, backtestMs, errors: r.models.flatMap((x) => x.errors.map((e) => `feature graph backtest: ${e}`)) };
    process.stderr.write(`bench: feature graph columns ${columnsMs.toFixed(0)} ms, backtest ${(backtestMs / 1000).toFixed(2)} s\n`);
  }

  const floor = await floorRuns(1);
  const floor2 = availableParallelism() >= 2 ? await floorRuns(2) : null;
  input = null;

  const result: Measurement = {
    kind: bench.positionAware ? 'position-aware' : 'position-independent',
    models: bench.ids.length,
    folds,
    observations,
    validate: { ms: validateMs, best: Math.min(...validateMs), errors, decisions, peakRssMiB: validatePeak, cpu: cpuSplit, inference },
    validateFull: fullMs.length ? { ms: fullMs, best: Math.min(...fullMs), cpu: cpuFull } : null,
    identical,
    flopsPerObservation: flopsPerObservation(bench.options),
    floorCpuS: floor.cpuS,
    cpuInfo: cpuDescription(),
    floor,
    floor2,
    single,
    graph,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    hostPeakRssMiB: hostValidatePeak,
    requiredObservations: required,
    parallelModels: config.runtime.parallelModels,
    archiveMiB: bench.archiveBytes / MiB,
    generateMs: bench.generateMs,
    node: process.version,
    onnxruntime: await onnxruntimeVersion(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: availableParallelism(),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

// Dispatch last: the classes above must be initialised before top-level await runs.
if (args.measure) {
  await measure(args.measure);
} else {
  await orchestrate();
}
