/**
 * onnxruntime in a child process (threats.md O2): the parent's side of ./host-main.ts.
 *
 * A host process serves the models of a policy-gate process: it is started on the first model load,
 * holds the sessions, and answers one request at a time in order (create a session from the model's
 * bytes, run it on a batch, drive a model's whole evaluation loop, release it). There is one host per
 * slot: `validate` evaluates runtime.parallel_models models at a time, each worker on its own slot, so
 * the models run on as many cores and a crash takes only its own slot's work with it. When the host crashes (a native abort or segfault in
 * onnxruntime) or does not answer a request within its deadline (a hang; it is then killed), the
 * request in progress fails with an error naming ITS model and saying what happened, every other
 * pending request fails as "lost", and the next request starts a fresh host. So one hostile model
 * costs its own evaluation and never the other models' results.
 *
 * - Deadline: per request, from the moment the host starts on it (requests queue in order), given by
 *   the caller — runtime.inference_timeout_seconds for session creation and for every inference call.
 *   A simulation request (a model's whole loop) sends "beats" between its inference calls, and each
 *   beat restarts the deadline: so the deadline bounds every call, not the whole evaluation.
 * - Environment: the host gets an allowlist of the parent's variables (hostEnvironment): what a
 *   runtime needs to find its libraries and GPU, never a token, a key, INPUT_*, ACTIONS_*, GITHUB_* or
 *   RUNNER_* but RUNNER_TRACKING_ID (threats.md G5). No argument carries a secret either: the only one is
 *   onnxruntime-node's path.
 * - Working folder: each host starts in an empty folder of its own (`<tmp>/policy-gate-ort-XXXXXX/cwd`,
 *   mode 0700) with TMPDIR/TMP/TEMP pointing at a sibling `tmp` folder, so a relative path inside a
 *   model can reach no workspace file, and what onnxruntime leaves in its temp folder (mat-debug-<pid>.log,
 *   .ses) goes there. The whole folder is removed when the host ends: by the parent when the process has
 *   closed (a clean shutdown, a crash, a kill at the deadline), by the host itself when it notices its
 *   parent is gone.
 * - Idle: between requests the child and its pipes are unref'd, so the host never keeps policy-gate
 *   alive; when policy-gate exits, the request pipe closes and the host exits with it.
 * - Lifeline: fd 5 is a pipe the parent never writes. A watchdog thread in the host waits on it;
 *   when policy-gate dies in any way (even SIGKILL), the kernel closes the parent's end, the read
 *   returns end-of-file and the watchdog removes the host's folder and kills the host — also in the
 *   middle of a native inference call that blocks the host's main thread (./host-main.ts).
 * - Interruption: stopOrtHostsNow() (the CLI's and the Action's SIGINT/SIGTERM/SIGHUP handlers) kills
 *   every host at once and refuses to start new ones for the rest of the process.
 * - Output: the host's stdout and stderr are captured (never mixed into policy-gate's own output, which
 *   may be JSON), and their last line is quoted in a crash message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorMessage, PolicyGateError } from '../../core/errors.js';
import { decodeFrame, encodeMessage, encodeRun, FAULT_CODES, type RunFeed } from './host-frame.js';
import { HOST_SOURCE } from './host-source.generated.js';

/** Why a request got no answer: the host crashed, timed out, or was already gone. */
export class OrtHostFailure extends PolicyGateError {
  constructor(
    message: string,
    subject: string,
    readonly reason: 'crashed' | 'timeout' | 'lost',
  ) {
    super('input', message, { subject });
    this.name = 'OrtHostFailure';
  }
}

/** A reply of the host. `ok: false` replies are onnxruntime's own errors (a bad model, a bad feed). */
export interface HostReply {
  id: number;
  ok: boolean;
  kind?: string;
  message?: string;
  [key: string]: unknown;
}

/** What a request is for, for messages: "loading" or "running" the model `label`. */
export interface RequestMeta {
  label: string;
  what: 'loading' | 'running' | 'releasing' | 'inspecting';
  timeoutMs: number;
}

interface Pending extends RequestMeta {
  id: number;
  resolve: (reply: HostReply) => void;
  reject: (err: Error) => void;
}

/** The deadline of the host's start-up (loading onnxruntime-node's native library). */
const START_TIMEOUT_MS = 60_000;
/** How much of the host's stdout/stderr is kept for crash messages. */
const TAIL_BYTES = 4096;

// ------------------------------------------------------------------ environment

/**
 * Variables a runtime may need: the executable and library search paths, temp folders, locale, the
 * Windows system folders (DLL loading needs SystemRoot), and the CUDA / cuDNN / NVIDIA / OpenMP / MKL /
 * onnxruntime settings of a GPU runner. Matched case-insensitively (Windows names are).
 */
const KEEP =
  /^(RUNNER_TRACKING_ID|PATH|PATHEXT|HOME|USERPROFILE|TMPDIR|TMP|TEMP|LANG|LANGUAGE|LC_[A-Z0-9_]+|TZ|SYSTEMROOT|WINDIR|COMSPEC|SYSTEMDRIVE|PROGRAMDATA|PROGRAMFILES|PROCESSOR_[A-Z0-9_]+|NUMBER_OF_PROCESSORS|LD_LIBRARY_PATH|DYLD_LIBRARY_PATH|DYLD_FALLBACK_LIBRARY_PATH|CUDA_[A-Z0-9_]+|CUDNN_[A-Z0-9_]+|NVIDIA_[A-Z0-9_]+|OMP_[A-Z0-9_]+|MKL_[A-Z0-9_]+|ORT_[A-Z0-9_]+|POLICY_GATE_ORT_PUBLIC_RUN)$/i;
/** Names that look like credentials are dropped even when the allowlist matches (e.g. CUDA_..._TOKEN). */
const SECRET_NAME = /TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|API_?KEY|AUTH|APCA|ALPACA/i;

/**
 * glibc's allocator, told to keep what it frees (no trimming, large blocks from the heap rather than
 * fresh mmaps): every model's bytes, initializers and packed weights are megabytes, and memory the
 * process gets back from the kernel is paid again in page faults by the next model — 30–40 ms of CPU per
 * model on the benchmark's machine (docs/performance.md). The peak resident memory does not grow: freed
 * blocks are reused, not added to. Other C libraries ignore these variables.
 */
const MALLOC_TUNING: NodeJS.ProcessEnv = {
  MALLOC_MMAP_THRESHOLD_: String(1 << 30),
  MALLOC_TRIM_THRESHOLD_: String(2 ** 32),
  MALLOC_TOP_PAD_: String(64 << 20),
};

/**
 * The environment the onnxruntime host is started with: an allowlist of `env`, never a secret.
 * RUNNER_TRACKING_ID is the one runner variable kept: the GitHub runner tags the processes of a job with
 * it and kills those still running when the job ends, which includes an orphaned host.
 */
export function hostEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && KEEP.test(name) && !SECRET_NAME.test(name)) out[name] = value;
  }
  return out;
}

// ------------------------------------------------------------------ test seam

/** A fault the host injects into itself, for the isolation tests (a crash or a hang of onnxruntime). */
export interface OrtHostFault {
  /** Fail while creating the model's session, or on an inference call. */
  at: 'load' | 'run';
  /** 'slow': every inference call of the model (also inside a simulation) takes 25 ms longer — slow but alive. */
  action: 'abort' | 'segv' | 'exit' | 'hang' | 'slow';
  /** With at 'run': this many requests that run the model (an inference call, or a whole simulation) succeed first (default 0). */
  afterRuns?: number;
}

/** One deadline: restarted for the request now at the head of the queue (a new request, or a beat), or cleared. */
export interface DeadlineTimer {
  restart(head: RequestMeta & { id: number }): void;
  clear(): void;
}

/** Starts a deadline for `head` that calls `expire` when it runs out. */
export type DeadlineClock = (expire: () => void, head: RequestMeta & { id: number }) => DeadlineTimer;

/** The real clock: a Node timer (refreshed in place while the delay stays the same), unref'd. */
const realClock: DeadlineClock = (expire, head) => {
  let ms = head.timeoutMs;
  let timer = setTimeout(expire, ms);
  timer.unref();
  return {
    restart(next) {
      if (next.timeoutMs === ms) {
        timer.refresh();
        return;
      }
      clearTimeout(timer);
      ms = next.timeoutMs;
      timer = setTimeout(expire, ms);
      timer.unref();
    },
    clear() {
      clearTimeout(timer);
    },
  };
};

let deadlineClock: DeadlineClock = realClock;

/**
 * TEST SEAM — the clock the hosts' deadlines run on (null: the real one), so a test decides when a
 * deadline runs out instead of the machine's speed. Vitest only, like setOrtHostFaultsForTests; it
 * stops the running hosts, so the next one starts on this clock.
 */
export async function setOrtHostDeadlineClockForTests(clock: DeadlineClock | null): Promise<void> {
  if (process.env['VITEST'] !== 'true' && process.env['NODE_ENV'] !== 'test') {
    throw new Error('setOrtHostDeadlineClockForTests is a test seam, available only under vitest (NODE_ENV=test)');
  }
  deadlineClock = clock ?? realClock;
  await shutdownOrtHost();
}

let testFaults: Map<string, OrtHostFault> | null = null;
const runCounts = new Map<string, number>();

/**
 * TEST SEAM — makes the host abort, segfault, exit, hang or slow down when it loads or runs a model whose label
 * ends with one of the keys. It exists so the isolation can be tested without a real malicious model.
 * Production cannot reach it: it throws unless the process runs under vitest (VITEST=true or
 * NODE_ENV=test); it only tags requests with a `fault` field, which the host honours only when it was
 * started with POLICY_GATE_ORT_HOST_FAULTS=1, and the parent sets that variable only while faults are
 * set here. Setting or clearing faults stops the current host, so the next one starts with the right
 * environment.
 */
export async function setOrtHostFaultsForTests(faults: Record<string, OrtHostFault> | null): Promise<void> {
  if (process.env['VITEST'] !== 'true' && process.env['NODE_ENV'] !== 'test') {
    throw new Error('setOrtHostFaultsForTests is a test seam, available only under vitest (NODE_ENV=test)');
  }
  testFaults = faults ? new Map(Object.entries(faults)) : null;
  runCounts.clear();
  await shutdownOrtHost();
}

function faultFor(label: string, at: 'load' | 'run'): string | undefined {
  if (!testFaults) return undefined;
  for (const [key, fault] of testFaults) {
    if (!label.endsWith(key) || fault.at !== at) continue;
    if (at === 'run') {
      const n = runCounts.get(key) ?? 0;
      runCounts.set(key, n + 1);
      if (n < (fault.afterRuns ?? 0)) return undefined;
    }
    return fault.action;
  }
  return undefined;
}

// ------------------------------------------------------------------ the host

function onnxruntimeEntry(): string {
  try {
    return createRequire(import.meta.url).resolve('onnxruntime-node');
  } catch (err) {
    throw new PolicyGateError('infra', `onnxruntime-node could not be loaded: ${errorMessage(err)}. Reinstall dependencies (npm ci) on a supported platform (linux/darwin/win32, x64/arm64).`, {
      subject: 'onnxruntime-node',
      cause: err,
    });
  }
}

/** Counters for tests and the benchmark. */
export interface OrtHostStats {
  /** Host processes started by this process. */
  starts: number;
  /** Session-creation requests sent (each is onnxruntime seeing a model's bytes). */
  sessionsCreated: number;
  /** The running host's process id, or null. */
  pid: number | null;
}

const stats = { starts: 0, sessionsCreated: 0 };

export class OrtHost {
  readonly generation: number;
  private readonly child: ChildProcess;
  private readonly requests: Socket;
  private readonly replies: Socket;
  private readonly pending: Pending[] = [];
  private nextId = 1;
  private failure: OrtHostFailure | null = null;
  /** Why the host ended, for requests made to it afterwards. */
  private endReason: string | null = null;
  private tail = '';
  private timer: DeadlineTimer | undefined;
  /** The clock this host's deadlines run on (the real one outside tests). */
  private readonly clock: DeadlineClock = deadlineClock;
  /** Whether the process and the reply pipe currently keep the event loop alive. */
  private referenced: boolean | null = null;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;
  private readonly hello: Promise<HostReply>;
  private readonly exited: Promise<void>;
  /** The host's private folder: `cwd` (its empty working folder) and `tmp` (its TMPDIR). */
  readonly privateDir: string;

  constructor(generation: number, entry: string, env: NodeJS.ProcessEnv) {
    this.generation = generation;
    this.privateDir = makePrivateDir();
    const tmp = path.join(this.privateDir, 'tmp');
    const child = spawn(process.execPath, ['-', entry], {
      // 0–2 stdio, 3 requests, 4 replies, 5 the lifeline (never written; its end-of-file means policy-gate is gone)
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...env, TMPDIR: tmp, TMP: tmp, TEMP: tmp },
      cwd: path.join(this.privateDir, 'cwd'),
      windowsHide: true,
    });
    this.child = child;
    running.add(this);
    stats.starts++;
    this.requests = child.stdio[3] as Socket;
    this.replies = child.stdio[4] as Socket;
    this.exited = new Promise((resolve) =>
      child.once('close', () => {
        running.delete(this);
        removePrivateDir(this.privateDir);
        resolve();
      }),
    );
    // The start-up message is the first reply, id 0.
    this.hello = new Promise<HostReply>((resolve, reject) => {
      this.pending.push({ id: 0, label: 'onnxruntime', what: 'loading', timeoutMs: START_TIMEOUT_MS, resolve, reject });
    });
    this.hello.catch(() => {}); // observed by ready(); never an unhandled rejection
    const keepTail = (d: Buffer): void => {
      this.tail = (this.tail + d.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout!.on('data', keepTail);
    child.stderr!.on('data', keepTail);
    this.replies.on('data', (chunk: Buffer) => this.onData(chunk));
    const lifeline = (child.stdio as unknown as Socket[])[5]!;
    for (const s of [child.stdin!, child.stdout!, child.stderr!, this.requests, this.replies, lifeline] as Socket[]) {
      s.on('error', () => {}); // EPIPE / ECONNRESET when the host dies: handled by 'exit'
    }
    child.on('error', (err) => this.fail(null, `the onnxruntime host process could not be started: ${errorMessage(err)}`));
    child.once('exit', (code, signal) => {
      // Let the last of its stderr arrive before quoting it.
      const how = signal ? `killed by signal ${signal}` : `exited with code ${code}`;
      const settle = (): void => this.fail(how, null);
      const t = setTimeout(settle, 200);
      t.unref();
      child.once('close', () => {
        clearTimeout(t);
        settle();
      });
    });
    child.stdin!.end(HOST_SOURCE);
    // Only the reply pipe (while a request waits) and the process keep policy-gate alive: refState.
    for (const s of [child.stdin!, child.stdout!, child.stderr!, this.requests, lifeline] as Socket[]) s.unref();
    this.arm();
    this.refState();
  }

  /** Resolves with onnxruntime's version once the host has loaded it; an infra error when it cannot. */
  async ready(): Promise<string> {
    let reply: HostReply;
    try {
      reply = await this.hello;
    } catch (err) {
      if (err instanceof OrtHostFailure) {
        throw new PolicyGateError('infra', `onnxruntime-node could not be started: ${err.message}`, { subject: 'onnxruntime-node', cause: err });
      }
      throw err;
    }
    if (!reply.ok) {
      throw new PolicyGateError('infra', `onnxruntime-node could not be loaded: ${reply.message}. Reinstall dependencies (npm ci) on a supported platform (linux/darwin/win32, x64/arm64).`, {
        subject: 'onnxruntime-node',
      });
    }
    return String(reply['version']);
  }

  get alive(): boolean {
    return this.failure === null && this.endReason === null;
  }

  get pid(): number | null {
    return this.alive ? (this.child.pid ?? null) : null;
  }

  /** The child's process id while its process has not closed (also after it was stopped). */
  get processId(): number | null {
    return this.child.exitCode === null && this.child.signalCode === null ? (this.child.pid ?? null) : null;
  }

  /**
   * Sends one request (a kind-0 message) and resolves with its reply (ok or onnxruntime's error).
   * Rejects with an OrtHostFailure when the host crashes, times out or is gone.
   */
  request(message: Record<string, unknown>, meta: RequestMeta): Promise<HostReply> {
    const fault = meta.what === 'loading' ? faultFor(meta.label, 'load') : meta.what === 'running' ? faultFor(meta.label, 'run') : undefined;
    if (message['op'] === 'create') stats.sessionsCreated++;
    return this.send((id) => encodeMessage(fault ? { ...message, id, fault } : { ...message, id }), meta);
  }

  /** One inference call (a kind-2 frame); the reply's `outputs` are RunOutput[] (see ./host-frame.ts). */
  run(session: number, feeds: readonly RunFeed[], wanted: readonly number[], meta: RequestMeta): Promise<HostReply> {
    const fault = faultFor(meta.label, 'run');
    return this.send((id) => encodeRun(id, session, fault ? FAULT_CODES[fault]! : 0, feeds, wanted), meta);
  }

  private send(frame: (id: number) => Buffer[], meta: RequestMeta): Promise<HostReply> {
    if (!this.alive) {
      return Promise.reject(
        new OrtHostFailure(`${meta.label}: the onnxruntime process that held this model stopped (${this.endReason ?? this.failure?.message}); load the model again`, meta.label, 'lost'),
      );
    }
    const id = this.nextId++;
    const promise = new Promise<HostReply>((resolve, reject) => {
      this.pending.push({ ...meta, id, resolve, reject });
    });
    if (this.pending.length === 1) this.arm();
    this.refState();
    this.requests.cork();
    for (const part of frame(id)) this.requests.write(part);
    this.requests.uncork();
    return promise;
  }

  /** Closes the request pipe (the host exits) and waits for the process to end. */
  async shutdown(): Promise<void> {
    if (this.alive) {
      this.endReason = 'the onnxruntime host was shut down';
      this.child.ref(); // keep the event loop alive until it has exited (it is unref'd while idle)
      this.requests.end();
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 2_000);
      killer.unref();
      await this.exited;
      clearTimeout(killer);
    }
  }

  /** Kills the process at once (SIGKILL) and removes its folder; pending requests fail as 'lost' with `why`. */
  killNow(why: string): void {
    if (this.alive) {
      this.endReason = why;
      this.failure = new OrtHostFailure(`onnxruntime was stopped: ${why}`, 'onnxruntime', 'lost');
      const all = this.pending.splice(0);
      for (const p of all) p.reject(new OrtHostFailure(`${p.label}: onnxruntime was stopped before it finished ${p.what} the model: ${why}`, p.label, 'lost'));
      this.timer?.clear();
      this.timer = undefined;
    }
    this.child.kill('SIGKILL');
    removePrivateDir(this.privateDir);
  }

  // ---------------------------------------------------------------- internals

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < 4) return;
        this.need = this.take(4).readUInt32LE(0);
      }
      if (this.buffered < this.need) return;
      const body = this.take(this.need);
      this.need = -1;
      let reply: HostReply;
      try {
        reply = decodeFrame(body) as HostReply;
      } catch (err) {
        this.kill(`sent an unreadable reply (${errorMessage(err)})`);
        return;
      }
      this.onReply(reply);
    }
  }

  /** The next n buffered bytes (a fresh buffer, or a slice of one read nobody else holds). */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let off = 0;
      while (off < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - off);
        c.copy(out, off, 0, k);
        off += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }

  private onReply(reply: HostReply): void {
    const head = this.pending[0];
    if (reply['beat'] === true && head && head.id === reply.id) {
      // The request in progress made progress: its deadline starts again.
      this.arm();
      return;
    }
    if (!head || head.id !== reply.id) {
      this.kill(`answered request ${String(reply.id)} out of order`);
      return;
    }
    this.pending.shift();
    this.arm();
    this.refState();
    head.resolve(reply);
  }

  /** (Re)starts the deadline of the request at the head of the queue: it runs from when the host starts on it. */
  private arm(): void {
    const head = this.pending[0];
    if (!this.alive) {
      this.timer?.clear();
      this.timer = undefined;
      return;
    }
    // Idle: the timer may run out; onTimeout then finds nothing to stop (it is unref'd, and restarted
    // for the next request).
    if (!head) return;
    if (this.timer) this.timer.restart(head);
    else this.timer = this.clock(() => this.onTimeout(), head);
  }

  private onTimeout(): void {
    const head = this.pending[0];
    if (!head || !this.alive) return;
    const seconds = +(head.timeoutMs / 1000).toFixed(3);
    this.failure = new OrtHostFailure(
      `${head.label}: onnxruntime did not finish ${head.what} the model within ${seconds} s (runtime.inference_timeout_seconds), so its process was stopped. ` +
        'This model is not evaluated; the other models are, in a fresh onnxruntime process. A model that hangs the runtime is malformed or hostile; if it is only slow, raise runtime.inference_timeout_seconds.',
      head.label,
      'timeout',
    );
    this.endReason = `${head.label} did not finish ${head.what} within ${seconds} s`;
    this.child.kill('SIGKILL');
    this.rejectAll(head, this.failure);
  }

  private kill(why: string): void {
    if (!this.alive) return;
    this.endReason = `the onnxruntime host ${why}`;
    this.child.kill('SIGKILL');
    const head = this.pending[0];
    const failure = new OrtHostFailure(`${head?.label ?? 'onnxruntime'}: the onnxruntime host ${why}; it was stopped`, head?.label ?? 'onnxruntime', 'crashed');
    this.failure = failure;
    this.rejectAll(head, failure);
  }

  /** The host process ended (`how`) or could not start (`startError`). */
  private fail(how: string | null, startError: string | null): void {
    this.timer?.clear();
    this.timer = undefined;
    if (!this.alive) return;
    const head = this.pending[0];
    const said = lastLine(this.tail);
    const detail = startError ?? `${how}${said ? `; its last output: ${said}` : ''}`;
    this.endReason = head ? `it crashed while ${head.what} ${head.label}: ${detail}` : `it ended while idle: ${detail}`;
    if (!head) return;
    if (head.id === 0) {
      // It never got as far as loading onnxruntime: nothing to do with any model (ready() reports it).
      this.failure = new OrtHostFailure(`the onnxruntime host process ended while starting (${detail})`, 'onnxruntime-node', 'crashed');
      this.rejectAll(head, this.failure);
      return;
    }
    this.failure = new OrtHostFailure(
      `${head.label}: onnxruntime crashed while ${head.what} the model (${detail}). ` +
        'This model is not evaluated; the other models are, in a fresh onnxruntime process. A model that crashes the runtime is malformed or hostile: ' +
        're-export it (torch.onnx.export) and check it with onnx.checker.check_model.',
      head.label,
      'crashed',
    );
    this.rejectAll(head, this.failure);
  }

  private rejectAll(head: Pending | undefined, failure: OrtHostFailure): void {
    const all = this.pending.splice(0);
    for (const p of all) {
      if (p === head) p.reject(failure);
      else {
        p.reject(
          new OrtHostFailure(
            `${p.label}: onnxruntime stopped before ${p.what} the model, because ${head?.label ?? 'another model'} ${failure.reason === 'timeout' ? 'hung' : 'crashed'} it`,
            p.label,
            'lost',
          ),
        );
      }
    }
    this.refState();
  }

  /** The host keeps policy-gate alive only while a request is waiting for it. */
  private refState(): void {
    const busy = this.pending.length > 0 && this.alive;
    if (busy === this.referenced) return;
    this.referenced = busy;
    if (busy) this.child.ref();
    else this.child.unref();
    // (Socket.ref/unref on a closed socket would queue a 'connect' listener each time.)
    if (!this.replies.destroyed) {
      if (busy) this.replies.ref();
      else this.replies.unref();
    }
  }
}

/**
 * The last informative line of the host's output — an onnxruntime message such as "terminate called
 * after throwing … what(): …" — printable characters only, at most 200 of them.
 */
function lastLine(text: string): string {
  const lines = text.split(/\r?\n/).map((l) => l.replace(/[\u0000-\u001f\u007f]/g, '').trim());
  // Skip Node's own trailers: the "Node.js v20…" banner and numbered native/JavaScript stack frames.
  const last = lines.filter((l) => l !== '' && !/^Node\.js v\d/.test(l) && !/^\d+: /.test(l) && !/^-----.*-----$/.test(l)).pop() ?? '';
  return last.length > 200 ? `${last.slice(0, 200)}…` : last;
}

/** A fresh private folder for a host: `<tmp>/policy-gate-ort-XXXXXX/{cwd,tmp}`, each mode 0700. */
function makePrivateDir(): string {
  let dir: string;
  try {
    dir = mkdtempSync(path.join(tmpdir(), 'policy-gate-ort-'));
    mkdirSync(path.join(dir, 'cwd'), { mode: 0o700 });
    mkdirSync(path.join(dir, 'tmp'), { mode: 0o700 });
  } catch (err) {
    throw new PolicyGateError('infra', `the onnxruntime process could not get a private working folder in ${tmpdir()}: ${errorMessage(err)}. Make the temp folder (TMPDIR) writable.`, {
      subject: 'onnxruntime-node',
      cause: err,
    });
  }
  return dir;
}

function removePrivateDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // Best effort: a folder the host is still writing into is removed by the host itself when it ends.
  }
}

/** The running host of each slot. */
const slots = new Map<number, OrtHost>();
/** Every host whose process has not closed yet (also those replaced in their slot). */
const running = new Set<OrtHost>();
let generations = 0;
/** Set by stopOrtHostsNow: why no host may start any more. */
let stopped: string | null = null;

/**
 * Kills every onnxruntime process at once (SIGKILL) and removes their folders, synchronously; from then
 * on no host starts in this process. For the signal handlers: a hung model must not outlive policy-gate.
 * Returns the process ids that were killed.
 */
export function stopOrtHostsNow(why: string): number[] {
  stopped = why;
  const pids: number[] = [];
  for (const host of [...running]) {
    const pid = host.processId;
    if (pid !== null) pids.push(pid);
    host.killNow(why);
  }
  slots.clear();
  return pids;
}

/** The running host of `slot` (default 0), or a new one (after a crash, a timeout or a shutdown). */
export function ortHost(slot = 0): OrtHost {
  const current = slots.get(slot);
  if (current?.alive) return current;
  if (stopped !== null) throw new OrtHostFailure(`onnxruntime is not started again: ${stopped}`, 'onnxruntime', 'lost');
  const env = { ...hostEnvironment(process.env), ...MALLOC_TUNING };
  if (testFaults) env['POLICY_GATE_ORT_HOST_FAULTS'] = '1';
  const host = new OrtHost(++generations, onnxruntimeEntry(), env);
  slots.set(slot, host);
  return host;
}

/** Stops every running host (tests; the next request starts a new one). */
export async function shutdownOrtHost(): Promise<void> {
  const all = [...slots.values()];
  slots.clear();
  await Promise.all(all.map((h) => h.shutdown()));
}

export function ortHostStats(): OrtHostStats {
  return { ...stats, pid: slots.get(0)?.pid ?? null };
}

/** The process ids of the running onnxruntime processes, one per slot (the benchmark reads their CPU and memory from /proc). */
export function ortHostPids(): number[] {
  return [...slots.values()].map((h) => h.processId).filter((p): p is number => p !== null);
}

/** The peak resident memory in KiB of the running hosts, summed (the benchmark adds it to policy-gate's own), or null. */
export async function ortHostPeakRssKiB(): Promise<number | null> {
  let total: number | null = null;
  for (const host of slots.values()) {
    if (!host.alive) continue;
    const reply = await host.request({ op: 'stats' }, { label: 'onnxruntime', what: 'inspecting', timeoutMs: 10_000 });
    if (reply.ok) total = (total ?? 0) + Number(reply['maxRssKiB']);
  }
  return total;
}

/** Inference calls the running onnxruntime processes made through a session's handler and through its public run. */
export async function ortHostRunCounts(): Promise<{ handler: number; public: number }> {
  const counts = { handler: 0, public: 0 };
  for (const host of slots.values()) {
    if (!host.alive) continue;
    const reply = await host.request({ op: 'stats' }, { label: 'onnxruntime', what: 'inspecting', timeoutMs: 10_000 });
    const runs = reply.ok ? (reply['runs'] as { handler: number; public: number } | undefined) : undefined;
    counts.handler += runs?.handler ?? 0;
    counts.public += runs?.public ?? 0;
  }
  return counts;
}
