/**
 * The onnxruntime host: the program the child process of ./host.ts runs. It loads onnxruntime-node,
 * keeps the sessions of the models policy-gate evaluates, and answers requests one at a time: create a
 * session from a model's bytes, run it on a batch, drive a model's whole evaluation loop (its
 * observations, simulations and inference: src/core/drive.ts), release it.
 *
 * Why a separate process: a model in an untrusted archive can crash onnxruntime's native code
 * (SIGSEGV, abort — threats.md O2) or make it spin forever, and neither can be caught in-process. Here
 * a crash or a hang ends this process only; the parent names the model, records the error on it and
 * starts a fresh host for the next model.
 *
 * Why the loop runs here: a position-aware policy is inferred one step at a time (thousands of small
 * calls per model), and a request/response between two processes costs about as much as the call
 * itself (two wake-ups of a sleeping process, docs/performance.md). Driving the loop here makes a
 * model's evaluation ONE request: the parent sends the parsed card, the bars and the windows, and gets
 * back the target each simulation stepped to, which it replays on its own simulations (the same code,
 * the same inputs, so the same bits). The host never holds a key or a token: the bars were fetched by
 * the parent, and its environment is an allowlist (./host.ts).
 *
 * Wire: ./host-frame.ts, over two pipes, fd 3 (requests in) and fd 4 (replies out). During a
 * simulation the host sends a short "beat" message at most every `beatMs`, which restarts the parent's
 * deadline: the deadline bounds each inference call, not the whole evaluation. Stdout and stderr carry
 * nothing of ours: onnxruntime may print there, and the parent keeps their tail for crash messages.
 *
 * Between requests the host has nothing else to do, so it reads them with blocking reads (no event
 * loop turn before a request is seen). It exits when the request pipe closes, which is also what
 * happens when the parent exits or dies.
 *
 * In the middle of a request the main thread may be blocked for good (a native inference call that
 * never returns, a model that spins), so it cannot notice anything. A watchdog thread (a Worker) does:
 * it waits on fd 5, the lifeline, which the parent holds open and never writes; when the parent ends
 * in any way, even by SIGKILL, the pipe reaches end-of-file, and the watchdog removes the host's
 * private folder and kills the whole process with SIGKILL. (Linux's PR_SET_PDEATHSIG is not reachable
 * from Node, and a timer on the main thread would never fire while it is blocked.)
 *
 * The host runs in a private, empty working folder (`<dir>/cwd`) with its TMPDIR in `<dir>/tmp`
 * (./host.ts); when it exits because the parent is gone, it removes `<dir>` itself.
 *
 * This module is bundled (scripts/build-host.mjs, esbuild) into one self-contained script that the
 * parent sends to `node -` as source text (./host-source.generated.ts), so the same code runs from the
 * TypeScript sources (tests), from lib/ and from the bundled dist/index.js without a second entry
 * file. Its one argument, process.argv[2], is the absolute path of onnxruntime-node's entry point,
 * resolved by the parent.
 *
 * Test seam: a request may carry `fault` ('abort' | 'segv' | 'exit' | 'hang'), honoured only when this
 * process was started with POLICY_GATE_ORT_HOST_FAULTS=1, which the parent sets only after a test
 * called setOrtHostFaultsForTests() under vitest (see ./host.ts). Production never sets either.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { driveJob, type FirstLayerSplit, type FloatTensor, type InferencePath, type ModelRunner, type SimulationJob, type TensorInfo } from '../../core/drive.js';
import { PolicyGateError } from '../../core/errors.js';
import { timeInUnit, timeInUnitNumber, type GraphBinding } from '../../core/feature-graph.js';
import { prepareRun, runFailure } from './feeds.js';
import { decodeRequest, encodeMessage, encodeRunReply, type RunFeed, type RunRequest } from './host-frame.js';

type Ort = typeof import('onnxruntime-node');
type Meta = InferenceSession.ValueMetadata;
type Request = { id: number; op: string; fault?: string; [key: string]: unknown };

const REQUESTS = 3;
const REPLIES = 4;
const LIFELINE = 5;
const faultsEnabled = process.env['POLICY_GATE_ORT_HOST_FAULTS'] === '1';
const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => void Atomics.wait(pause, 0, 0, ms);

/** The private folder the parent made for this host (the parent of its working folder), or null when started elsewhere. */
function privateDir(): string | null {
  const cwd = process.cwd();
  const dir = path.dirname(cwd);
  return path.basename(cwd) === 'cwd' && path.basename(dir).startsWith('policy-gate-ort-') ? dir : null;
}

/** The parent is gone (or closed the request pipe): remove the private folder and end. */
function exitOrphaned(): never {
  const dir = privateDir();
  if (dir) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // the parent removes it when it is still there
    }
  }
  process.exit(0);
}

/**
 * The watchdog thread's program: wait on the lifeline until end-of-file (the parent is gone), then
 * remove the private folder and SIGKILL the process — whatever its main thread is doing. It waits in
 * its own event loop (a socket on the pipe), never in a blocking read: a thread stuck in a system call
 * could not be stopped, and process.exit() of the main thread waits for every thread to stop.
 */
const WATCHDOG = `
const fs = require('node:fs');
const net = require('node:net');
const { workerData } = require('node:worker_threads');
const gone = () => {
  if (workerData.dir) { try { fs.rmSync(workerData.dir, { recursive: true, force: true }); } catch {} }
  process.kill(process.pid, 'SIGKILL');
};
const lifeline = new net.Socket({ fd: workerData.fd, readable: true, writable: false });
lifeline.on('data', () => {});
lifeline.on('end', gone);
lifeline.on('close', gone);
lifeline.on('error', gone);
require('node:worker_threads').parentPort.postMessage('watching');
`;

/**
 * Starts the watchdog thread; resolves once it is watching (or could not start, which it reports on
 * stderr), so its start-up never competes with a request for the CPU.
 */
function startWatchdog(): Promise<void> {
  try {
    fs.fstatSync(LIFELINE);
  } catch {
    return Promise.resolve(); // not started by ./host.ts (no lifeline): nothing to watch
  }
  const worker = new Worker(WATCHDOG, { eval: true, workerData: { fd: LIFELINE, dir: privateDir() } });
  worker.unref();
  return new Promise<void>((resolve) => {
    worker.once('message', () => resolve());
    // A watchdog that cannot run must not go unnoticed: the host's stderr tail reaches crash messages.
    worker.on('error', (err) => {
      process.stderr.write(`policy-gate onnxruntime host: the watchdog thread failed: ${messageOf(err)}\n`);
      resolve();
    });
  });
}

/** Fills buf[0, len) from the request pipe; false at end of input (the parent closed it or died). */
function readExactly(buf: Buffer, len: number): boolean {
  let off = 0;
  while (off < len) {
    let n: number;
    try {
      n = fs.readSync(REQUESTS, buf, off, len - off, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        // A non-blocking pipe (not on Linux or macOS, where the child's end blocks): wait and retry.
        sleep(0.1);
        continue;
      }
      if (code === 'EOF' || code === 'EPIPE' || code === 'ECONNRESET') return false;
      throw err;
    }
    if (n === 0) return false;
    off += n;
  }
  return true;
}

function writeAll(frame: Buffer | Buffer[]): void {
  const buf = Array.isArray(frame) ? Buffer.concat(frame) : frame;
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(REPLIES, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') exitOrphaned(); // the parent is gone
      sleep(0.05);
    }
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Acts out a test fault; true for 'slow' (the caller then delays every inference call it makes). */
function injectFault(fault: unknown): boolean {
  if (!faultsEnabled || typeof fault !== 'string') return false;
  if (fault === 'slow') return true;
  if (fault === 'abort') process.abort();
  if (fault === 'segv') process.kill(process.pid, 'SIGSEGV');
  if (fault === 'exit') process.exit(70);
  if (fault === 'hang') for (;;);
  return false;
}

const SLOW_MS = 25;
const FAULTS = ['', 'abort', 'segv', 'exit', 'hang', 'slow'];

function describe(m: Meta): TensorInfo {
  return m.isTensor ? { name: m.name, shape: m.shape.map((d) => (d === '' ? '?' : d)), type: m.type } : { name: m.name, shape: [], type: 'non-tensor' };
}

function toFloat32(t: Tensor): Float32Array | null {
  const d = t.data as unknown;
  if (d instanceof Float32Array) return d;
  if (d instanceof Float64Array || d instanceof Int32Array || d instanceof Uint8Array || d instanceof Int8Array) return Float32Array.from(d);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    const out = new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    return out;
  }
  return null;
}

interface Held {
  session: InferenceSession;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

type RunResult = { ok: true; outputs: { output: number; dims: readonly number[]; data: Float32Array }[] } | { ok: false; kind: string; message?: string; name?: string; type?: string };

/** What setImmediate returns, for the synchronous stand-in below. */
const IMMEDIATE = { ref: () => IMMEDIATE, unref: () => IMMEDIATE, hasRef: () => false };

/** What onnxruntime-node's session handler (InferenceSession's `handler`) offers: the native run, raw. */
interface SessionHandler {
  run(feeds: Record<string, Tensor>, fetches: Record<string, null>, options: Record<string, never>): Promise<Record<string, Tensor>>;
}

/**
 * session.run without the event-loop turn and the wrapping around it: onnxruntime-node's session handler
 * calls the native run from a setImmediate callback, a turn of the event loop per call, and
 * onnxruntime-common's run checks the feeds again and wraps each output in a new Tensor — together
 * 15–30 µs of CPU per call, more than the head of a split model computes. This process serves one
 * request at a time and has nothing else to run on that turn, so while the call starts, setImmediate calls
 * back at once; and the feeds were checked against the session's inputs before (prepareRun), so the
 * handler's run is called directly where the session has one (onnxruntime-node 1.30: its `handler` field),
 * else the public run. The same native call on the same inputs either way: the same outputs (each read as
 * { type, dims, data }) or the same error.
 */
function runNow(session: InferenceSession, feeds: Record<string, Tensor>, names: readonly string[]): Promise<Record<string, Tensor>> {
  const saved = globalThis.setImmediate;
  globalThis.setImmediate = ((cb: (...args: unknown[]) => void, ...args: unknown[]) => {
    cb(...args);
    return IMMEDIATE;
  }) as unknown as typeof setImmediate;
  try {
    const handler = (session as unknown as { handler?: Partial<SessionHandler> }).handler;
    if (directRuns && typeof handler?.run === 'function') {
      runCounts.handler++;
      const fetches: Record<string, null> = {};
      for (const name of names) fetches[name] = null;
      return handler.run(feeds, fetches, {});
    }
    runCounts.public++;
    return session.run(feeds, names);
  } finally {
    globalThis.setImmediate = saved;
  }
}

/** Whether runNow calls the session handler directly (a test seam: POLICY_GATE_ORT_PUBLIC_RUN=1 keeps the public run). */
const directRuns = process.env['POLICY_GATE_ORT_PUBLIC_RUN'] !== '1';
/** Inference calls made through the handler and through the public run (the stats request reports them). */
const runCounts = { handler: 0, public: 0 };

function main(): void {
  // It starts while onnxruntime loads; the host says it is ready only when both are.
  const watching = startWatchdog();
  let ort: Ort;
  try {
    // `node -` defines require as a global; reading it from globalThis keeps the bundler from
    // resolving onnxruntime-node, whose path the parent passes.
    const load = (globalThis as unknown as { require: NodeJS.Require }).require;
    const mod = load(process.argv[2]!) as Ort & { default?: Ort };
    ort = mod.InferenceSession ? mod : (mod.default as Ort);
    // onnxruntime's logger prints provider-load failures (e.g. the missing CUDA library) as red
    // [E:onnxruntime] lines although the parent catches and reports them: keep it to fatal only.
    // This must be set before the first session initialises the ORT environment.
    if (!ort.env.logLevel || ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';
  } catch (err) {
    writeAll(encodeMessage({ id: 0, ok: false, message: messageOf(err) }));
    process.exit(1);
  }

  const sessions = new Map<number, Held>();
  let nextSession = 1;

  /** One inference call on a held session. */
  const runHeld = async (held: Held, feeds: readonly RunFeed[], wanted: readonly number[]): Promise<RunResult> => {
    const { session } = held;
    const named: Record<string, Tensor> = {};
    for (const x of feeds) {
      named[session.inputNames[x.input]!] = x.float64 ? new ort.Tensor('float64', Float64Array.from(x.data), x.dims) : new ort.Tensor('float32', x.data, x.dims);
    }
    const names = wanted.map((i) => session.outputNames[i]!);
    let result: Record<string, Tensor>;
    try {
      result = await runNow(session, named, names);
    } catch (err) {
      return { ok: false, kind: 'run', message: messageOf(err) };
    }
    const outputs: { output: number; dims: readonly number[]; data: Float32Array }[] = [];
    for (let k = 0; k < names.length; k++) {
      const t = result[names[k]!];
      if (!t) return { ok: false, kind: 'missing-output', name: names[k]! };
      const data = toFloat32(t);
      if (!data) return { ok: false, kind: 'output-type', name: names[k]!, type: t.type };
      outputs.push({ output: wanted[k]!, dims: t.dims, data });
    }
    return { ok: true, outputs };
  };

  /** A model's whole evaluation loop (src/core/drive.ts), with beats to the parent between calls. */
  const simulate = async (req: Request, held: Held, slow: boolean): Promise<unknown> => {
    const job = req['job'] as SimulationJob;
    const beatMs = Number(req['beatMs']) || 1000;
    let lastBeat = performance.now();
    const runnerOf = (h: Held): ModelRunner => ({
      inputs: h.inputs,
      outputs: h.outputs,
      run: async (feeds: Record<string, FloatTensor>, outputNames?: readonly string[]) => {
        const { wire, wanted } = prepareRun(job.label, h.inputs, h.outputs, feeds, outputNames);
        if (slow) sleep(SLOW_MS);
        const res = await runHeld(h, wire, wanted);
        const now = performance.now();
        if (now - lastBeat >= beatMs) {
          lastBeat = now;
          writeAll(encodeMessage({ id: req.id, beat: true }));
        }
        if (!res.ok) throw runFailure(job.label, h.inputs, wire, res);
        const out: Record<string, FloatTensor> = {};
        for (const o of res.outputs) out[h.outputs[o.output]!.name] = { data: o.data, dims: [...o.dims] };
        return out;
      },
    });
    // The first-layer split (src/adapters/onnx/split.ts): its sessions (trunk, head, and the trunk as a
    // convolution when there is one), created beside the model's.
    type ConvRequest = Omit<NonNullable<FirstLayerSplit['conv']>, 'runner'> & { session: number };
    const s = req['split'] as
      | { trunk: number | null; head: number; conv: ConvRequest | null; hidden: number[]; names: FirstLayerSplit['names']; samples: Float32Array[]; firstLayer: string }
      | undefined;
    let split: { runner: FirstLayerSplit; result: InferencePath } | null = null;
    if (s) {
      const trunk = s.trunk === null ? null : sessions.get(s.trunk);
      const head = sessions.get(s.head);
      const conv = s.conv === null ? null : sessions.get(s.conv.session);
      if (trunk === undefined || !head || conv === undefined || (trunk === null && conv === null)) return { id: req.id, ok: false, kind: 'released', message: 'no such session' };
      const { session: _, ...convMeta } = s.conv ?? { session: 0 };
      split = {
        runner: {
          trunk: trunk === null ? null : runnerOf(trunk),
          head: runnerOf(head),
          ...(conv === null ? {} : { conv: { runner: runnerOf(conv), ...(convMeta as Omit<ConvRequest, 'session'>) } }),
          hidden: s.hidden,
          names: s.names,
          samples: s.samples,
        },
        result: { path: 'full', reason: null, firstLayer: s.firstLayer, rows: 0, recomputed: 0 },
      };
    }
    try {
      const { targets, observations } = await driveJob(job, runnerOf(held), split);
      return { id: req.id, ok: true, targets, observations, ...(split ? { inference: split.result } : {}) };
    } catch (err) {
      // The model's own problem (a NaN output, a bad feed) or a bug: the parent rethrows it as such.
      return err instanceof PolicyGateError
        ? { id: req.id, ok: false, kind: 'simulate', errorKind: err.kind, message: err.message, subject: err.subject ?? null }
        : { id: req.id, ok: false, kind: 'simulate', errorKind: null, message: messageOf(err) };
    }
  };

  /**
   * A feature graph over a series (src/core/feature-graph.ts): the feature row of each bar from `from`
   * on, computed from that bar's own window, `batch` windows per run (1: each value sees its window
   * only, as live trading computes it). With `rows`, only those bars. Replies with F columns over the
   * whole series, NaN where not computed.
   */
  const features = async (req: Request, held: Held): Promise<unknown> => {
    const b = req['binding'] as GraphBinding;
    const bars = req['bars'] as { time: Float64Array; open: Float64Array; high: Float64Array; low: Float64Array; close: Float64Array; volume: Float64Array };
    const L = b.window;
    const n = bars.time.length;
    const from = Math.max(L - 1, Number(req['from']) || 0);
    const rows = (req['rows'] as number[] | undefined) ?? Array.from({ length: Math.max(0, n - from) }, (_, i) => from + i);
    const batch = Math.max(1, Number(req['batch']) || 1);
    const beatMs = Number(req['beatMs']) || 1000;
    let lastBeat = performance.now();
    const fields = [bars.open, bars.high, bars.low, bars.close, bars.volume];
    let columns: Float64Array[] | null = null;
    for (let start = 0; start < rows.length; start += batch) {
      const group = rows.slice(start, start + batch);
      const N = group.length;
      const ohlcv = b.barsType === 'float64' ? new Float64Array(N * L * 5) : new Float32Array(N * L * 5);
      const times = b.timesType === 'int64' ? new BigInt64Array(N * L) : b.timesType === 'int32' ? new Int32Array(N * L) : b.timesType === 'float64' ? new Float64Array(N * L) : null;
      for (let k = 0; k < N; k++) {
        const tau = group[k]!;
        if (!(Number.isInteger(tau) && tau >= L - 1 && tau < n)) return { id: req.id, ok: false, kind: 'host', message: `no window of ${L} bars ends at bar ${tau} of ${n}` };
        for (let j = 0; j < L; j++) {
          const i = tau - L + 1 + j;
          const o = (k * L + j) * 5;
          for (let c = 0; c < 5; c++) ohlcv[o + c] = fields[c]![i]!;
          if (times instanceof BigInt64Array) times[k * L + j] = timeInUnit(bars.time[i]!, b.timesUnit);
          else if (times !== null) times[k * L + j] = timeInUnitNumber(bars.time[i]!, b.timesUnit);
        }
      }
      const named: Record<string, Tensor> = { [b.barsInput]: new ort.Tensor(b.barsType, ohlcv, [N, L, 5]) };
      if (times !== null && b.timesInput !== null) named[b.timesInput] = new ort.Tensor(b.timesType!, times, [N, L]);
      let out: Tensor | undefined;
      try {
        out = (await runNow(held.session, named, [b.output]))[b.output];
      } catch (err) {
        return { id: req.id, ok: false, kind: 'run', message: messageOf(err) };
      }
      if (!out) return { id: req.id, ok: false, kind: 'missing-output', name: b.output };
      const data = out.data as unknown;
      if (!(data instanceof Float32Array || data instanceof Float64Array)) return { id: req.id, ok: false, kind: 'output-type', name: b.output, type: out.type };
      const dims = out.dims;
      const perWindow = data.length / N;
      const width = dims.length === 1 ? 1 : b.lastRow ? (dims[2] ?? 0) : perWindow;
      const valid = dims[0] === N && Number.isInteger(perWindow) && width >= 1 && (dims.length === 1 || (b.lastRow ? dims.length === 3 && dims[1]! * width === perWindow : dims.length === 2));
      if (!valid) return { id: req.id, ok: false, kind: 'graph-shape', message: `output "${b.output}" is [${dims.join(', ')}] for ${N} window(s) of [${L}, 5]` };
      if (columns === null) columns = Array.from({ length: width }, () => new Float64Array(n).fill(NaN));
      else if (columns.length !== width) return { id: req.id, ok: false, kind: 'graph-shape', message: `output "${b.output}" has ${width} columns for one window but ${columns.length} for another` };
      const skip = perWindow - width; // [N, L, F]: the last row of each window
      for (let k = 0; k < N; k++) for (let f = 0; f < width; f++) columns[f]![group[k]!] = data[k * perWindow + skip + f]!;
      const now = performance.now();
      if (now - lastBeat >= beatMs) {
        lastBeat = now;
        writeAll(encodeMessage({ id: req.id, beat: true }));
      }
    }
    return { id: req.id, ok: true, columns: columns ?? [] };
  };

  const handle = async (req: Request): Promise<unknown> => {
    const slow = injectFault(req.fault);
    switch (req.op) {
      case 'create': {
        const provider = req['provider'] === 'cuda' ? 'cuda' : 'cpu';
        let session: InferenceSession;
        try {
          // A copy: the receive buffer is reused for the next message. The model may come in parts (the
          // first-layer split's trunk: the original's weights around zeros), joined here by that one copy.
          const bytes = req['bytes'] as Uint8Array | Uint8Array[];
          session = await ort.InferenceSession.create(Array.isArray(bytes) ? Buffer.concat(bytes) : Buffer.from(bytes), {
            graphOptimizationLevel: 'all',
            intraOpNumThreads: req['threads'] as number,
            interOpNumThreads: 1,
            executionMode: 'sequential',
            logSeverityLevel: req['quiet'] ? 4 : 3,
            executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: req['deviceId'] as number }] : ['cpu'],
          });
        } catch (err) {
          return { id: req.id, ok: false, kind: 'create', message: messageOf(err) };
        }
        const sessionId = nextSession++;
        const held: Held = { session, inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) };
        sessions.set(sessionId, held);
        return { id: req.id, ok: true, session: sessionId, inputs: held.inputs, outputs: held.outputs };
      }
      case 'simulate': {
        const held = sessions.get(req['session'] as number);
        if (!held) return { id: req.id, ok: false, kind: 'released', message: 'no such session' };
        return simulate(req, held, slow);
      }
      case 'features': {
        const held = sessions.get(req['session'] as number);
        if (!held) return { id: req.id, ok: false, kind: 'released', message: 'no such session' };
        return features(req, held);
      }
      case 'release': {
        const held = sessions.get(req['session'] as number);
        sessions.delete(req['session'] as number);
        if (held) await held.session.release();
        return { id: req.id, ok: true };
      }
      case 'stats':
        return { id: req.id, ok: true, sessions: sessions.size, maxRssKiB: process.resourceUsage().maxRSS, runs: runCounts };
      default:
        return { id: req.id, ok: false, kind: 'protocol', message: `unknown request ${JSON.stringify(req.op)}` };
    }
  };

  /** One inference call (a kind-2 frame); the reply frame. */
  const run = async (f: RunRequest): Promise<Buffer | Buffer[]> => {
    if (injectFault(FAULTS[f.fault])) sleep(SLOW_MS);
    const held = sessions.get(f.session);
    if (!held) return encodeMessage({ id: f.id, ok: false, kind: 'released', message: 'no such session' });
    const res = await runHeld(held, f.feeds, f.wanted);
    return res.ok ? encodeRunReply(f.id, res.outputs) : encodeMessage({ id: f.id, ...res });
  };

  const header = Buffer.alloc(4);
  const SMALL = 1 << 20;
  // Fresh ArrayBuffers (byteOffset 0), so Float32Array views of the 4-aligned arrays are aligned too.
  const buffer = (n: number): Buffer => Buffer.from(new ArrayBuffer(n));
  let body = buffer(SMALL);
  const serve = async (): Promise<void> => {
    for (;;) {
      if (!readExactly(header, 4)) exitOrphaned();
      const len = header.readUInt32LE(0);
      if (body.length < len) body = buffer(len);
      if (!readExactly(body, len)) exitOrphaned();
      let reply: Buffer | Buffer[];
      let id = -1;
      try {
        const req = decodeRequest(body.subarray(0, len));
        id = req.id;
        reply = 'kind' in req && req.kind === 2 ? await run(req as RunRequest) : encodeMessage(await handle(req as Request));
      } catch (err) {
        reply = encodeMessage({ id, ok: false, kind: 'host', message: messageOf(err) });
      }
      writeAll(reply);
      // Give back the memory of an unusually large request (a big batched call) once it is answered.
      if (body.length > 16 * SMALL) body = buffer(SMALL);
    }
  };
  const version = ort.env.versions.node ?? ort.env.versions.common ?? 'unknown';
  void watching.then(() => {
    writeAll(encodeMessage({ id: 0, ok: true, version }));
    return serve();
  });
}

// Only as the host (`node - <onnxruntime-node entry>`): importing this module elsewhere (tsc compiles it
// into lib/ too) must not start reading fd 3.
if (process.argv[1] === '-' && process.argv.length === 3) main();
