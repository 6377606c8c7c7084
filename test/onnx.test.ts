import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { PolicyGateError } from '../src/core/errors.js';
import { inspectOnnxModel } from '../src/adapters/onnx/inspect.js';
import { cudaProviderStatus, loadPolicyModel, modelFileInfo, onnxruntimeVersion, sha256Hex, type PolicyModel } from '../src/adapters/onnx/session.js';
import { buildMlp, buildRecurrent, encodeModel, mlpForward, mulberry32, rnnForward, softmaxRows } from '../src/devtools/onnx-writer.js';

/** Deterministic float32 observations in [-2, 2). */
function observations(rows: number, width: number, seed = 7): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: rows * width }, () => rand() * 4 - 2);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function expectInputError(p: Promise<unknown>, ...fragments: (string | RegExp)[]): Promise<PolicyGateError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyGateError);
  const pge = err as PolicyGateError;
  expect(pge.exitCode).toBe(2);
  for (const f of fragments) expect(pge.message).toMatch(f);
  return pge;
}

async function withModel<T>(bytes: Uint8Array, label: string, fn: (m: PolicyModel) => Promise<T>): Promise<T> {
  const m = await loadPolicyModel(bytes, { device: 'cpu', label });
  try {
    return await fn(m);
  } finally {
    await m.release();
  }
}

describe('onnx-writer + onnxruntime', () => {
  it('MLP (tanh, softmax output) matches the float64 reference on a batch of 64', async () => {
    const built = buildMlp({ inputDim: 9, hidden: [16, 16], outputs: 3, softmaxOutputName: 'probs', seed: 42 });
    expect(built.inputShape).toEqual(['batch', 9]);
    const x = observations(64, 9);
    await withModel(built.bytes, 'UNIUSD_1Hour.onnx', async (m) => {
      expect(m.executionProvider).toBe('cpu');
      expect(m.inputs).toEqual([{ name: 'obs', shape: ['batch', 9], type: 'float32' }]);
      expect(m.outputs).toEqual([
        { name: 'logits', shape: ['batch', 3], type: 'float32' },
        { name: 'probs', shape: ['batch', 3], type: 'float32' },
      ]);
      expect(m.irVersion).toBe(8);
      expect(m.opsets).toEqual([{ domain: '', version: 17 }]);
      const out = await m.run({ obs: { data: x, dims: [64, 9] } });
      const ref = mlpForward(built.net, x, 64);
      expect(out.logits!.dims).toEqual([64, 3]);
      expect(maxAbsDiff(out.logits!.data, ref.output)).toBeLessThan(1e-5);
      expect(maxAbsDiff(out.probs!.data, ref.probs)).toBeLessThan(1e-5);
      // the reference's softmax rows sum to 1 and the logits are not degenerate
      for (let r = 0; r < 64; r++) expect(ref.probs[r * 3]! + ref.probs[r * 3 + 1]! + ref.probs[r * 3 + 2]!).toBeCloseTo(1, 12);
      expect(new Set(Array.from(out.logits!.data, (v) => v.toFixed(3))).size).toBeGreaterThan(100);
      // asking for one output returns only that one
      const only = await m.run({ obs: { data: x.subarray(0, 9), dims: [1, 9] } }, ['probs']);
      expect(Object.keys(only)).toEqual(['probs']);
      expect(maxAbsDiff(only.probs!.data, ref.probs.subarray(0, 3))).toBeLessThan(1e-6);
    });
  });

  it('ReLU MLP with a deep stack matches the reference', async () => {
    const built = buildMlp({ inputDim: 32, hidden: [64, 64, 32], outputs: 5, activation: 'relu', seed: 3, outputName: 'q' });
    const x = observations(200, 32, 11);
    await withModel(built.bytes, 'relu.onnx', async (m) => {
      const out = await m.run({ obs: { data: x, dims: [200, 32] } });
      expect(maxAbsDiff(out.q!.data, mlpForward(built.net, x, 200).output)).toBeLessThan(1e-5);
    });
  });

  it('the same seed gives the same bytes; another seed other weights', () => {
    const a = buildMlp({ inputDim: 4, hidden: [8], outputs: 3, seed: 5 });
    const b = buildMlp({ inputDim: 4, hidden: [8], outputs: 3, seed: 5 });
    const c = buildMlp({ inputDim: 4, hidden: [8], outputs: 3, seed: 6 });
    expect(sha256Hex(a.bytes)).toBe(sha256Hex(b.bytes));
    expect(sha256Hex(a.bytes)).not.toBe(sha256Hex(c.bytes));
    expect(a.net.layers[0]!.W[0]![0]).not.toBe(c.net.layers[0]!.W[0]![0]);
  });

  it('hand-designed weights: logits = [0, x0 - x1, x1 - x0] exactly', async () => {
    const built = buildMlp({
      inputName: 'observation',
      inputDim: 2,
      hidden: [],
      outputs: 3,
      weights: [
        {
          W: [
            [0, 1, -1],
            [0, -1, 1],
          ],
          b: [0, 0, 0],
        },
      ],
    });
    await withModel(built.bytes, 'hand.onnx', async (m) => {
      expect(m.inputs[0]!.name).toBe('observation');
      const out = await m.run({ observation: { data: Float32Array.from([0.5, 0.25, -1, 2]), dims: [2, 2] } });
      expect(Array.from(out.logits!.data)).toEqual([0, 0.25, -0.25, 0, -3, 3]);
    });
    expect(() => buildMlp({ inputDim: 2, hidden: [], outputs: 3, weights: [{ W: [[1, 2, 3]], b: [0, 0, 0] }] })).toThrow(/2×3/);
  });

  it('rank-3 input [batch, W, F] (Flatten and Reshape) flattens time-major like the reference', async () => {
    for (const op of ['flatten', 'reshape'] as const) {
      const built = buildMlp({ rank3: { window: 4, features: 3, op }, hidden: [8], outputs: 3, seed: 9 });
      expect(built.inputShape).toEqual(['batch', 4, 3]);
      const x = observations(10, 12, 2);
      await withModel(built.bytes, `rank3-${op}.onnx`, async (m) => {
        expect(m.inputs[0]!.shape).toEqual(['batch', 4, 3]);
        const out = await m.run({ obs: { data: x, dims: [10, 4, 3] } });
        expect(out.logits!.dims).toEqual([10, 3]);
        expect(maxAbsDiff(out.logits!.data, mlpForward(built.net, x, 10).output)).toBeLessThan(1e-5);
      });
    }
  });

  it('continuous head: a final Tanh keeps the action in [-1, 1]', async () => {
    // large weights saturate the head: the raw pre-activation is far outside [-1, 1]
    const built = buildMlp({
      inputDim: 3,
      hidden: [4],
      outputs: 1,
      continuous: true,
      weights: [
        {
          W: [
            [1, 0, 0, 2],
            [0, 1, 0, -2],
            [0, 0, 1, 1],
          ],
          b: [0, 0, 0, 0],
        },
        { W: [[5], [-5], [3], [8]], b: [0.1] },
      ],
    });
    expect(built.outputName).toBe('action');
    const x = observations(50, 3, 4);
    await withModel(built.bytes, 'cont.onnx', async (m) => {
      const out = await m.run({ obs: { data: x, dims: [50, 3] } });
      const ref = mlpForward(built.net, x, 50).output;
      expect(maxAbsDiff(out.action!.data, ref)).toBeLessThan(1e-5);
      for (const v of out.action!.data) expect(Math.abs(v)).toBeLessThanOrEqual(1);
      expect(Math.max(...out.action!.data)).toBeGreaterThan(0.99);
      expect(Math.min(...out.action!.data)).toBeLessThan(-0.99);
    });
  });

  it('recurrent cell: feeding h_out back for 6 steps tracks the reference', async () => {
    const built = buildRecurrent({ features: 5, hidden: 8, actions: 3, seed: 21 });
    const batch = 4;
    await withModel(built.bytes, 'rnn.onnx', async (m) => {
      expect(m.inputs.map((i) => [i.name, i.shape])).toEqual([
        ['obs', ['batch', 5]],
        ['h_in', ['batch', 8]],
      ]);
      expect(m.outputs.map((o) => [o.name, o.shape])).toEqual([
        ['logits', ['batch', 3]],
        ['h_out', ['batch', 8]],
      ]);
      let hOrt: Float32Array = new Float32Array(batch * 8);
      let hRef: Float64Array = new Float64Array(batch * 8);
      for (let step = 0; step < 6; step++) {
        const obs = observations(batch, 5, 100 + step);
        const out = await m.run({ obs: { data: obs, dims: [batch, 5] }, h_in: { data: hOrt, dims: [batch, 8] } });
        const ref = rnnForward(built.weights, obs, hRef, batch);
        expect(maxAbsDiff(out.logits!.data, ref.logits)).toBeLessThan(1e-5);
        expect(maxAbsDiff(out.h_out!.data, ref.h)).toBeLessThan(1e-5);
        hOrt = out.h_out!.data;
        hRef = ref.h;
      }
      // the state actually carries information: a zero state gives other logits than the carried one
      const obs = observations(batch, 5, 999);
      const fresh = rnnForward(built.weights, obs, new Float64Array(batch * 8), batch).logits;
      const carried = rnnForward(built.weights, obs, hRef, batch).logits;
      expect(maxAbsDiff(fresh, carried)).toBeGreaterThan(1e-3);
    });
  });

  it('metadata_props round-trip through the reader', async () => {
    const card = JSON.stringify({ schema: 'policy-card/1', symbol: 'BTCUSD' });
    const built = buildMlp({ inputDim: 2, hidden: [2], outputs: 3, metadata: { 'policy-card': card, author: 'tests', __proto__x: 'y' } });
    await withModel(built.bytes, 'meta.onnx', async (m) => {
      expect(m.metadata).toEqual({ 'policy-card': card, author: 'tests', __proto__x: 'y' });
      expect(m.producer).toBe('policy-gate onnx-writer');
    });
    const info = inspectOnnxModel(built.bytes);
    expect(info).toMatchObject({ irVersion: 8, nodes: 3, initializers: 4, externalTensors: [] });
    expect(info.opsets).toEqual([{ domain: '', version: 17 }]);
  });

  it('sha256 and the report view of a model', async () => {
    const built = buildMlp({ inputDim: 3, hidden: [4], outputs: 3 });
    await withModel(built.bytes, 'x.onnx', async (m) => {
      expect(m.sha256).toBe(createHash('sha256').update(built.bytes).digest('hex'));
      expect(modelFileInfo(m, 'models/x.onnx')).toEqual({
        path: 'models/x.onnx',
        sha256: m.sha256,
        inputs: [{ name: 'obs', shape: ['batch', 3] }],
        outputs: [{ name: 'logits', shape: ['batch', 3] }],
      });
    });
    expect(await onnxruntimeVersion()).toBe('1.30.0');
  });
});

describe('models exported by PyTorch (test/fixtures/onnx)', () => {
  const dir = path.resolve(import.meta.dirname, 'fixtures/onnx');

  it("torch.onnx.export output loads and reproduces PyTorch's logits", async () => {
    const expected = JSON.parse(readFileSync(path.join(dir, 'torch_mlp.expected.json'), 'utf8')) as {
      obs: number[][];
      dims: number[];
      logits: number[][];
    };
    const bytes = readFileSync(path.join(dir, 'torch_mlp.onnx'));
    await withModel(bytes, 'torch_mlp.onnx', async (m) => {
      expect(m.producer).toBe('pytorch');
      expect(m.inputs).toEqual([{ name: 'obs', shape: ['batch', 9], type: 'float32' }]);
      expect(m.outputs).toEqual([{ name: 'logits', shape: ['batch', 3], type: 'float32' }]);
      const out = await m.run({ obs: { data: Float32Array.from(expected.obs.flat()), dims: expected.dims } });
      expect(out.logits!.dims).toEqual([3, 3]);
      expect(maxAbsDiff(out.logits!.data, expected.logits.flat())).toBeLessThan(1e-5);
    });
  });

  it('the same model saved with external data is refused, naming its tensors and file', async () => {
    const bytes = readFileSync(path.join(dir, 'torch_mlp_external.onnx'));
    expect(inspectOnnxModel(bytes).externalTensors.map((t) => t.location)).toEqual(Array(6).fill('torch_mlp_weights.bin'));
    await expectInputError(
      loadPolicyModel(bytes, { device: 'auto', label: 'torch_mlp_external.onnx' }),
      /torch_mlp_external\.onnx keeps weights in external data files \(0\.weight → torch_mlp_weights\.bin, .* and 1 more\)/,
    );
  });
});

describe('loadPolicyModel: bad models are input errors naming the file', () => {
  it('garbage bytes', async () => {
    const rand = mulberry32(1);
    const garbage = Uint8Array.from({ length: 512 }, () => Math.floor(rand() * 256));
    await expectInputError(loadPolicyModel(garbage, { device: 'cpu', label: 'BTCUSD_1Hour.onnx' }), /BTCUSD_1Hour\.onnx is not a valid ONNX model/);
  });

  it('an empty file, a zip (PyTorch checkpoint), a JSON file', async () => {
    await expectInputError(loadPolicyModel(new Uint8Array(0), { device: 'cpu', label: 'empty.onnx' }), /empty\.onnx/, /empty/);
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]);
    await expectInputError(loadPolicyModel(zip, { device: 'cpu', label: 'model.onnx' }), /model\.onnx/, /PyTorch checkpoint/);
    const json = new TextEncoder().encode('{"not": "a model"}');
    await expectInputError(loadPolicyModel(json, { device: 'auto', label: 'card.onnx' }), /card\.onnx is not a valid ONNX model/);
  });

  it('a well-formed protobuf that onnxruntime rejects carries the runtime reason', async () => {
    // Gemm of a [batch, 4] input with a [3, 2] weight: inner dimensions do not match
    const bytes = encodeModel({
      graph: {
        name: 'bad',
        nodes: [{ opType: 'Gemm', inputs: ['obs', 'W', 'b'], outputs: ['logits'] }],
        initializers: [
          { name: 'W', dims: [3, 2], dataType: 'float32', data: [1, 2, 3, 4, 5, 6] },
          { name: 'b', dims: [2], dataType: 'float32', data: [0, 0] },
        ],
        inputs: [{ name: 'obs', elemType: 'float32', shape: ['batch', 4] }],
        outputs: [{ name: 'logits', elemType: 'float32', shape: ['batch', 2] }],
      },
    });
    const err = await expectInputError(loadPolicyModel(bytes, { device: 'cpu', label: 'ETHUSD_1Hour.onnx' }), /ETHUSD_1Hour\.onnx: onnxruntime could not load the model/, /Gemm|shape|dimension/i);
    expect(err.subject).toBe('ETHUSD_1Hour.onnx');
    // an unknown operator
    const unknownOp = encodeModel({
      graph: {
        name: 'bad',
        nodes: [{ opType: 'NoSuchOp', inputs: ['obs'], outputs: ['logits'] }],
        initializers: [],
        inputs: [{ name: 'obs', elemType: 'float32', shape: ['batch', 4] }],
        outputs: [{ name: 'logits', elemType: 'float32', shape: ['batch', 4] }],
      },
    });
    await expectInputError(loadPolicyModel(unknownOp, { device: 'auto', label: 'op.onnx' }), /op\.onnx: onnxruntime could not load/, /NoSuchOp/);
  });

  it('refuses models whose initializers live in external data, before onnxruntime reads anything', async () => {
    const built = buildMlp({ inputDim: 4, hidden: [4], outputs: 3, externalData: { location: '../../etc/passwd' } });
    const info = inspectOnnxModel(built.bytes);
    expect(info.externalTensors.map((t) => [t.name, t.location])).toEqual([
      ['W0', '../../etc/passwd'],
      ['b0', '../../etc/passwd'],
      ['W1', '../../etc/passwd'],
      ['b1', '../../etc/passwd'],
    ]);
    await expectInputError(
      loadPolicyModel(built.bytes, { device: 'cpu', label: 'UNIUSD_1Hour.onnx' }),
      /UNIUSD_1Hour\.onnx keeps weights in external data/,
      /W0 → \.\.\/\.\.\/etc\/passwd/,
      /save_as_external_data=False/,
    );
  });

  it('finds external tensors hidden in a Constant node attribute', async () => {
    const bytes = encodeModel({
      graph: {
        name: 'const',
        nodes: [
          {
            opType: 'Constant',
            inputs: [],
            outputs: ['c'],
            name: 'const0',
            attributes: [{ name: 'value', type: 'tensor', value: { name: 'cval', dims: [4], dataType: 'float32', data: [], external: { location: 'c.bin' } } }],
          },
          { opType: 'Add', inputs: ['obs', 'c'], outputs: ['logits'] },
        ],
        initializers: [],
        inputs: [{ name: 'obs', elemType: 'float32', shape: ['batch', 4] }],
        outputs: [{ name: 'logits', elemType: 'float32', shape: ['batch', 4] }],
      },
    });
    expect(inspectOnnxModel(bytes).externalTensors).toEqual([{ name: 'cval', where: 'graph node const0 attribute value', location: 'c.bin' }]);
    await expectInputError(loadPolicyModel(bytes, { device: 'cpu', label: 'c.onnx' }), /c\.onnx keeps weights in external data files \(cval → c\.bin\)/);
  });

  it('a truncated model', async () => {
    const built = buildMlp({ inputDim: 4, hidden: [8], outputs: 3 });
    await expectInputError(
      loadPolicyModel(built.bytes.subarray(0, built.bytes.length - 20), { device: 'cpu', label: 'cut.onnx' }),
      /cut\.onnx is not a valid ONNX model/,
      /claims \d+ bytes but only \d+ remain|truncated/,
    );
  });
});

describe('execution providers', () => {
  const cuda = cudaProviderStatus();
  const bytes = buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes;

  it.skipIf(cuda.available)('device cuda on a machine without the CUDA provider: a clear error naming the model', async () => {
    const err = await expectInputError(
      loadPolicyModel(bytes, { device: 'cuda', label: 'GOOGL_1Hour.onnx' }),
      /CUDA was requested \(device: cuda\) but is unavailable for GOOGL_1Hour\.onnx/,
      /Failed to load shared library|providers_cuda/i,
      /--device auto/,
    );
    expect(err.kind).toBe('usage');
  });

  it.skipIf(cuda.available)('device auto falls back to CPU and says why', async () => {
    expect(cuda.reason).toMatch(/libonnxruntime_providers_cuda\.so is not installed/);
    const m = await loadPolicyModel(bytes, { device: 'auto', label: 'a.onnx' });
    try {
      expect(m.executionProvider).toBe('cpu');
      expect(m.device).toBe('auto');
      expect(m.fallbackReason).toMatch(/^CUDA not available: the CUDA provider library .*libonnxruntime_providers_cuda\.so is not installed/);
      const out = await m.run({ obs: { data: new Float32Array(4), dims: [1, 4] } });
      expect(out.logits!.dims).toEqual([1, 3]);
    } finally {
      await m.release();
    }
  });

  it.skipIf(cuda.available)('device auto: when the CUDA provider looks present but fails to load, falls back with the runtime reason', async () => {
    const m = await loadPolicyModel(bytes, {
      device: 'auto',
      label: 'b.onnx',
      cudaCheck: () => ({ available: true, reason: 'pretend', binDir: '/nowhere' }),
    });
    expect(m.executionProvider).toBe('cpu');
    expect(m.fallbackReason).toMatch(/^CUDA provider failed: .*(Failed to load shared library|cuda)/i);
    await m.release();
  });

  it('device cpu has no fallback reason; a broken model under device cuda is still reported as the model', async () => {
    const m = await loadPolicyModel(bytes, { device: 'cpu', label: 'c.onnx' });
    expect(m.executionProvider).toBe('cpu');
    expect(m.fallbackReason).toBeUndefined();
    await m.release();
    const broken = encodeModel({
      graph: {
        name: 'bad',
        nodes: [{ opType: 'NoSuchOp', inputs: ['obs'], outputs: ['y'] }],
        initializers: [],
        inputs: [{ name: 'obs', elemType: 'float32', shape: [1, 4] }],
        outputs: [{ name: 'y', elemType: 'float32', shape: [1, 4] }],
      },
    });
    await expectInputError(loadPolicyModel(broken, { device: 'cuda', label: 'broken.onnx' }), /broken\.onnx: onnxruntime could not load/);
  });
});

describe('run()', () => {
  const built = buildMlp({ inputDim: 4, hidden: [8], outputs: 3, seed: 2 });

  it('names the model and its inputs on a missing feed, an unknown feed or a wrong shape', async () => {
    const m = await loadPolicyModel(built.bytes, { device: 'cpu', label: 'SPY_1Hour.onnx' });
    try {
      await expectInputError(m.run({ observation: { data: new Float32Array(4), dims: [1, 4] } }), /SPY_1Hour\.onnx: no value for model input 'obs' \(model inputs: obs\)/);
      await expectInputError(m.run({ obs: { data: new Float32Array(4), dims: [1, 4] }, extra: { data: new Float32Array(1), dims: [1] } }), /no input 'extra'/);
      await expectInputError(m.run({ obs: { data: new Float32Array(5), dims: [1, 5] } }), /SPY_1Hour\.onnx: inference failed for inputs obs \[1, 5\]/, /obs \[batch, 4\]/);
      await expectInputError(m.run({ obs: { data: new Float32Array(4), dims: [1, 4] } }, ['nope']), /no output 'nope'/);
    } finally {
      await m.release();
    }
    await expect(m.run({ obs: { data: new Float32Array(4), dims: [1, 4] } })).rejects.toThrow(/released/);
  });

  it('float64 model inputs are fed converted', async () => {
    const bytes = encodeModel({
      graph: {
        name: 'f64',
        nodes: [{ opType: 'Mul', inputs: ['x', 'two'], outputs: ['y'] }],
        initializers: [{ name: 'two', dims: [1], dataType: 'float64', data: [2] }],
        inputs: [{ name: 'x', elemType: 'float64', shape: ['batch', 2] }],
        outputs: [{ name: 'y', elemType: 'float64', shape: ['batch', 2] }],
      },
    });
    await withModel(bytes, 'f64.onnx', async (m) => {
      expect(m.inputs[0]!.type).toBe('float64');
      const out = await m.run({ x: { data: Float32Array.from([1.5, -3]), dims: [1, 2] } });
      expect(out.y!.data).toBeInstanceOf(Float32Array);
      expect(Array.from(out.y!.data)).toEqual([3, -6]);
    });
  });

  it('softmaxRows is a proper softmax', () => {
    const p = softmaxRows([0, Math.log(3), 1000, 1000], 2);
    [0.25, 0.75, 0.5, 0.5].forEach((v, i) => {
      expect(p[i]).toBeCloseTo(v, 15);
    });
  });
});
