/**
 * The trunk of the first-layer split as a convolution over time (docs/performance.md, "The trunk as a
 * convolution").
 *
 * An observation is W consecutive feature rows, and a column feature's normalised value at bar i does
 * not depend on the decision bar. So the column part of the trunk at decision bar τ,
 *
 *   t(τ)[h] = Σ_{r<W} Σ_{f∈column} x_f(τ − W + 1 + r) · A[f, h, r],   A[f, h, r] = weight of row r·F + f,
 *
 * is a cross-correlation over time of the per-bar column values with W taps. Computed per decision bar it
 * costs W·F_c·H multiply-adds; computed for a run of consecutive bars with the discrete Fourier transform
 * it costs far less: blocks of B bars (overlapping by W − 1) are transformed, multiplied bin by bin with
 * the transformed taps, and transformed back, which gives B − W + 1 decision bars per block. The DFTs are
 * matrix products (ONNX MatMul: onnxruntime's fastest kernel), so the model is plain MatMul, Transpose,
 * Reshape, Concat and Neg. The window-relative features (a price over the decision bar's close) do depend
 * on τ, and are multiplied directly: R(τ) · A_window.
 *
 * In the benchmark's cards (W 100, 52 column and 5 window-relative features, H 256) this is about 260 000
 * multiply-adds per decision bar instead of 1.5 million. The transforms round differently from a direct
 * product (float32 sums of B terms); src/core/drive.ts checks the result against the direct trunk and the
 * full model before using it, and recomputes close decisions with the full model.
 */
import { floatValueInfo as valueInfo, lenField, PbWriter, type Parts } from './protobuf.js';

/** The observation layout the convolution needs (from the policy card). */
export interface ConvLayout {
  /** W: feature rows per observation. */
  window: number;
  /** F: features per row. */
  features: number;
  /** The column features (their value at a bar does not depend on the decision bar), ascending. */
  column: Int32Array;
  /** The window-relative features (computed per decision bar), ascending. */
  windowed: Int32Array;
}

/** The convolution trunk model and how to feed it. */
export interface ConvTrunkPlan {
  /** The model's bytes in parts (the first layers' weights are views of the original's), joined where it is loaded. */
  bytes: Uint8Array[];
  /** B: bars per block. */
  block: number;
  /** M = B − W + 1: decision bars per block. */
  perBlock: number;
  /** Input [blocks, F_c, B]: the column features' values over each block's bars, channel-major. */
  columnsInput: string;
  /** Input [blocks · M, W · F_w]: each decision bar's window-relative values, row-major (absent when F_w is 0). */
  windowedInput: string | null;
  /** Output k [blocks · M, H_k]: the bar part of first layer k for each decision bar of the blocks. */
  outputs: string[];
}

/** One first layer: its raw float32 weights and their layout. */
export interface ConvLayer {
  W: Uint8Array;
  D: number;
  H: number;
  transB: number;
}

const FLOAT = 1;
const INT64 = 7;
const NAME = (what: string): string => `policy_gate.conv.${what}`;

/** The block length: the power of two, at least 2W and at least 64, that needs the fewest multiply-adds per decision bar. */
export function convBlock(window: number, columns: number, hidden: number): number {
  let best = 0;
  let bestCost = Infinity;
  for (let B = 64; B <= 4096; B *= 2) {
    if (B < 2 * window) continue;
    const K = B / 2 + 1;
    const M = B - window + 1;
    const cost = (columns * 2 * K * B + K * 2 * columns * 2 * hidden) / M + 2 * K * hidden;
    if (cost < bestCost) {
      bestCost = cost;
      best = B;
    }
  }
  return best;
}

/** Multiply-adds per decision bar of the convolution trunk (column part, transforms included) and of the direct product. */
export function convCost(layout: ConvLayout, hidden: number): { conv: number; direct: number } {
  const Fc = layout.column.length;
  const Fw = layout.windowed.length;
  const W = layout.window;
  const B = convBlock(W, Fc, hidden);
  const K = B / 2 + 1;
  const M = B - W + 1;
  return {
    conv: (Fc * 2 * K * B + K * 2 * Fc * 2 * hidden) / M + 2 * K * hidden + W * Fw * hidden,
    direct: W * layout.features * hidden,
  };
}

/** A float32 TensorProto whose data is `data`'s bytes (raw little-endian float32, as ONNX stores it). */
function tensor(name: string, dims: number[], data: Float32Array | Uint8Array): Parts {
  const w = new PbWriter();
  for (const d of dims) w.int(1, d);
  w.int(2, FLOAT);
  w.string(8, name);
  return [w.finish(), ...lenField(9, [data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)])];
}

function int64Tensor(name: string, dims: number[], values: ArrayLike<number>): Uint8Array {
  const w = new PbWriter();
  for (const d of dims) w.int(1, d);
  w.int(2, INT64);
  w.string(8, name);
  const raw = new DataView(new ArrayBuffer(8 * values.length));
  for (let i = 0; i < values.length; i++) raw.setBigInt64(8 * i, BigInt(values[i]!), true);
  w.bytes(9, new Uint8Array(raw.buffer));
  return w.finish();
}

function shapeTensor(name: string, dims: number[]): Uint8Array {
  return int64Tensor(name, [dims.length], dims);
}

function attr(name: string, value: number | number[]): Uint8Array {
  const w = new PbWriter();
  w.string(1, name);
  if (Array.isArray(value)) {
    for (const v of value) w.int(8, v);
    w.int(20, 7); // INTS
  } else {
    w.int(3, value);
    w.int(20, 2); // INT
  }
  return w.finish();
}

function node(op: string, inputs: string[], output: string, attrs: Uint8Array[] = []): Uint8Array {
  const w = new PbWriter();
  for (const i of inputs) w.string(1, i);
  w.string(2, output);
  w.string(3, output);
  w.string(4, op);
  for (const a of attrs) w.message(5, a);
  return w.finish();
}

/** The transforms of a block of B bars and a window of W, shared by every model with that block and window. */
const TRANSFORMS = new Map<string, { fwdCos: Float32Array; fwdSin: Float32Array; taps: Float32Array; inv: Float32Array }>();

function transforms(B: number, Wn: number): { fwdCos: Float32Array; fwdSin: Float32Array; taps: Float32Array; inv: Float32Array } {
  const key = `${B}:${Wn}`;
  const known = TRANSFORMS.get(key);
  if (known !== undefined) return known;
  const K = B / 2 + 1;
  const M = B - Wn + 1;
  // The transforms, in float64 then rounded once: forward cos and −sin [B, K] (X̂ = Σ x e^{−iθ}); the
  // taps' [2K, W] (rows cos, then −sin: Â's real and imaginary parts); the inverse [M, 2K] with the
  // real-signal weights (1 at k = 0 and B/2, else 2) / B, against the real parts, then the imaginary.
  const angle = (a: number, b: number): number => ((2 * Math.PI) / B) * ((a * b) % B);
  const fwdCos = new Float32Array(B * K);
  const fwdSin = new Float32Array(B * K);
  for (let j = 0; j < B; j++) {
    for (let k = 0; k < K; k++) {
      fwdCos[j * K + k] = Math.cos(angle(j, k));
      fwdSin[j * K + k] = -Math.sin(angle(j, k));
    }
  }
  const taps = new Float32Array(2 * K * Wn);
  for (let k = 0; k < K; k++) {
    for (let r = 0; r < Wn; r++) {
      taps[k * Wn + r] = Math.cos(angle(r, k));
      taps[(K + k) * Wn + r] = -Math.sin(angle(r, k));
    }
  }
  const inv = new Float32Array(M * 2 * K);
  for (let m = 0; m < M; m++) {
    for (let k = 0; k < K; k++) {
      const wk = (k === 0 || 2 * k === B ? 1 : 2) / B;
      inv[m * 2 * K + k] = wk * Math.cos(angle(m, k));
      inv[m * 2 * K + K + k] = -wk * Math.sin(angle(m, k));
    }
  }
  const made = { fwdCos, fwdSin, taps, inv };
  // Read-only from here on (they become initialisers of the models built from them). A few shapes at most.
  if (TRANSFORMS.size >= 4) TRANSFORMS.delete(TRANSFORMS.keys().next().value!);
  TRANSFORMS.set(key, made);
  return made;
}

/**
 * The convolution trunk for `layers` (every first layer of the model), or null when the layout gives it
 * nothing to do (no column features). `header` is the original ModelProto's fields but the graph
 * (ir_version, opset imports), so the model runs under the same opset.
 */
export function buildConvTrunk(layers: readonly ConvLayer[], layout: ConvLayout, header: Uint8Array): ConvTrunkPlan | null {
  const { window: Wn, features: F, column, windowed } = layout;
  const Fc = column.length;
  const Fw = windowed.length;
  if (Fc === 0 || layers.length === 0) return null;
  const Hmax = Math.max(...layers.map((l) => l.H));
  const B = convBlock(Wn, Fc, Hmax);
  if (B === 0) return null;
  const K = B / 2 + 1;
  const M = B - Wn + 1;

  const { fwdCos, fwdSin, taps, inv } = transforms(B, Wn);

  const g: Parts = [];
  const small = (n: number, bytes: Uint8Array): void => void g.push(...lenField(n, [bytes]));
  small(2, new TextEncoder().encode('policy_gate_conv_trunk'));
  const init = (name: string, dims: number[], data: Float32Array | Uint8Array): void => void g.push(...lenField(5, tensor(name, dims, data)));
  const shape = (name: string, dims: number[]): string => {
    small(5, shapeTensor(NAME(name), dims));
    return NAME(name);
  };
  const add = (op: string, inputs: string[], output: string, attrs: Uint8Array[] = []): string => {
    small(1, node(op, inputs, output, attrs));
    return output;
  };
  small(5, int64Tensor(NAME('column_index'), [Fc], column));
  if (Fw > 0) small(5, int64Tensor(NAME('windowed_index'), [Fw], windowed));
  small(5, int64Tensor(NAME('zero'), [], [0]));
  small(5, int64Tensor(NAME('one'), [], [1]));
  init(NAME('dft_cos'), [B, K], fwdCos);
  init(NAME('dft_sin'), [B, K], fwdSin);
  init(NAME('dft_taps'), [2 * K, Wn], taps);
  init(NAME('idft'), [M, 2 * K], inv);

  // The blocks' transform, per frequency: Xr, Xi [1, K, blocks, F_c]; stacked as [Xr, Xi] and [Xi, −Xr]
  // along the first axis, and the two side by side along the blocks: [2, K, 2·blocks, F_c].
  const X = NAME('columns');
  const perFrequency = (what: string, dft: string): string => {
    const f = add('MatMul', [X, NAME(dft)], NAME(`${what}_f`)); // [blocks, F_c, K]
    const t = add('Transpose', [f], NAME(`${what}_t`), [attr('perm', [2, 0, 1])]); // [K, blocks, F_c]
    return add('Reshape', [t, shape(`s_${what}`, [1, K, -1, Fc])], NAME(what));
  };
  const xr = perFrequency('x_re', 'dft_cos');
  const xi = perFrequency('x_im', 'dft_sin');
  const forRe = add('Concat', [xr, xi], NAME('x_for_re'), [attr('axis', 0)]);
  const forIm = add('Concat', [xi, add('Neg', [xr], NAME('x_re_neg'))], NAME('x_for_im'), [attr('axis', 0)]);
  const xall = add('Concat', [forRe, forIm], NAME('x_all'), [attr('axis', 2)]);

  const R = Fw > 0 ? NAME('windowed') : null;
  const outputs: string[] = [];
  layers.forEach((l, n) => {
    const { H, transB } = l;
    const p = (what: string): string => NAME(`${what}.${n}`);
    // The weights as they are ([D, H], or [H, D] under transB), then in the graph: rows r·F + f as
    // [W, F, H] (or [H, W, F]), the column features gathered: A [W, F_c·H], taps first.
    init(p('weights'), transB ? [H, Wn * F] : [Wn * F, H], l.W);
    const w3 = add('Reshape', [p('weights'), shape(`s_w3.${n}`, transB ? [H, Wn, F] : [Wn, F, H])], p('w3'));
    const wc = add('Gather', [w3, NAME('column_index')], p('w_column'), [attr('axis', transB ? 2 : 1)]);
    const wcOrdered = transB ? add('Transpose', [wc], p('w_column_t'), [attr('perm', [1, 2, 0])]) : wc;
    const A = add('Reshape', [wcOrdered, shape(`s_a.${n}`, [Wn, Fc * H])], p('taps'));
    // The taps' transform [2, K, F_c, H]: Ar, then Ai.
    const T = add('Reshape', [add('MatMul', [NAME('dft_taps'), A], p('taps_f')), shape(`s_tk.${n}`, [2, K, Fc, H])], p('taps_k'));
    // Bin by bin: [2, K, 2·blocks, H]; summed over the first axis: Pr (first blocks) and Pi (then) [K, 2·blocks, H].
    const prod = add('MatMul', [xall, T], p('prod'));
    const P = add('Add', [add('Gather', [prod, NAME('zero')], p('prod_0'), [attr('axis', 0)]), add('Gather', [prod, NAME('one')], p('prod_1'), [attr('axis', 0)])], p('p'));
    // [K, 2, blocks, H] → [blocks, 2, K, H] → [blocks, 2K, H]; the inverse [M, 2K] · → [blocks, M, H].
    const p4 = add('Reshape', [P, shape(`s_p4.${n}`, [K, 2, -1, H])], p('p4'));
    const pt = add('Transpose', [p4], p('p_t'), [attr('perm', [2, 1, 0, 3])]);
    const pk = add('Reshape', [pt, shape(`s_pk.${n}`, [-1, 2 * K, H])], p('p_k'));
    const back = add('MatMul', [NAME('idft'), pk], p('corr'));
    const rows = add('Reshape', [back, shape(`s_rows.${n}`, [-1, H])], R === null ? p('out') : p('corr_rows'));
    if (R !== null) {
      // The window-relative features' rows, [W · F_w, H].
      const ww = add('Gather', [w3, NAME('windowed_index')], p('w_windowed3'), [attr('axis', transB ? 2 : 1)]);
      const wt = transB ? add('Transpose', [ww], p('w_windowed_t'), [attr('perm', [1, 2, 0])]) : ww;
      const aw = add('Reshape', [wt, shape(`s_ww.${n}`, [Wn * Fw, H])], p('w_windowed'));
      add('Add', [rows, add('MatMul', [R, aw], p('windowed_product'))], p('out'));
    }
    outputs.push(p('out'));
    small(12, valueInfo(p('out'), ['rows', H]));
  });
  small(11, valueInfo(X, ['blocks', Fc, B]));
  if (R !== null) small(11, valueInfo(R, ['rows', Wn * Fw]));

  return { bytes: [header, ...lenField(7, g)], block: B, perBlock: M, columnsInput: X, windowedInput: R, outputs };
}
