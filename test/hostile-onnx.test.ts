/**
 * Hostile case: models that are not what they claim (threats.md O1, O3; docs/threat-model.md).
 *
 * - Garbage bytes, a truncated protobuf, a PyTorch zip named .onnx: that model's error names its
 *   archive entry; the other models are evaluated unchanged. Alone (`backtest --model`), exit 2.
 * - Tensors stored as external data (`../../etc/passwd`, an absolute path, `sub/../../x`, a plain
 *   `w.bin`): refused by policy-gate's own protobuf walk BEFORE onnxruntime sees the bytes — proven by
 *   the host's session counter, which does not move.
 * - External data in a model-local function's default attribute (FunctionProto.attribute_proto): a
 *   Constant in the function body reads it, and onnxruntime would load the named workspace file and
 *   compute with its bytes; refused the same way, before onnxruntime sees the model. Every other place
 *   a tensor can occur (a default holding a tensor list, a sparse tensor or a subgraph) is refused too.
 * - Oversized: an archive entry over the reader's per-file limit (512 MiB) is refused from its
 *   declared size; a model file over 1 GiB is refused from its size before it is read.
 */
import { openSync, closeSync, ftruncateSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ortHostStats, shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { inspectOnnxModel } from '../src/adapters/onnx/inspect.js';
import { loadPolicyModel } from '../src/adapters/onnx/session.js';
import { buildMlp, encodeModel, mulberry32, type TensorSpec } from '../src/devtools/onnx-writer.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFiles, runCli, tempDir } from './helpers/e2e.js';
import { exampleWith, MODELS, snapshot, writeZip } from './helpers/hostile.js';
import { buildZip } from './helpers/zip-writer.js';

const TARGET = `${MODELS}/BTCUSD_4Hour.onnx`;
const OTHERS = ['BTCUSD_1Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day'];
const END = '2024-09-10T00:00:00Z';

interface Report {
  models: { id: string; errors: string[]; walkForward: unknown; [k: string]: unknown }[];
  conclusion: string;
}

async function validateZip(files: Record<string, Uint8Array>): Promise<{ code: number; stderr: string; report: Report; sessions: number }> {
  const ws = tempDir('onnx-');
  writeZip(path.join(ws, 'archive.zip'), files);
  const before = ortHostStats().sessionsCreated;
  const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'out', '--end', END], ws);
  return {
    code: run.code,
    stderr: run.stderr,
    report: JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')),
    sessions: ortHostStats().sessionsCreated - before,
  };
}

let clean: Awaited<ReturnType<typeof validateZip>>;
beforeAll(async () => {
  clean = await validateZip(exampleFiles());
  expect(clean.code).toBe(1);
  // The 4 models evaluated, and the first-layer split's trunk and head for the 2 position-aware MLPs.
  expect(clean.sessions).toBe(8);
  expect(clean.report.models.filter((m) => (m['inference'] as { path?: string } | undefined)?.path === 'split')).toHaveLength(2);
}, 60_000);
afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

/** The target model failed with `error`; the other models are exactly as in the clean run. */
function expectOnlyTargetFailed(r: Awaited<ReturnType<typeof validateZip>>, error: RegExp): void {
  expect(r.code).toBe(1);
  const target = r.report.models.find((m) => m.id === 'BTCUSD_4Hour')!;
  expect(target.errors).toHaveLength(1);
  expect(target.errors[0]).toMatch(error);
  expect(target.walkForward).toBeNull();
  for (const id of OTHERS)
    expect(
      r.report.models.find((m) => m.id === id),
      id,
    ).toEqual(clean.report.models.find((m) => m.id === id));
  expect(r.stderr).toContain(`BTCUSD_4Hour: ${TARGET}`);
}

describe('garbage where a model should be', () => {
  const rand = mulberry32(9);
  /** [what, bytes, the reason after "<entry> is not a valid ONNX model: "] */
  const cases: [string, Uint8Array, string][] = [
    ['random bytes', Uint8Array.from({ length: 954 }, () => Math.floor(rand() * 256)), '(invalid|truncated|field|varint)'],
    ['a truncated model', buildMlp({ inputDim: 4, hidden: [8], outputs: 3 }).bytes.subarray(0, 100), '.*(remain|truncated)'],
    ['a PyTorch checkpoint (a zip) named .onnx', Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4]), 'the file is a zip archive \\(a PyTorch checkpoint'],
    ['an empty file', new Uint8Array(0), 'the file is empty'],
    ['a JSON document', new TextEncoder().encode('{"weights": [1, 2, 3]}'), '.+'],
  ];

  it.each(cases)("%s: that model's error names the entry, the others are evaluated unchanged", async (_label, bytes, reason) => {
    const r = await validateZip(exampleWith((f) => (f[TARGET] = bytes)));
    expectOnlyTargetFailed(r, new RegExp(`^${TARGET.replace(/[/.]/g, '\\$&')} is not a valid ONNX model: ${reason}`));
    expect(r.sessions).toBe(clean.sessions - 1); // onnxruntime never saw it
  });

  it('alone (backtest --model): exit 2 naming the file', async () => {
    const ws = tempDir('onnx-bt-');
    const files = exampleFiles();
    writeFileSync(path.join(ws, 'm.onnx'), Uint8Array.from([1, 2, 3, 4, 5]));
    writeFileSync(path.join(ws, 'm.card.json'), files[`${MODELS}/BTCUSD_4Hour.card.json`]!);
    const run = await runCli(['backtest', '--model', 'm.onnx', '--data', EXAMPLE_DATA, '--out', 'out'], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^policy-gate: error: \S*m\.onnx is not a valid ONNX model: /m);
    expect(JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8')).errors[0]).toMatch(/m\.onnx is not a valid ONNX model/);
  });
});

describe('tensors stored as external data are refused before onnxruntime sees the model', () => {
  it.each([
    ['a parent-directory path', '../../etc/passwd'],
    ['an absolute path', '/etc/hostname'],
    ['a path that climbs out through a subfolder', 'sub/../../x'],
    ['a plain file name beside the model', 'w.bin'],
  ])('%s (%s)', async (_label, location) => {
    const model = buildMlp({ inputDim: 9, hidden: [4], outputs: 3, externalData: { location } }).bytes;
    const r = await validateZip(
      exampleWith((f) => {
        f[TARGET] = model;
        f[`${MODELS}/w.bin`] = new Uint8Array(64); // even when the named file is in the archive
      }),
    );
    const loc = location.replace(/[/.]/g, '\\$&');
    expectOnlyTargetFailed(r, new RegExp(`keeps weights in external data files \\(W0 → ${loc}, b0 → ${loc}, W1 → ${loc}, b1 → ${loc}\\); policy-gate only loads self-contained models`));
    expect(r.sessions).toBe(clean.sessions - 1); // onnxruntime never saw it
  });

  it('alone (backtest --model): exit 2, and no onnxruntime session was created', async () => {
    const ws = tempDir('onnx-ext-');
    writeFileSync(path.join(ws, 'ext.onnx'), buildMlp({ inputDim: 9, hidden: [4], outputs: 3, externalData: { location: '../secret' } }).bytes);
    writeFileSync(path.join(ws, 'ext.card.json'), exampleFiles()[`${MODELS}/BTCUSD_4Hour.card.json`]!);
    writeFileSync(path.join(path.dirname(ws), 'secret'), 'TOP-SECRET');
    const before = ortHostStats().sessionsCreated;
    const run = await runCli(['backtest', '--model', 'ext.onnx', '--data', EXAMPLE_DATA], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ext\.onnx keeps weights in external data files \(W0 → \.\.\/secret/);
    expect(ortHostStats().sessionsCreated).toBe(before);
    expect(run.stdout + run.stderr).not.toContain('TOP-SECRET');
  });
});

/**
 * A policy whose only node calls the model-local function local.policy/Policy(x) = x · weights, where
 * `weights` is the function's attribute with a default value (FunctionProto.attribute_proto) that a
 * Constant in the body reads. obs [batch, 9] → logits [batch, 3], like the example's BTCUSD_4Hour.
 */
function functionDefaultModel(weights: TensorSpec): Uint8Array {
  return encodeModel({
    graph: {
      name: 'policy',
      nodes: [{ opType: 'Policy', domain: 'local.policy', inputs: ['obs'], outputs: ['logits'] }],
      initializers: [],
      inputs: [{ name: 'obs', elemType: 'float32', shape: ['batch', 9] }],
      outputs: [{ name: 'logits', elemType: 'float32', shape: ['batch', 3] }],
    },
    functions: [
      {
        name: 'Policy',
        domain: 'local.policy',
        inputs: ['x'],
        outputs: ['y'],
        attributeDefaults: [{ name: 'weights', type: 'tensor', value: weights }],
        nodes: [
          { opType: 'Constant', inputs: [], outputs: ['w'], attributes: [{ name: 'value', type: 'ref', ref: 'weights', refType: 'tensor' }] },
          { opType: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] },
        ],
      },
    ],
  });
}

const WEIGHTS: TensorSpec = { name: 'weights', dims: [9, 3], dataType: 'float32', data: Array.from({ length: 27 }, (_, i) => i / 8) };

describe("external data in a function's default attributes (FunctionProto.attribute_proto)", () => {
  it('the same model with the weights embedded is one onnxruntime honours: the default reaches the output', async () => {
    // Proves the attack below is real: onnxruntime computes with a function's default tensor.
    const model = await loadPolicyModel(functionDefaultModel(WEIGHTS), { device: 'cpu', label: 'fn.onnx' });
    const obs = new Float32Array(9);
    obs[2] = 1; // selects row 2 of the weights
    const out = await model.run({ obs: { data: obs, dims: [1, 9] } });
    expect(Array.from(out['logits']!.data)).toEqual([6 / 8, 7 / 8, 8 / 8]);
    await model.release();
  });

  it('in an archive: that model is refused naming the file it points to; onnxruntime never sees it; the others are unchanged', async () => {
    const model = functionDefaultModel({ ...WEIGHTS, external: { location: 'workspace-file.bin' } });
    const r = await validateZip(exampleWith((f) => (f[TARGET] = model)));
    expectOnlyTargetFailed(r, /keeps weights in external data files \(weights → workspace-file\.bin\); policy-gate only loads self-contained models/);
    expect(r.sessions).toBe(clean.sessions - 1); // onnxruntime never saw it
  });

  it("alone (backtest --model), with the named file in the workspace: exit 2, no session, the file's bytes never used", async () => {
    const ws = tempDir('onnx-fn-');
    writeFileSync(path.join(ws, 'fn.onnx'), functionDefaultModel({ ...WEIGHTS, external: { location: 'workspace-file.bin' } }));
    writeFileSync(path.join(ws, 'fn.card.json'), exampleFiles()[`${MODELS}/BTCUSD_4Hour.card.json`]!);
    writeFileSync(path.join(ws, 'workspace-file.bin'), Buffer.from(Float32Array.from({ length: 27 }, (_, i) => 100 + i).buffer));
    const before = ortHostStats().sessionsCreated;
    const run = await runCli(['backtest', '--model', 'fn.onnx', '--data', EXAMPLE_DATA, '--out', 'out'], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/fn\.onnx keeps weights in external data files \(weights → workspace-file\.bin\)/);
    expect(ortHostStats().sessionsCreated).toBe(before);
    const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8'));
    expect(report.errors[0]).toMatch(/fn\.onnx keeps weights in external data files/);
  });

  // Every kind of attribute value that holds a tensor, as a function's default: hand-encoded protobuf.
  const pb = {
    varint(n: number): number[] {
      const out: number[] = [];
      while (n > 0x7f) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      out.push(n);
      return out;
    },
    len(field: number, body: number[]): number[] {
      return [...pb.varint(field * 8 + 2), ...pb.varint(body.length), ...body];
    },
    str(field: number, text: string): number[] {
      return pb.len(field, [...new TextEncoder().encode(text)]);
    },
    int(field: number, v: number): number[] {
      return [...pb.varint(field * 8), ...pb.varint(v)];
    },
  };
  /** TensorProto{name, external_data{location}, data_location EXTERNAL}. */
  const externalTensor = (name: string, location: string): number[] => [...pb.str(8, name), ...pb.len(13, [...pb.str(1, 'location'), ...pb.str(2, location)]), ...pb.int(14, 1)];
  /** A model: an empty main graph and one function whose attribute_proto holds `attribute` (an AttributeProto body). */
  const modelWithDefault = (attribute: number[]): Uint8Array =>
    Uint8Array.from([...pb.int(1, 8), ...pb.len(7, pb.str(2, 'main')), ...pb.len(25, [...pb.str(1, 'F'), ...pb.len(11, [...pb.str(1, 'a'), ...attribute]), ...pb.str(10, 'local')])]);

  it.each([
    ['a tensor (t)', pb.len(5, externalTensor('t0', 'a.bin')), [{ name: 't0', where: 'function F default attribute a', location: 'a.bin' }]],
    [
      'a tensor list (tensors)',
      [...pb.len(10, externalTensor('l0', 'b.bin')), ...pb.len(10, externalTensor('l1', 'c.bin'))],
      [
        { name: 'l0', where: 'function F default attribute a', location: 'b.bin' },
        { name: 'l1', where: 'function F default attribute a', location: 'c.bin' },
      ],
    ],
    [
      'a sparse tensor (sparse_tensor, its values and its indices)',
      pb.len(22, [...pb.len(1, externalTensor('v', 'v.bin')), ...pb.len(2, externalTensor('i', 'i.bin'))]),
      [
        { name: 'v', where: 'function F default attribute a', location: 'v.bin' },
        { name: 'i', where: 'function F default attribute a', location: 'i.bin' },
      ],
    ],
    ['a sparse tensor list (sparse_tensors)', pb.len(23, pb.len(1, externalTensor('sv', '/etc/hostname'))), [{ name: 'sv', where: 'function F default attribute a', location: '/etc/hostname' }]],
    [
      'a subgraph (g) with an external initializer',
      pb.len(6, [...pb.str(2, 'body'), ...pb.len(5, externalTensor('gi', '../x.bin'))]),
      [{ name: 'gi', where: 'function F default attribute a subgraph.initializer', location: '../x.bin' }],
    ],
    [
      'a subgraph list (graphs) whose node holds an external Constant',
      pb.len(11, pb.len(1, [...pb.str(4, 'Constant'), ...pb.len(5, [...pb.str(1, 'value'), ...pb.len(5, externalTensor('k', 'k.bin'))])])),
      [{ name: 'k', where: 'function F default attribute a subgraph node Constant attribute value', location: 'k.bin' }],
    ],
  ])('a default holding %s is found', (_label, attribute, expected) => {
    expect(inspectOnnxModel(modelWithDefault(attribute)).externalTensors).toEqual(expected);
  });
});

describe('oversized models', () => {
  it('an archive entry declaring more than the per-file limit (512 MiB) is refused before anything is inflated', async () => {
    const ws = tempDir('onnx-big-');
    const entries = Object.entries(exampleFiles()).map(([name, data]) =>
      name === TARGET ? { name, data: Buffer.from('x'), method: 8, uncompressedSize: 600 * 1024 * 1024 } : { name, data: Buffer.from(data) },
    );
    writeFileSync(path.join(ws, 'archive.zip'), buildZip(entries));
    const before = snapshot(ws);
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`entry "${TARGET}" declares 600 MiB uncompressed, more than the per-file limit of 512 MiB; refusing the archive.`);
    expect(snapshot(ws)).toEqual(before);
  });

  it('a model file over 1 GiB is refused from its size, before it is read', async () => {
    const ws = tempDir('onnx-huge-');
    mkdirSync(path.join(ws, 'm'));
    const file = path.join(ws, 'm', 'BTCUSD_4Hour.onnx');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 1536 * 1024 * 1024); // sparse: 1.5 GiB that take no disk
    closeSync(fd);
    writeFileSync(path.join(ws, 'm', 'BTCUSD_4Hour.card.json'), exampleFiles()[`${MODELS}/BTCUSD_4Hour.card.json`]!);
    const rss0 = process.memoryUsage.rss();
    const run = await runCli(['backtest', '--model', 'm/BTCUSD_4Hour.onnx', '--data', EXAMPLE_DATA], ws);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/BTCUSD_4Hour\.onnx is 1\.5 GiB, more than the 1 GiB policy-gate loads for one model/);
    expect(process.memoryUsage.rss() - rss0).toBeLessThan(256 * 1024 * 1024);
  });
});
