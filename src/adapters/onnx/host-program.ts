/**
 * The onnxruntime host: the program the child process of ./host.ts runs. It loads onnxruntime-node,
 * keeps the sessions of the models policy-gate evaluates, and answers requests one at a time.
 *
 * Why a separate process: a model in an untrusted archive can crash onnxruntime's native code
 * (SIGSEGV, abort — threats.md O2) or make it spin forever, and neither can be caught in-process. Here
 * a crash or a hang ends this process only; the parent names the model, records the error on it and
 * starts a fresh host for the next model.
 *
 * Wire (both directions, see encodeFrame/decodeFrame): two pipes, fd 3 (requests in) and fd 4 (replies
 * out). A frame is a 4-byte little-endian length, a 4-byte header length, the header — the message
 * serialised with node:v8 (the format of child_process's 'advanced' serialization), with every
 * Float32Array and Uint8Array replaced by a reference — and then those arrays' raw bytes, each padded
 * to 8 bytes (so every Float32Array starts 4-byte aligned in the receive buffer). So an observation batch crosses as its bytes, written straight from the caller's
 * array and read here as a Float32Array over the receive buffer: one copy in the kernel, none in
 * JavaScript. Stdout and stderr carry nothing of ours: onnxruntime may print there, and the parent
 * keeps their tail for crash messages.
 *
 * Between requests the host has nothing else to do, so it reads them with blocking reads (no event
 * loop turn before a request is seen). It exits when the request pipe closes, which is also what
 * happens when the parent exits or dies. (Polling instead of sleeping, on either side, was measured
 * and made calls slower on a 2-core machine: docs/performance.md.)
 *
 * This function is sent to the child as source text (Function.prototype.toString) and run with
 * `node -`, so that the same code works from the TypeScript sources (tests), from lib/ and from the
 * bundled dist/index.js without a second entry file. It must therefore be self-contained: it may use
 * Node's globals (require, process, Buffer) and nothing from this module's scope. The one argument,
 * process.argv[2], is the absolute path of onnxruntime-node's entry point, resolved by the parent.
 *
 * Test seam: a request may carry `fault` ('abort' | 'segv' | 'exit' | 'hang'), honoured only when this
 * process was started with POLICY_GATE_ORT_HOST_FAULTS=1, which the parent sets only after a test
 * called setOrtHostFaultsForTests() under vitest (see ./host.ts). Production never sets either.
 */
export function ortHostProgram(): void {
  // `node -` defines require as a global; reading it from globalThis keeps bundlers (esbuild, for
  // dist/index.js) from replacing it with a helper of the bundle, which the host would not have.
  const load = (globalThis as unknown as { require: NodeJS.Require }).require;
  const fs = load('node:fs') as typeof import('node:fs');
  const v8 = load('node:v8') as typeof import('node:v8');
  const REQUESTS = 3;
  const REPLIES = 4;
  const faultsEnabled = process.env['POLICY_GATE_ORT_HOST_FAULTS'] === '1';
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const sleep = (ms: number): void => void Atomics.wait(pause, 0, 0, ms);


  /** Fills buf[0, len) from the request pipe; false at end of input (the parent closed it or died). */
  const readExactly = (buf: Buffer, len: number): boolean => {
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
  };

  const writeAll = (frame: Buffer): void => {
    let off = 0;
    while (off < frame.length) {
      try {
        off += fs.writeSync(REPLIES, frame, off, frame.length - off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') process.exit(0); // the parent is gone
        sleep(0.05);
      }
    }
  };

  // ---- frames: the same format as ./host-frame.ts (the parent's side, which documents it); every
  // model load and inference call of the test suite goes through both.
  type Blob = Float32Array | Uint8Array;
  const align8 = (n: number): number => (n + 7) & ~7;
  const swapOut = (value: unknown, blobs: Blob[]): unknown => {
    if (value instanceof Float32Array || value instanceof Uint8Array) return { $blob: blobs.push(value) - 1 };
    if (Array.isArray(value)) return value.map((v) => swapOut(v, blobs));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = swapOut(v, blobs);
      return out;
    }
    return value;
  };
  const swapIn = (value: unknown, arrays: Blob[]): unknown => {
    if (Array.isArray(value)) return value.map((v) => swapIn(v, arrays));
    if (value !== null && typeof value === 'object') {
      const ref = (value as { $blob?: unknown }).$blob;
      if (typeof ref === 'number') return arrays[ref];
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = swapIn(v, arrays);
      return out;
    }
    return value;
  };
  /** A kind-0 frame of any message. */
  const encodeMessage = (message: unknown): Buffer => {
    const blobs: Blob[] = [];
    const body = swapOut(message, blobs);
    const header = v8.serialize({ m: body, b: blobs.map((a) => [a instanceof Float32Array ? 'f32' : 'u8', a.byteLength]) });
    let size = align8(12 + header.length);
    for (const a of blobs) size += align8(a.byteLength);
    const frame = Buffer.alloc(size);
    frame.writeUInt32LE(size - 4, 0);
    frame.writeUInt32LE(header.length, 8);
    header.copy(frame, 12);
    let off = align8(12 + header.length);
    for (const a of blobs) {
      frame.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), off);
      off += align8(a.byteLength);
    }
    return frame;
  };
  /** A kind-3 frame: the outputs of one inference call. */
  const encodeRunReply = (id: number, outputs: { output: number; dims: readonly number[]; data: Float32Array }[]): Buffer => {
    let size = 12;
    for (const o of outputs) size += 4 + 4 * o.dims.length + 4 + o.data.byteLength;
    const frame = Buffer.allocUnsafe(size);
    frame.writeUInt32LE(size - 4, 0);
    frame.writeUInt32LE(3 | (outputs.length << 16), 4); // kind 3, 0, count, 0
    frame.writeUInt32LE(id, 8);
    let off = 12;
    for (const o of outputs) {
      frame.writeUInt32LE(o.output | (o.dims.length << 8), off);
      off += 4;
      for (const d of o.dims) {
        frame.writeUInt32LE(d, off);
        off += 4;
      }
      frame.writeUInt32LE(o.data.byteLength, off);
      off += 4;
    }
    for (const o of outputs) {
      frame.set(new Uint8Array(o.data.buffer, o.data.byteOffset, o.data.byteLength), off);
      off += o.data.byteLength;
    }
    return frame;
  };
  type RunFrame = { kind: 2; id: number; fault: number; session: number; feeds: { input: number; float64: boolean; dims: number[]; data: Float32Array }[]; wanted: number[] };
  /** `body` is a frame without its length word, in a buffer whose byteOffset is 0 (views stay aligned). */
  const decode = (body: Buffer): RunFrame | Request => {
    const kind = body.readUInt8(0);
    if (kind === 2) {
      const nFeeds = body.readUInt8(2);
      const nWanted = body.readUInt8(3);
      const frame: RunFrame = { kind: 2, id: body.readUInt32LE(4), fault: body.readUInt8(1), session: body.readUInt32LE(8), feeds: [], wanted: [] };
      let off = 12;
      const sizes: number[] = [];
      for (let i = 0; i < nFeeds; i++) {
        const input = body.readUInt8(off);
        const float64 = body.readUInt8(off + 1) === 1;
        const rank = body.readUInt8(off + 2);
        off += 4;
        const dims: number[] = [];
        for (let k = 0; k < rank; k++, off += 4) dims.push(body.readUInt32LE(off));
        sizes.push(body.readUInt32LE(off));
        off += 4;
        frame.feeds.push({ input, float64, dims, data: new Float32Array(0) });
      }
      for (let i = 0; i < nWanted; i++) frame.wanted.push(body.readUInt8(off + i));
      off += (nWanted + 3) & ~3;
      for (let i = 0; i < nFeeds; i++) {
        if (off + sizes[i]! > body.length) throw new RangeError('frame shorter than its arrays');
        frame.feeds[i]!.data = new Float32Array(body.buffer, body.byteOffset + off, sizes[i]! / 4);
        off += sizes[i]!;
      }
      return frame;
    }
    const headerLength = body.readUInt32LE(4);
    const { m, b } = v8.deserialize(body.subarray(8, 8 + headerLength)) as { m: unknown; b: [string, number][] };
    let off = align8(12 + headerLength) - 4;
    const arrays = b.map(([k, length]) => {
      const at = body.byteOffset + off;
      off += align8(length);
      return k === 'u8' ? new Uint8Array(body.buffer, at, length) : new Float32Array(body.buffer, at, length / 4);
    });
    return swapIn(m, arrays) as Request;
  };
  // ---- end of frames

  const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

  type Ort = typeof import('onnxruntime-node');
  type Session = import('onnxruntime-node').InferenceSession;
  type Tensor = import('onnxruntime-node').Tensor;
  type Meta = import('onnxruntime-node').InferenceSession.ValueMetadata;

  let ort: Ort;
  try {
    const mod = load(process.argv[2]!) as Ort & { default?: Ort };
    ort = mod.InferenceSession ? mod : (mod.default as Ort);
    // onnxruntime's logger prints provider-load failures (e.g. the missing CUDA library) as red
    // [E:onnxruntime] lines although the parent catches and reports them: keep it to fatal only.
    // This must be set before the first session initialises the ORT environment.
    if (!ort.env.logLevel || ort.env.logLevel === 'warning') ort.env.logLevel = 'fatal';
    writeAll(encodeMessage({ id: 0, ok: true, version: ort.env.versions.node ?? ort.env.versions.common ?? 'unknown' }));
  } catch (err) {
    writeAll(encodeMessage({ id: 0, ok: false, message: messageOf(err) }));
    process.exit(1);
  }

  const sessions = new Map<number, Session>();
  let nextSession = 1;

  const describe = (m: Meta): { name: string; shape: (number | string)[]; type: string } =>
    m.isTensor ? { name: m.name, shape: m.shape.map((d) => (d === '' ? '?' : d)), type: m.type } : { name: m.name, shape: [], type: 'non-tensor' };

  const toFloat32 = (t: Tensor): Float32Array | null => {
    const d = t.data as unknown;
    if (d instanceof Float32Array) return d;
    if (d instanceof Float64Array || d instanceof Int32Array || d instanceof Uint8Array || d instanceof Int8Array) return Float32Array.from(d);
    if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
      const out = new Float32Array(d.length);
      for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
      return out;
    }
    return null;
  };

  const injectFault = (fault: unknown): void => {
    if (!faultsEnabled || typeof fault !== 'string') return;
    if (fault === 'abort') process.abort();
    if (fault === 'segv') process.kill(process.pid, 'SIGSEGV');
    if (fault === 'exit') process.exit(70);
    if (fault === 'hang') for (;;);
  };

  type Request = { id: number; op: string; fault?: string; [key: string]: unknown };

  const handle = async (req: Request): Promise<unknown> => {
    injectFault(req.fault);
    switch (req.op) {
      case 'create': {
        const provider = req['provider'] === 'cuda' ? 'cuda' : 'cpu';
        let session: Session;
        try {
          // A copy: the receive buffer is reused for the next message.
          session = await ort.InferenceSession.create(Buffer.from(req['bytes'] as Uint8Array), {
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
        sessions.set(sessionId, session);
        return { id: req.id, ok: true, session: sessionId, inputs: session.inputMetadata.map(describe), outputs: session.outputMetadata.map(describe) };
      }
      case 'release': {
        const session = sessions.get(req['session'] as number);
        sessions.delete(req['session'] as number);
        if (session) await session.release();
        return { id: req.id, ok: true };
      }
      case 'stats':
        return { id: req.id, ok: true, sessions: sessions.size, maxRssKiB: process.resourceUsage().maxRSS };
      default:
        return { id: req.id, ok: false, kind: 'protocol', message: `unknown request ${JSON.stringify(req.op)}` };
    }
  };

  const FAULTS = ['', 'abort', 'segv', 'exit', 'hang'];

  /** One inference call (a kind-2 frame); the reply frame. */
  const run = async (f: RunFrame): Promise<Buffer> => {
    injectFault(FAULTS[f.fault]);
    const session = sessions.get(f.session);
    if (!session) return encodeMessage({ id: f.id, ok: false, kind: 'released', message: 'no such session' });
    const feeds: Record<string, Tensor> = {};
    for (const x of f.feeds) {
      feeds[session.inputNames[x.input]!] = x.float64 ? new ort.Tensor('float64', Float64Array.from(x.data), x.dims) : new ort.Tensor('float32', x.data, x.dims);
    }
    const wanted = f.wanted.map((i) => session.outputNames[i]!);
    let result: Record<string, Tensor>;
    try {
      result = await session.run(feeds, wanted);
    } catch (err) {
      return encodeMessage({ id: f.id, ok: false, kind: 'run', message: messageOf(err) });
    }
    const outputs: { output: number; dims: readonly number[]; data: Float32Array }[] = [];
    for (let k = 0; k < wanted.length; k++) {
      const t = result[wanted[k]!];
      if (!t) return encodeMessage({ id: f.id, ok: false, kind: 'missing-output', name: wanted[k] });
      const data = toFloat32(t);
      if (!data) return encodeMessage({ id: f.id, ok: false, kind: 'output-type', name: wanted[k], type: t.type });
      outputs.push({ output: f.wanted[k]!, dims: t.dims, data });
    }
    return encodeRunReply(f.id, outputs);
  };

  const header = Buffer.alloc(4);
  const SMALL = 1 << 20;
  // Fresh ArrayBuffers (byteOffset 0), so Float32Array views of the 4-aligned arrays are aligned too.
  const buffer = (n: number): Buffer => Buffer.from(new ArrayBuffer(n));
  let body = buffer(SMALL);
  const serve = async (): Promise<void> => {
    for (;;) {
      if (!readExactly(header, 4)) process.exit(0);
      const len = header.readUInt32LE(0);
      if (body.length < len) body = buffer(len);
      if (!readExactly(body, len)) process.exit(0);
      let reply: Buffer;
      let id = -1;
      try {
        const req = decode(body.subarray(0, len));
        id = req.id;
        reply = 'kind' in req && req.kind === 2 ? await run(req as RunFrame) : encodeMessage(await handle(req as Request));
      } catch (err) {
        reply = encodeMessage({ id, ok: false, kind: 'host', message: messageOf(err) });
      }
      writeAll(reply);
      // Give back the memory of an unusually large request (a big batched call) once it is answered.
      if (body.length > 16 * SMALL) body = buffer(SMALL);
    }
  };
  void serve();
}

/** The host program as the source text `node -` runs. */
export function ortHostSource(): string {
  return `(${ortHostProgram.toString()})();\n`;
}
