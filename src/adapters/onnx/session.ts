/**
 * The ONNX Runtime adapter: load a policy model from bytes, report what ran it, run it.
 *
 * - The bytes are inspected first (./inspect.ts): garbage and models whose tensors live in external
 *   files are refused before onnxruntime sees them.
 * - device 'cpu'  → CPU execution provider only.
 *   device 'cuda' → the CUDA provider or a clear error (no silent CPU fallback: the user asked for a GPU).
 *   device 'auto' → CUDA when its provider library is installed beside the onnxruntime binary and an
 *                   NVIDIA driver is present, else CPU; every fallback is recorded in `fallbackReason`.
 *   onnxruntime does not fall back by itself: executionProviders ['cuda', 'cpu'] rejects when the CUDA
 *   library is missing, so each provider is tried separately.
 * - When a provider fails, the model is retried on CPU to tell "the model is broken" (an input error
 *   naming the model) from "CUDA is unavailable".
 *
 * Threads: `intraOpNumThreads` defaults to 1. Policy networks are tiny (a few Gemms); a backtest runs
 * them one bar at a time (position-dependent observations), where a thread pool only adds
 * hand-off latency, and a walk-forward may evaluate several models side by side on a 2-vCPU CI runner
 * where extra pool threads would compete for cores. One thread also makes every run bit-for-bit
 * reproducible regardless of the runner's core count. Batched evaluation of a large model can ask
 * for more with `threads`. `graphOptimizationLevel` is 'all'.
 * Measured on a 2-core runner with 20 models of 5900→256→256→8 (docs/performance.md): 2 threads
 * halve a lone batched call, but `validate` end to end in a fresh process is no faster (3.50 s vs
 * 3.22 s position-aware, 2.68 s vs 2.75 s position-independent) and varies more: the second core is
 * also wanted by Node's JIT compiler, garbage collector and file reads, and a parallel Gemm waits for
 * its slowest thread. So the default stays 1.
 *
 * Isolation (threats.md O2, docs/threat-model.md): onnxruntime runs in a child process (./host.ts), never
 * in policy-gate's own. A model that crashes the runtime (a native abort or segfault) or hangs it past
 * `runtime.inference_timeout_seconds` fails with an error naming that model (an OrtHostFailure); the
 * other models are evaluated in a fresh host. One host per slot (`slot`) serves the run: each model's
 * bytes cross to it once, each `run()` is one request carrying the whole batch, and `simulate()` is one
 * request for a model's whole evaluation loop. Results are the same bits as in-process (the same session
 * options, float32 in and out).
 *
 * onnxruntime-node is loaded by the host on the first model load, so commands that never load a
 * model do not pay for its 45 MB library.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { boundCard, splitRefusal, type FloatTensor, type InferencePath, type SimulationJob, type TensorInfo } from '../../core/drive.js';
import { convLayoutOf, stateColumnsOf } from '../../core/observation.js';
import { inputError, PolicyGateError, usageError } from '../../core/errors.js';
import { lfsPointerError, parseLfsPointer } from '../../core/lfs.js';
import type { BarSeries, ModelFileInfo } from '../../core/types.js';
import type { GraphBinding } from '../../core/feature-graph.js';
import { formatBytes } from '../archive/limits.js';
import { cleanReason, prepareRun, runFailure } from './feeds.js';
import type { RunOutput } from './host-frame.js';
import { ortHost, OrtHostFailure, type OrtHost } from './host.js';
import { OnnxParseError, inspectOnnxModel, type OnnxModelInfo, type OnnxOpset } from './inspect.js';
import { planFirstLayerSplit, SPLIT_NAMES, splitName, type SplitOutcome } from './split.js';

export type Device = 'auto' | 'cpu' | 'cuda';
export type ExecutionProviderName = 'cpu' | 'cuda';

export type { FloatTensor, TensorInfo } from '../../core/drive.js';

export interface PolicyModel {
  /** The file name used in messages. */
  readonly label: string;
  readonly sha256: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** ModelProto.metadata_props. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly irVersion: number | undefined;
  readonly opsets: readonly OnnxOpset[];
  readonly producer: string | undefined;
  readonly device: Device;
  /** The provider that actually runs the model. */
  readonly executionProvider: ExecutionProviderName;
  /** Why 'auto' ended on CPU (absent when it got CUDA, or when 'cpu' was asked). */
  readonly fallbackReason?: string;
  /**
   * Run the model. Every model input must be fed; float64 inputs are converted. Returns every output
   * (or the named ones) as float32.
   */
  run(feeds: Record<string, FloatTensor>, outputNames?: readonly string[]): Promise<Record<string, FloatTensor>>;
  /**
   * Drive a model's whole evaluation loop where the model runs (src/core/drive.ts): one request
   * instead of one per step. Returns the target of each simulation at each decision. Absent when the
   * model can only be run call by call.
   */
  simulate?(job: SimulationJob, opts?: SimulateOptions): Promise<SimulationOutcome>;
  /**
   * Run the model as a feature graph over bars (src/core/feature-graph.ts): F columns over the whole
   * series, NaN outside the computed bars. Absent when the model can only be run call by call.
   */
  features?(req: FeatureGraphRequest): Promise<Float64Array[]>;
  /** Free the native session. Further run() calls throw. */
  release(): Promise<void>;
}

export interface SimulateOptions {
  /** Split a position-aware MLP's first layer (config runtime.split_first_layer; default true). */
  split?: boolean;
  /** Observations the split is checked on against the full model before it is used (the golden vectors). */
  samples?: readonly Float32Array[];
}

export interface SimulationOutcome {
  /** The target of each simulation at each decision, then the action codes (driveJob's record). */
  targets: Float64Array[];
  inference: InferencePath;
  /** The observations at the job's `observe` bars (bar-major, at FLAT_STATE), or null when none were asked for. */
  observations: Float32Array | null;
}

/** What a feature graph is run on: the bars, from bar `from` (or only `rows`), `batch` windows per run (default 1). */
export interface FeatureGraphRequest {
  binding: GraphBinding;
  bars: Pick<BarSeries, 'time' | 'open' | 'high' | 'low' | 'close' | 'volume'>;
  from?: number;
  rows?: number[];
  batch?: number;
}

export interface CudaStatus {
  available: boolean;
  /** Why not (or what was found). */
  reason: string;
  /** The folder where the CUDA provider library is looked for. */
  binDir: string;
}

export interface LoadOptions {
  device: Device;
  /** The model's file name, for messages. */
  label: string;
  /** intra-op threads; default 1 (see the module comment). */
  threads?: number;
  cudaDeviceId?: number;
  /** Test seam: replaces the CUDA availability probe used by device 'auto'. */
  cudaCheck?: () => CudaStatus;
  /**
   * Which onnxruntime process holds the session (./host.ts; default 0): concurrent evaluations use
   * one slot each, so they run on separate cores and a crash stays in its slot.
   */
  slot?: number;
  /**
   * Deadline of session creation and of each inference call, in seconds (config
   * runtime.inference_timeout_seconds); past it the runtime is stopped and the model fails. Default 120.
   */
  timeoutSeconds?: number;
}

/** Default of runtime.inference_timeout_seconds. */
export const DEFAULT_INFERENCE_TIMEOUT_SECONDS = 120;

/**
 * The largest model file policy-gate loads: 1 GiB, twice the archive reader's per-file limit (512 MiB,
 * ../archive/limits.ts), so it only binds models read from plain files (`backtest --model`, deployed
 * models). A policy network is megabytes; onnxruntime's protobuf parser stops at 2 GiB anyway.
 */
export const MAX_MODEL_BYTES = 1024 * 1024 * 1024;

/** The refusal of a model file over MAX_MODEL_BYTES, before it is read. */
export function modelTooLarge(label: string, bytes: number): Error {
  return inputError(
    `${label} is ${formatBytes(bytes)}, more than the ${formatBytes(MAX_MODEL_BYTES)} policy-gate loads for one model; a policy network is megabytes — check that this is the exported policy (not a checkpoint with optimizer state or a dataset)`,
    label,
  );
}

// ------------------------------------------------------------------ helpers

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The onnxruntime-node version, e.g. '1.30.0' (starts the runtime's host process if none runs). */
export async function onnxruntimeVersion(): Promise<string> {
  return ortHost().ready();
}

/** The folder of onnxruntime-node's native binding for this platform. */
export function onnxruntimeBinDir(): string {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    pkgDir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..');
  }
  return path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Is CUDA worth trying? True when onnxruntime-node's CUDA provider library was installed beside its
 * binding (npm installs it only with ONNXRUNTIME_NODE_INSTALL=cuda12 or the default postinstall on
 * linux/x64) and, on Linux, an NVIDIA driver is visible.
 */
export function cudaProviderStatus(binDir = onnxruntimeBinDir()): CudaStatus {
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : process.platform === 'linux' ? 'libonnxruntime_providers_cuda.so' : undefined;
  if (!lib) return { available: false, reason: `onnxruntime has no CUDA provider on ${process.platform}`, binDir };
  const libPath = path.join(binDir, lib);
  if (!existsSync(libPath)) {
    return {
      available: false,
      reason: `the CUDA provider library ${libPath} is not installed (install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12 and cuDNN 9)`,
      binDir,
    };
  }
  if (process.platform === 'linux' && !existsSync('/proc/driver/nvidia/version') && !existsSync('/dev/nvidiactl')) {
    return { available: false, reason: 'no NVIDIA driver found (/proc/driver/nvidia/version, /dev/nvidiactl)', binDir };
  }
  return { available: true, reason: `found ${libPath}`, binDir };
}

// ------------------------------------------------------------------ loading

/**
 * Load a policy model from its bytes. Throws a PolicyGateError (exit 2) naming `label` when the
 * bytes are not a usable model, or when CUDA was demanded and is unavailable.
 */
export async function loadPolicyModel(bytes: Uint8Array, opts: LoadOptions): Promise<PolicyModel> {
  const { label, device } = opts;
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') {
    throw usageError(`unknown device '${String(device)}' for ${label}: use auto, cpu or cuda`, 'device');
  }
  if (bytes.length > MAX_MODEL_BYTES) throw modelTooLarge(label, bytes.length);
  const pointer = parseLfsPointer(bytes);
  if (pointer) throw lfsPointerError(label, 'ONNX model', pointer);
  let info: OnnxModelInfo;
  try {
    info = inspectOnnxModel(bytes);
  } catch (err) {
    if (err instanceof OnnxParseError) {
      throw inputError(`${label} is not a valid ONNX model: ${err.message}. Export the policy with torch.onnx.export (or another ONNX exporter) and check the file is not truncated.`, label, err);
    }
    throw err;
  }
  if (info.externalTensors.length > 0) {
    const names = info.externalTensors.slice(0, 5).map((t) => `${t.name || '(unnamed)'}${t.location ? ` → ${t.location}` : ''}`);
    const more = info.externalTensors.length > 5 ? ` and ${info.externalTensors.length - 5} more` : '';
    throw inputError(
      `${label} keeps weights in external data files (${names.join(', ')}${more}); policy-gate only loads self-contained models and never reads files a model points to. ` +
        `Re-save it with the weights embedded, e.g. onnx.save_model(onnx.load(path), path, save_as_external_data=False).`,
      label,
    );
  }

  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw usageError(`threads must be a positive integer, got ${threads}`, 'threads');
  const timeoutSeconds = opts.timeoutSeconds ?? DEFAULT_INFERENCE_TIMEOUT_SECONDS;
  if (!(timeoutSeconds > 0) || !Number.isFinite(timeoutSeconds)) {
    throw usageError(`runtime.inference_timeout_seconds must be a positive number, got ${timeoutSeconds}`, 'runtime.inference_timeout_seconds');
  }
  const timeoutMs = timeoutSeconds * 1000;
  const host = ortHost(opts.slot ?? 0);
  await host.ready();
  /** A session on `provider`, or onnxruntime's reason it could not create one (a crash or hang throws). */
  const create = async (provider: ExecutionProviderName, quiet = false): Promise<HostSession> => {
    const reply = await host.request({ op: 'create', bytes, provider, quiet, threads, deviceId: opts.cudaDeviceId ?? 0 }, { label, what: 'loading', timeoutMs });
    if (!reply.ok) throw new SessionCreateError(reply.message ?? 'unknown error');
    return { host, handle: reply['session'] as number, inputs: reply['inputs'] as TensorInfo[], outputs: reply['outputs'] as TensorInfo[] };
  };
  const createCpu = async (): Promise<HostSession> => {
    try {
      return await create('cpu');
    } catch (err) {
      if (!(err instanceof SessionCreateError)) throw err;
      throw inputError(`${label}: onnxruntime could not load the model: ${cleanReason(err)}. Check the export (opset, operators, shapes) — e.g. with onnx.checker.check_model.`, label, err);
    }
  };

  let session: HostSession;
  let provider: ExecutionProviderName = 'cpu';
  let fallbackReason: string | undefined;
  if (device === 'cpu') {
    session = await createCpu();
  } else if (device === 'cuda') {
    try {
      session = await create('cuda');
      provider = 'cuda';
    } catch (cudaErr) {
      if (!(cudaErr instanceof SessionCreateError)) throw cudaErr;
      // Is it the model or the GPU? A model that CPU cannot load either is an input error.
      const cpu = await createCpu();
      await releaseSession(cpu, label);
      const status = (opts.cudaCheck ?? cudaProviderStatus)();
      throw usageError(
        `CUDA was requested (device: cuda) but is unavailable for ${label}: ${cleanReason(cudaErr)}` +
          `${status.available ? '' : ` (${status.reason})`}. Use --device auto to fall back to CPU, or --device cpu.`,
        'device',
      );
    }
  } else {
    const status = (opts.cudaCheck ?? cudaProviderStatus)();
    if (status.available) {
      try {
        session = await create('cuda', true);
        provider = 'cuda';
      } catch (cudaErr) {
        if (!(cudaErr instanceof SessionCreateError)) throw cudaErr;
        session = await createCpu();
        fallbackReason = `CUDA provider failed: ${cleanReason(cudaErr)}`;
      }
    } else {
      session = await createCpu();
      fallbackReason = `CUDA not available: ${status.reason}`;
    }
  }
  return new HostedPolicyModel(session, {
    label,
    bytes,
    threads,
    deviceId: opts.cudaDeviceId ?? 0,
    sha256: sha256Hex(bytes),
    info,
    device,
    provider,
    fallbackReason,
    timeoutMs,
  });
}

/** onnxruntime's own refusal to create a session (as opposed to a crash or a hang of its process). */
class SessionCreateError extends Error {}

/** A session held by the host process. */
interface HostSession {
  host: OrtHost;
  handle: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

async function releaseSession(s: HostSession, label: string): Promise<void> {
  if (!s.host.alive) return;
  try {
    await s.host.request({ op: 'release', session: s.handle }, { label, what: 'releasing', timeoutMs: 30_000 });
  } catch (err) {
    // A host that died meanwhile took the session with it: nothing left to free.
    if (!(err instanceof OrtHostFailure)) throw err;
  }
}

class HostedPolicyModel implements PolicyModel {
  readonly label: string;
  readonly sha256: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly irVersion: number | undefined;
  readonly opsets: readonly OnnxOpset[];
  readonly producer: string | undefined;
  readonly device: Device;
  readonly executionProvider: ExecutionProviderName;
  readonly fallbackReason?: string;
  private session: HostSession | undefined;
  private readonly timeoutMs: number;
  /** The model's bytes, for the first-layer split (planned at the first simulation that may use it); dropped on release. */
  private bytes: Uint8Array | null;
  private readonly threads: number;
  private readonly deviceId: number;
  private split: { key: string; outcome: SplitOutcome; sessions: { trunk: HostSession | null; head: HostSession; conv: HostSession | null } | null; failed: string | null } | null = null;

  constructor(
    session: HostSession,
    meta: {
      label: string;
      bytes: Uint8Array;
      threads: number;
      deviceId: number;
      sha256: string;
      info: OnnxModelInfo;
      device: Device;
      provider: ExecutionProviderName;
      fallbackReason: string | undefined;
      timeoutMs: number;
    },
  ) {
    this.session = session;
    this.label = meta.label;
    this.sha256 = meta.sha256;
    this.inputs = session.inputs;
    this.outputs = session.outputs;
    this.metadata = meta.info.metadata;
    this.irVersion = meta.info.irVersion;
    this.opsets = meta.info.opsets;
    this.producer = meta.info.producerName;
    this.device = meta.device;
    this.executionProvider = meta.provider;
    if (meta.fallbackReason !== undefined) this.fallbackReason = meta.fallbackReason;
    this.timeoutMs = meta.timeoutMs;
    this.bytes = meta.bytes;
    this.threads = meta.threads;
    this.deviceId = meta.deviceId;
  }

  async run(feeds: Record<string, FloatTensor>, outputNames?: readonly string[]): Promise<Record<string, FloatTensor>> {
    const session = this.session;
    if (!session) throw new Error(`${this.label}: model already released`);
    const { wire, wanted } = prepareRun(this.label, this.inputs, this.outputs, feeds, outputNames);
    const reply = await session.host.run(session.handle, wire, wanted, { label: this.label, what: 'running', timeoutMs: this.timeoutMs });
    if (!reply.ok) throw runFailure(this.label, this.inputs, wire, reply);
    const out: Record<string, FloatTensor> = {};
    for (const o of reply['outputs'] as RunOutput[]) out[this.outputs[o.output]!.name] = { data: o.data, dims: o.dims };
    return out;
  }

  /**
   * The first-layer split for this job (./split.ts), its two sessions created beside the model's the
   * first time; or why the full model runs.
   */
  private async splitFor(job: SimulationJob, session: HostSession, opts: SimulateOptions): Promise<{ request: Record<string, unknown> } | { reason: string }> {
    if (opts.split === false) return { reason: 'runtime.split_first_layer is false' };
    const card = boundCard(job.card, job.binding);
    const state = stateColumnsOf(card);
    const refusal = splitRefusal(job.binding, card, state.indices.length > 0);
    if (refusal !== null) return { reason: refusal };
    const size = card.observation.window * card.observation.features.length;
    const layout = convLayoutOf(card);
    const key = `${job.binding.input}|${size}|${state.indices.join(',')}|${state.groupOf.join(',')}|${layout === null ? '' : `${layout.column.join(',')}/${layout.windowed.join(',')}`}`;
    if (this.bytes === null) return { reason: 'the model was released' };
    if (this.split?.key !== key) {
      await this.releaseSplit();
      this.split = { key, outcome: planFirstLayerSplit(this.bytes, job.binding.input, size, state, layout), sessions: null, failed: null };
    }
    const split = this.split!;
    if (!split.outcome.ok) return { reason: split.outcome.reason };
    if (split.failed !== null) return { reason: split.failed };
    if (split.sessions === null) {
      const create = async (bytes: Uint8Array | Uint8Array[]): Promise<HostSession> => {
        const reply = await session.host.request(
          { op: 'create', bytes, provider: this.executionProvider, quiet: true, threads: this.threads, deviceId: this.deviceId },
          { label: this.label, what: 'loading', timeoutMs: this.timeoutMs },
        );
        if (!reply.ok) throw new SessionCreateError(reply.message ?? 'unknown error');
        return { host: session.host, handle: reply['session'] as number, inputs: reply['inputs'] as TensorInfo[], outputs: reply['outputs'] as TensorInfo[] };
      };
      let trunk: HostSession | null = null;
      let conv: HostSession | null = null;
      try {
        // The trunk as a convolution stands in for the direct trunk; without it (none, or onnxruntime
        // refuses it) the trunk is computed directly.
        if (split.outcome.plan.conv !== null) {
          conv = await create(split.outcome.plan.conv.bytes).catch((err: unknown) => {
            if (err instanceof SessionCreateError) return null;
            throw err;
          });
        }
        if (conv === null) trunk = await create(split.outcome.plan.trunk);
        split.sessions = { trunk, head: await create(split.outcome.plan.head), conv };
      } catch (err) {
        if (!(err instanceof SessionCreateError)) throw err;
        if (trunk) await releaseSession(trunk, this.label);
        if (conv) await releaseSession(conv, this.label);
        split.failed = `onnxruntime could not load the split models: ${cleanReason(err)}`;
        return { reason: split.failed };
      }
    }
    const { plan } = split.outcome;
    return {
      request: {
        trunk: split.sessions.trunk?.handle ?? null,
        head: split.sessions.head.handle,
        conv:
          split.sessions.conv === null || plan.conv === null
            ? null
            : {
                session: split.sessions.conv.handle,
                block: plan.conv.block,
                perBlock: plan.conv.perBlock,
                columnsInput: plan.conv.columnsInput,
                windowedInput: plan.conv.windowedInput,
                outputs: plan.conv.outputs,
              },
        hidden: plan.hidden,
        firstLayer: plan.firstLayer,
        names: {
          trunkInput: SPLIT_NAMES.trunkInput,
          trunkOutputs: plan.hidden.map((_, k) => splitName('trunk', k)),
          headState: SPLIT_NAMES.headState,
          headTrunks: plan.hidden.map((_, k) => splitName('trunk', k)),
        },
        samples: (opts.samples ?? []).filter((o) => o.length === size).map((o) => Float32Array.from(o)),
      },
    };
  }

  private async releaseSplit(): Promise<void> {
    const sessions = this.split?.sessions;
    this.split = null;
    if (sessions) {
      if (sessions.trunk) await releaseSession(sessions.trunk, this.label);
      await releaseSession(sessions.head, this.label);
      if (sessions.conv) await releaseSession(sessions.conv, this.label);
    }
  }

  async simulate(job: SimulationJob, opts: SimulateOptions = {}): Promise<SimulationOutcome> {
    const session = this.session;
    if (!session) throw new Error(`${this.label}: model already released`);
    const split = await this.splitFor(job, session, opts);
    const reply = await session.host.request(
      // Beats four times per deadline (at most every second) keep a long evaluation alive while each call is quick.
      { op: 'simulate', session: session.handle, job, beatMs: Math.min(1000, this.timeoutMs / 4), ...('request' in split ? { split: split.request } : {}) },
      { label: this.label, what: 'running', timeoutMs: this.timeoutMs },
    );
    if (!reply.ok) {
      if (reply.kind === 'simulate') {
        const kind = reply['errorKind'];
        if (kind === 'input' || kind === 'usage' || kind === 'infra') {
          throw new PolicyGateError(kind, String(reply.message), { subject: (reply['subject'] as string | null) ?? undefined });
        }
        throw new Error(String(reply.message));
      }
      throw new Error(`${this.label}: the onnxruntime host refused the request: ${reply.message ?? reply.kind}`);
    }
    const inference = (reply['inference'] as InferencePath | undefined) ?? { path: 'full', reason: 'reason' in split ? split.reason : null, rows: 0, recomputed: 0 };
    const observations = (reply['observations'] as Float32Array | null | undefined) ?? null;
    const observe = job.observe?.length ?? 0;
    if (observe > 0 && observations?.length !== observe * job.card.observation.window * job.card.observation.features.length) {
      throw new Error(`${this.label}: the onnxruntime host returned ${observations?.length ?? 0} observation values for ${observe} audited bars`);
    }
    return { targets: reply['targets'] as Float64Array[], inference, observations };
  }

  async features(req: FeatureGraphRequest): Promise<Float64Array[]> {
    const session = this.session;
    if (!session) throw new Error(`${this.label}: model already released`);
    // Views are copied so only the bars sent cross (a view would carry its whole buffer).
    const own = (a: Float64Array): Float64Array => (a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice());
    const { time, open, high, low, close, volume } = req.bars;
    const reply = await session.host.request(
      {
        op: 'features',
        session: session.handle,
        binding: req.binding,
        bars: { time: own(time), open: own(open), high: own(high), low: own(low), close: own(close), volume: own(volume) },
        from: req.from ?? 0,
        ...(req.rows === undefined ? {} : { rows: req.rows }),
        batch: req.batch ?? 1,
        beatMs: Math.min(1000, this.timeoutMs / 4),
      },
      { label: this.label, what: 'running', timeoutMs: this.timeoutMs },
    );
    if (!reply.ok) {
      const what =
        reply.kind === 'missing-output'
          ? `no output "${String(reply['name'])}"`
          : reply.kind === 'output-type'
            ? `output "${String(reply['name'])}" is ${String(reply['type'])}, not float`
            : String(reply.message ?? reply.kind);
      throw inputError(`feature graph ${this.label}: onnxruntime could not run it: ${cleanReason(new Error(what))}`, this.label);
    }
    return reply['columns'] as Float64Array[];
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await this.releaseSplit();
    // A released model is kept by its run only for what it said about itself (the runtime section).
    this.bytes = null;
    if (s) await releaseSession(s, this.label);
  }
}

/** The report's view of a loaded model (SPEC section 10: model {path, sha256, inputs, outputs}). */
export function modelFileInfo(model: PolicyModel, filePath: string): ModelFileInfo {
  return {
    path: filePath,
    sha256: model.sha256,
    inputs: model.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })),
    outputs: model.outputs.map((o) => ({ name: o.name, shape: [...o.shape] })),
  };
}
