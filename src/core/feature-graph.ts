/**
 * Feature graphs (docs/policy-card.md, "Feature graphs"): how a card's observation.feature_graph is
 * bound to the graph's inputs and outputs, and how its windows are laid out. Pure; the graph itself
 * runs in the onnxruntime process (src/adapters/onnx/host-main.ts) and src/app/feature-graph.ts drives it.
 *
 * The contract, per decision bar τ (one window per run, as live trading computes it):
 *   bars  [1, L, 5]  float32 or float64: open, high, low, close, volume of bars τ−L+1 … τ, oldest first;
 *   times [1, L]     int64, int32, float64 (optional input): each bar's start, in the card's times_unit;
 *   out   [1, F], [1, L, F] (the last row is read) or [1] (F = 1): the feature row of bar τ.
 * Bars before L − 1 have no window: their values are NaN (the features' warm-up).
 */
import type { FeatureGraphSpec, PolicyCard } from './card.js';
import type { TensorInfo } from './drive.js';
import { inputError } from './errors.js';

/** How a feature graph is fed and read. Structured-cloneable (it travels to the onnxruntime process). */
export interface GraphBinding {
  /** L */
  window: number;
  barsInput: string;
  barsType: 'float32' | 'float64';
  timesInput: string | null;
  timesType: 'int64' | 'int32' | 'float64' | null;
  timesUnit: 's' | 'ms' | 'ns';
  output: string;
  /** The output is [batch, L, F]: its last row is the window's feature row. */
  lastRow: boolean;
  /** F when the graph declares it; else known after the first run. */
  width: number | null;
  /** The graph was exported with a fixed batch of 1 (no dynamic batch axis): windows cannot be batched at all. */
  fixedBatch: boolean;
}

const FLOATS = new Set(['float32', 'float64']);
const TIMES = new Set(['int64', 'int32', 'float64']);
const shape = (t: TensorInfo): string => `[${t.shape.join(', ')}]`;
const list = (ts: readonly TensorInfo[]): string => ts.map((t) => `"${t.name}" ${shape(t)} ${t.type}`).join(', ');

/** A dimension that is fixed and differs from `want`. */
const fixedOther = (d: number | string | undefined, want: number): boolean => typeof d === 'number' && d >= 0 && d !== want;

/**
 * Binds the card's feature_graph to the graph's declared inputs and outputs. Throws an input error
 * naming the graph, the card key and what to change.
 */
export function bindFeatureGraph(
  graph: { readonly inputs: readonly TensorInfo[]; readonly outputs: readonly TensorInfo[] },
  spec: FeatureGraphSpec,
  card: Pick<PolicyCard, 'file' | 'observation'>,
  label: string,
): GraphBinding {
  const at = `${card.file} observation.feature_graph`;
  const fail = (what: string, key: string): never => {
    throw inputError(`feature graph ${label}: ${what} (${at}${key ? `.${key}` : ''})`, label);
  };
  const L = spec.window;
  const named = (name: string, key: string, pool: readonly TensorInfo[], what: string): TensorInfo =>
    pool.find((t) => t.name === name) ?? fail(`has no ${what} named "${name}"; its ${what}s are ${list(pool)}`, key);

  // The bars input: named, else the only float input.
  let bars: TensorInfo;
  if (spec.barsInput !== null) bars = named(spec.barsInput, 'bars_input', graph.inputs, 'input');
  else {
    const floats = graph.inputs.filter((t) => FLOATS.has(t.type) && t.shape.length === 3);
    if (floats.length !== 1) {
      fail(
        floats.length === 0
          ? `has no float input of rank 3 to feed the bars [batch, ${L}, 5] to; its inputs are ${list(graph.inputs)}`
          : `has ${floats.length} float inputs of rank 3 (${list(floats)}); name the one that takes the bars in bars_input`,
        'bars_input',
      );
    }
    bars = floats[0]!;
  }
  if (!FLOATS.has(bars.type)) fail(`input "${bars.name}" has element type ${bars.type}; the bars are fed as float32 or float64`, 'bars_input');
  if (bars.shape.length !== 3 || fixedOther(bars.shape[1], L) || fixedOther(bars.shape[2], 5)) {
    fail(
      `input "${bars.name}" is ${shape(bars)}, but the bars are fed as [batch, ${L}, 5] (window ${L} × open, high, low, close, volume)` +
        (bars.shape.length === 3 && typeof bars.shape[1] === 'number' && bars.shape[1] !== L ? `; set window to ${bars.shape[1]} if the graph reads that many bars` : ''),
      bars.shape.length === 3 && fixedOther(bars.shape[1], L) ? 'window' : 'bars_input',
    );
  }

  const batch = bars.shape[0];
  if (typeof batch === 'number' && batch !== 1 && batch >= 0) {
    fail(
      `input "${bars.name}" is ${shape(bars)}: a fixed batch of ${batch}; policy-gate runs one window at a time — export the graph with a dynamic batch axis (dynamic_axes={"${bars.name}": {0: "batch"}, …}) or a batch of 1`,
      'bars_input',
    );
  }

  // The times input: named, else the one other input (if any).
  const rest = graph.inputs.filter((t) => t.name !== bars.name);
  let times: TensorInfo | null = null;
  if (spec.timesInput !== null) times = named(spec.timesInput, 'times_input', graph.inputs, 'input');
  else if (rest.length === 1) times = rest[0]!;
  else if (rest.length > 1) fail(`has ${rest.length} inputs besides the bars (${list(rest)}); a feature graph takes the bars and at most the bar times — name that one in times_input`, 'times_input');
  if (times !== null) {
    const others = graph.inputs.filter((t) => t.name !== bars.name && t.name !== times!.name);
    if (others.length > 0) fail(`has inputs policy-gate cannot feed (${list(others)}); a feature graph takes the bars and the bar times only`, '');
    if (!TIMES.has(times.type)) {
      fail(`input "${times.name}" has element type ${times.type}; bar times are fed as int64 (or int32, float64) in times_unit — float32 cannot hold a timestamp exactly`, 'times_input');
    }
    if (times.shape.length !== 2 || fixedOther(times.shape[1], L)) fail(`input "${times.name}" is ${shape(times)}, but the bar times are fed as [batch, ${L}]`, 'times_input');
    if (times.type === 'int32' && spec.timesUnit !== 's') fail(`input "${times.name}" is int32, which holds bar times only in seconds; set times_unit to "s" or export int64`, 'times_unit');
  }

  // The output.
  let out: TensorInfo;
  if (spec.output !== null) out = named(spec.output, 'output', graph.outputs, 'output');
  else if (graph.outputs.length === 1) out = graph.outputs[0]!;
  else fail(`has ${graph.outputs.length} outputs (${list(graph.outputs)}); name the one with the feature rows in output`, 'output');
  out = out!;
  if (!FLOATS.has(out.type)) fail(`output "${out.name}" has element type ${out.type}; feature rows must be float32 or float64`, 'output');
  let lastRow = false;
  let width: number | null = null;
  const d = out.shape;
  if (d.length === 1) width = 1;
  else if (d.length === 2) width = typeof d[1] === 'number' && d[1] >= 0 ? d[1] : null;
  else if (d.length === 3 && !fixedOther(d[1], L)) {
    lastRow = true;
    width = typeof d[2] === 'number' && d[2] >= 0 ? d[2] : null;
  } else {
    fail(`output "${out.name}" is ${shape(out)}; a feature graph returns [batch, F] (the window's last bar) or [batch, ${L}, F] (a row per bar; the last is read)`, 'output');
  }
  if (width !== null) checkColumns(width, card, label);
  return {
    window: L,
    barsInput: bars.name,
    barsType: bars.type as GraphBinding['barsType'],
    timesInput: times?.name ?? null,
    timesType: (times?.type ?? null) as GraphBinding['timesType'],
    timesUnit: spec.timesUnit,
    output: out.name,
    lastRow,
    width,
    fixedBatch: batch === 1,
  };
}

/** Every `graph` feature of the card must name a column the graph returns. */
export function checkColumns(width: number, card: Pick<PolicyCard, 'file' | 'observation'>, label: string): void {
  card.observation.features.forEach((f, i) => {
    if (f.name === 'graph' && (f.column ?? 0) >= width) {
      throw inputError(
        `feature graph ${label} returns ${width} column${width === 1 ? '' : 's'} per bar, but ${card.file} observation.features[${i}] reads column ${f.column} (columns are 0 to ${width - 1})`,
        label,
      );
    }
  });
}

/** A bar start (epoch ms) in the graph's unit, for an int64 input. */
export function timeInUnit(ms: number, unit: GraphBinding['timesUnit']): bigint {
  if (unit === 'ms') return BigInt(Math.round(ms));
  if (unit === 'ns') return BigInt(Math.round(ms)) * 1_000_000n;
  return BigInt(Math.floor(ms / 1000));
}

/** A bar start (epoch ms) in the graph's unit, for a float64 or int32 input. */
export function timeInUnitNumber(ms: number, unit: GraphBinding['timesUnit']): number {
  if (unit === 'ms') return Math.round(ms);
  if (unit === 'ns') return Math.round(ms) * 1e6;
  return Math.floor(ms / 1000);
}

/** One line per setting, for `policy-gate check`. */
export function describeGraphBinding(b: GraphBinding, label: string, spec: FeatureGraphSpec): string[] {
  return [
    `${label} (observation.feature_graph.file ${spec.file}), window ${b.window} bars, one window per run`,
    `  bars  → input "${b.barsInput}" [1, ${b.window}, 5] ${b.barsType} (open, high, low, close, volume; oldest first)`,
    b.timesInput === null ? '  times → not fed (the graph has no times input)' : `  times → input "${b.timesInput}" [1, ${b.window}] ${b.timesType} (bar starts, ${b.timesUnit} since 1970-01-01 UTC)`,
    `  rows  ← output "${b.output}"${b.lastRow ? ' (its last row)' : ''}: ${b.width === null ? 'F columns (known after the first run)' : `${b.width} column${b.width === 1 ? '' : 's'}`}`,
  ];
}
