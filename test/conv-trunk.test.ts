/**
 * The trunk as a convolution over time (src/adapters/onnx/conv-trunk.ts): its rows equal the direct
 * product of each decision bar's observation (state columns aside) with the first layer's weights,
 * computed here in float64 one decision bar at a time.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { buildConvTrunk, convBlock, convCost, type ConvLayout } from '../src/adapters/onnx/conv-trunk.js';
import { PbWriter } from '../src/adapters/onnx/protobuf.js';
import { joinParts } from '../src/adapters/onnx/split.js';
import { mulberry32 } from '../src/devtools/onnx-writer.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

/** ModelProto's fields but the graph: ir_version 8, opset 17. */
function header(): Uint8Array {
  const opset = new PbWriter();
  opset.string(1, '');
  opset.int(2, 17);
  const w = new PbWriter();
  w.int(1, 8);
  w.message(8, opset.finish());
  return w.finish();
}

interface Case {
  what: string;
  layout: ConvLayout;
  H: number[];
  transB: number[];
  bars: number;
}

/** The direct product for decision bar τ: Σ_r Σ_f x[τ − W + 1 + r][f] · W[r·F + f][h] over column and window-relative features. */
function direct(
  x: (bar: number, f: number) => number,
  rel: (tau: number, r: number, f: number) => number,
  layout: ConvLayout,
  w: Float32Array,
  D: number,
  H: number,
  transB: number,
  tau: number,
): Float64Array {
  const { window: Wn, features: F } = layout;
  const out = new Float64Array(H);
  for (let r = 0; r < Wn; r++) {
    for (const f of layout.column) {
      const v = x(tau - Wn + 1 + r, f);
      for (let h = 0; h < H; h++) out[h] += v * w[transB ? h * D + r * F + f : (r * F + f) * H + h]!;
    }
    for (const f of layout.windowed) {
      const v = rel(tau, r, f);
      for (let h = 0; h < H; h++) out[h] += v * w[transB ? h * D + r * F + f : (r * F + f) * H + h]!;
    }
  }
  return out;
}

describe('the trunk as a convolution over time', () => {
  const cases: Case[] = [
    // column, window-relative and state features interleaved; two first layers (a policy's and a value function's)
    {
      what: 'W 12, F 6 (3 column, 2 window-relative, 1 state), two first layers, one transposed',
      layout: { window: 12, features: 6, column: Int32Array.of(0, 2, 5), windowed: Int32Array.of(1, 3) },
      H: [16, 8],
      transB: [0, 1],
      bars: 300,
    },
    {
      what: 'W 100, F 9 (7 column, no window-relative), blocks of 256',
      layout: { window: 100, features: 9, column: Int32Array.of(0, 1, 2, 3, 4, 5, 6), windowed: new Int32Array(0) },
      H: [32],
      transB: [1],
      bars: 700,
    },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const { window: Wn, features: F } = c.layout;
      const D = Wn * F;
      const rand = mulberry32(7);
      const weights = c.H.map((H) => Float32Array.from({ length: D * H }, () => (rand() - 0.5) * 0.2));
      const plan = buildConvTrunk(
        weights.map((w, k) => ({ W: new Uint8Array(w.buffer), D, H: c.H[k]!, transB: c.transB[k]! })),
        c.layout,
        header(),
      );
      expect(plan).not.toBeNull();
      if (plan === null) return;
      const B = plan.block;
      const M = plan.perBlock;
      expect(M).toBe(B - Wn + 1);
      expect(B).toBe(convBlock(Wn, c.layout.column.length, Math.max(...c.H)));
      // Column values per bar (clipped like normalised features), window-relative values per (τ, row).
      const values = Float32Array.from({ length: c.bars * F }, () => Math.max(-5, Math.min(5, (rand() - 0.5) * 6)));
      const x = (bar: number, f: number): number => values[bar * F + f]!;
      const rel = (tau: number, r: number, f: number): number => Math.fround(Math.sin(tau * 0.37 + r * 0.11 + f));
      const lo = Wn - 1 + 5; // the first decision bar
      const hi = c.bars - 3; // the last
      const blocks = Math.ceil((hi - lo + 1) / M);
      const Fc = c.layout.column.length;
      const Fw = c.layout.windowed.length;
      const X = new Float32Array(blocks * Fc * B);
      for (let b = 0; b < blocks; b++) {
        const start = lo - Wn + 1 + b * M;
        for (let ch = 0; ch < Fc; ch++) for (let j = 0; j < B; j++) if (start + j <= hi) X[(b * Fc + ch) * B + j] = x(start + j, c.layout.column[ch]!);
      }
      const feeds: Record<string, import('onnxruntime-node').Tensor> = { [plan.columnsInput]: new ort.Tensor('float32', X, [blocks, Fc, B]) };
      if (plan.windowedInput !== null) {
        const R = new Float32Array(blocks * M * Wn * Fw);
        for (let t = lo; t < lo + blocks * M; t++) for (let r = 0; r < Wn; r++) for (let j = 0; j < Fw; j++) R[((t - lo) * Wn + r) * Fw + j] = t <= hi ? rel(t, r, c.layout.windowed[j]!) : 0;
        feeds[plan.windowedInput] = new ort.Tensor('float32', R, [blocks * M, Wn * Fw]);
      } else expect(Fw).toBe(0);
      const session = await ort.InferenceSession.create(joinParts(plan.bytes), { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
      const res = await session.run(feeds);
      await session.release();
      c.H.forEach((H, k) => {
        const got = res[plan.outputs[k]!]!;
        expect(got.dims).toEqual([blocks * M, H]);
        const data = got.data as Float32Array;
        let err = 0;
        let scale = 0;
        for (let t = lo; t <= hi; t++) {
          const want = direct(x, rel, c.layout, weights[k]!, D, H, c.transB[k]!, t);
          for (let h = 0; h < H; h++) {
            err = Math.max(err, Math.abs(data[(t - lo) * H + h]! - want[h]!));
            scale = Math.max(scale, Math.abs(want[h]!));
          }
        }
        expect(scale).toBeGreaterThan(0.5);
        expect(err, `layer ${k}`).toBeLessThan(2e-5 * Math.max(1, scale));
      });
    });
  }

  it('chooses the block that needs the fewest multiply-adds, and is cheaper than the direct product for long windows', () => {
    expect(convBlock(100, 52, 256)).toBe(256);
    const layout: ConvLayout = { window: 100, features: 59, column: Int32Array.from({ length: 52 }, (_, i) => i), windowed: Int32Array.of(52, 53, 54, 55, 56) };
    const { conv, direct: d } = convCost(layout, 256);
    expect(d).toBe(100 * 59 * 256);
    expect(conv).toBeLessThan(d / 5);
    expect(convBlock(1, 3, 8)).toBe(64);
  });
});
