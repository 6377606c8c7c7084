/**
 * The policy card (SPEC section 3): how to turn bars into an observation, and an output into an
 * order. `parseCard` validates a whole card into a typed, frozen structure with camelCase names;
 * every problem is reported at once, one line per problem, each naming the file and the JSON key
 * path and saying what is expected.
 */
import { parseUtc } from './time.js';
import { inputError } from './errors.js';
import { isTimeframe, type AssetClass, type Timeframe } from './types.js';
import { FEATURE_NAMES, featureParams, featureSpan, type ParamValue, isFeatureName, type FeatureSpec } from './features.js';
import { ACTION_MEANINGS, parseActionMeaning, type ActionMeaning } from './meanings.js';

export const CARD_SCHEMA = 'policy-card/1';

/**
 * (x − mean) / std. Both arrays hold F values (one per feature) or W·F (one per observation element,
 * time-major: index row·F + feature), the same length.
 */
export interface NormalizeSpec {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface ObservationSpec {
  /** W: the number of feature rows (bars) in one observation. */
  readonly window: number;
  readonly features: readonly FeatureSpec[];
  /** Per-feature (x − mean) / std; null when the card gives none. */
  readonly normalize: NormalizeSpec | null;
  /** Clip to [−clip, clip] after normalising; null when the card gives none. */
  readonly clip: number | null;
  /** W · F: the flattened observation length. */
  readonly size: number;
  /** The team's own feature function exported to ONNX, read by features `graph`; null when none. */
  readonly featureGraph: FeatureGraphSpec | null;
}

/**
 * observation.feature_graph: an ONNX graph that maps a window of raw bars (and their start times) to
 * one feature row for the window's last bar (docs/policy-card.md, "Feature graphs").
 */
export interface FeatureGraphSpec {
  /** The graph's file, relative to the card's folder (no "..", no absolute path). */
  readonly file: string;
  /** L: the bars per window, the decision bar included (the graph features' warm-up span). */
  readonly window: number;
  /** The input fed the bars [batch, L, 5] (open, high, low, close, volume); null = the graph's only float input. */
  readonly barsInput: string | null;
  /** The input fed the bar start times [batch, L]; null = the graph's other input, if any. */
  readonly timesInput: string | null;
  /** The unit of the times fed: seconds (default), milliseconds or nanoseconds since 1970-01-01 UTC. */
  readonly timesUnit: 's' | 'ms' | 'ns';
  /** The output holding the feature rows; null = the graph's only output. */
  readonly output: string | null;
}

/**
 * What the discrete action output holds: scores per action (`logits`), probabilities (`probs`),
 * log-probabilities (`log_probs`), or the chosen action's index (`action_index`, one integer per
 * decision: stable-baselines3's documented export).
 */
export type OutputKind = 'logits' | 'probs' | 'log_probs' | 'action_index';
export const OUTPUT_KINDS: readonly OutputKind[] = ['logits', 'probs', 'log_probs', 'action_index'];

export interface DiscreteActionSpec {
  readonly type: 'discrete';
  readonly meanings: readonly ActionMeaning[];
  readonly outputKind: OutputKind;
  /** False when output_kind was absent (logits by default; an integer output is then read as an action index). */
  readonly outputKindGiven: boolean;
  /** A top probability below this turns the action into HOLD; 0 = off. */
  readonly minConfidence: number;
  /** The ONNX output name; null = the model's only (non-state) output. */
  readonly output: string | null;
  /** An output holding the log-probability of the chosen action (confidence = its exp); null = none. */
  readonly logProbOutput: string | null;
}

export interface ContinuousActionSpec {
  readonly type: 'continuous';
  /** The ONNX output name; null = the model's first output. */
  readonly output: string | null;
}

export type ActionSpec = DiscreteActionSpec | ContinuousActionSpec;

export interface ExecutionSpec {
  readonly longOnly: boolean;
  /** True when long_only was absent and defaulted from the asset class. */
  readonly longOnlyDefaulted: boolean;
  /** Largest absolute target exposure, in (0, 1]. */
  readonly maxExposure: number;
  /** Continuous policies: an order is sent only when |target − exposure| exceeds this. */
  readonly rebalanceBand: number;
}

/** A recurrent state pair: the output fed back into the input at the next step (zeros at the start). */
export interface StatePair {
  readonly input: string;
  readonly output: string;
  /** The axis of the batch in the state tensor; null = the model's one dynamic axis (docs/policy-card.md). */
  readonly batchAxis: number | null;
}

/**
 * A model input that is neither the observation nor a recurrent state, fed with what the card says:
 * `episode_start` (1 at a window's first decision, 0 after) or a constant.
 */
export interface ExtraInput {
  readonly name: string;
  readonly value: 'episode_start' | number;
  /** The axis of the batch; null = the model's one dynamic axis, else 0. */
  readonly batchAxis: number | null;
}

/**
 * A parity vector. `output` present: the ONNX model fed `obs` must give `output` (inference parity).
 * `at` present: the observation built at the bar starting at `at`, flat, must equal `obs`
 * (observation parity). An entry may carry both.
 */
export interface GoldenEntry {
  /** Position in the card's `golden` array. */
  readonly index: number;
  readonly obs: readonly number[];
  readonly output: readonly number[] | null;
  /** Epoch ms (UTC) of the decision bar's start, or null. */
  readonly at: number | null;
  /** `at` as ISO 8601 UTC, or null. */
  readonly atIso: string | null;
  /**
   * The position state the observation at `at` was built with (`position`, `unrealized_return`;
   * flat when absent).
   */
  readonly state: { readonly position: number; readonly unrealizedReturn: number };
  /**
   * The decision the training code decoded at `at`, or null: for a discrete card the index into
   * action.meanings (given as a meaning or an index; the argmax, before min_confidence); for a
   * continuous card the first output value clipped to [−1, 1].
   */
  readonly action: number | null;
}

export interface PolicyCard {
  /** The file (or summary entry) the card came from; errors name it. */
  readonly file: string;
  readonly schema: typeof CARD_SCHEMA;
  readonly symbol: string;
  readonly timeframe: Timeframe;
  /** `<SYMBOL>_<TIMEFRAME>` with any `/` removed from the symbol: the model id. */
  readonly id: string;
  readonly assetClass: AssetClass;
  /** True when asset_class was absent and guessed from the symbol (the report says so). */
  readonly assetClassGuessed: boolean;
  /** The ONNX input name; null = the model's only input. */
  readonly input: string | null;
  readonly observation: ObservationSpec;
  readonly action: ActionSpec;
  readonly execution: ExecutionSpec;
  readonly state: readonly StatePair[];
  /** Extra model inputs the card feeds (episode-start flags, constants). */
  readonly extraInputs: readonly ExtraInput[];
  readonly golden: readonly GoldenEntry[];
  /** Things accepted but worth telling the user (e.g. a defaulted timeframe). */
  readonly warnings: readonly string[];
}

export interface CardDefaults {
  /** From the model's file name `<SYMBOL>_<TIMEFRAME>.onnx` or its summary key. */
  readonly symbol?: string;
  readonly timeframe?: string;
}

export const TOP_KEYS = ['schema', 'symbol', 'timeframe', 'asset_class', 'input', 'observation', 'action', 'execution', 'state', 'extra_inputs', 'golden'] as const;
/** Free-form metadata a card may carry; ignored. Keys starting with `x_` or `x-` are ignored too. */
export const METADATA_KEYS = ['$schema', 'description', 'notes', 'metadata', 'version', 'model_version', 'created_at'];
export const OBSERVATION_KEYS = ['window', 'features', 'normalize', 'clip', 'feature_graph'];
export const FEATURE_GRAPH_KEYS = ['file', 'window', 'bars_input', 'times_input', 'times_unit', 'output'];
export const NORMALIZE_KEYS = ['mean', 'std', 'var', 'epsilon'];
/** VecNormalize's default epsilon (std = sqrt(var + epsilon)). */
const DEFAULT_VAR_EPSILON = 1e-8;
export const DISCRETE_KEYS = ['type', 'output', 'output_kind', 'log_prob_output', 'meanings', 'min_confidence'];
export const CONTINUOUS_KEYS = ['type', 'output', 'output_kind'];
export const EXECUTION_KEYS = ['long_only', 'max_exposure', 'rebalance_band'];
const STATE_KEYS = ['input', 'output'];
export const STATE_ALL_KEYS = ['input', 'output', 'batch_axis'];
export const EXTRA_INPUT_KEYS = ['name', 'value', 'batch_axis'];
export const MAX_AXIS = 8;
export const GOLDEN_KEYS = ['obs', 'output', 'at', 'position', 'unrealized_return', 'action'];

const DEFAULT_REBALANCE_BAND = 0.05;
export const MAX_WINDOW = 100_000;

/** Guess the asset class from a symbol (SPEC 3): `/` or a USD/USDT/USDC quote on a > 4-char symbol → crypto. */
export function guessAssetClass(symbol: string): AssetClass {
  const s = symbol.toUpperCase();
  if (s.includes('/')) return 'crypto';
  if (s.length > 4 && (s.endsWith('USD') || s.endsWith('USDT') || s.endsWith('USDC'))) return 'crypto';
  return 'us_equity';
}

/**
 * Validates a parsed card JSON. `file` names the card in every error; `defaults` supply symbol and
 * timeframe when the card has none (a card that disagrees with them is an error).
 * Throws one input error (exit 2) listing every problem, one `file: key.path …` line each.
 */
export function parseCard(json: unknown, file: string, defaults: CardDefaults = {}): PolicyCard {
  const p = new Problems();
  const warnings: string[] = [];

  if (!isObject(json)) {
    throw inputError(`${file}: the policy card must be a JSON object, got ${show(json)}`, file);
  }
  checkKeys(p, json, '', TOP_KEYS, true);

  // ---------------------------------------------------------------- schema, symbol, timeframe
  if (json.schema !== undefined && json.schema !== CARD_SCHEMA) {
    p.add('schema', `must be "${CARD_SCHEMA}" (the only card schema this tool reads), got ${show(json.schema)}`);
  }

  let symbol = '';
  if (json.symbol !== undefined) {
    if (typeof json.symbol !== 'string' || json.symbol.trim() === '') {
      p.add('symbol', `must be a non-empty string such as "UNIUSD" or "AAPL", got ${show(json.symbol)}`);
    } else {
      symbol = json.symbol.trim();
      if (defaults.symbol !== undefined && symbolKey(symbol) !== symbolKey(defaults.symbol)) {
        p.add('symbol', `is ${show(symbol)} but the model is named for ${show(defaults.symbol)}; ` + `fix the card or rename the model to <SYMBOL>_<TIMEFRAME>.onnx`);
      }
    }
  } else if (defaults.symbol !== undefined && defaults.symbol.trim() !== '') {
    symbol = defaults.symbol.trim();
  } else {
    p.add('symbol', 'is missing and the model name does not give one; add "symbol" to the card');
  }

  let timeframe: Timeframe = '1Hour';
  if (json.timeframe !== undefined) {
    if (!isTimeframe(json.timeframe)) {
      p.add('timeframe', `must be one of 1Min, 5Min, 15Min, 30Min, 1Hour, 2Hour, 4Hour, 1Day, got ${show(json.timeframe)}`);
    } else {
      timeframe = json.timeframe;
      if (defaults.timeframe !== undefined && defaults.timeframe !== json.timeframe) {
        p.add('timeframe', `is ${show(json.timeframe)} but the model is named for ${show(defaults.timeframe)}; ` + `fix the card or rename the model`);
      }
    }
  } else if (defaults.timeframe !== undefined) {
    if (isTimeframe(defaults.timeframe)) timeframe = defaults.timeframe;
    else p.add('timeframe', `is missing and the model name's timeframe ${show(defaults.timeframe)} is not one of 1Min … 1Day; add "timeframe" to the card`);
  } else {
    warnings.push(`${file}: timeframe is missing; assuming 1Hour`);
  }

  // ---------------------------------------------------------------- asset class
  let assetClass: AssetClass = guessAssetClass(symbol);
  let assetClassGuessed = true;
  if (json.asset_class !== undefined) {
    if (json.asset_class === 'crypto' || json.asset_class === 'us_equity') {
      assetClass = json.asset_class;
      assetClassGuessed = false;
    } else {
      p.add('asset_class', `must be "crypto" or "us_equity", got ${show(json.asset_class)}`);
    }
  }

  const input = optionalName(p, json.input, 'input');

  // ---------------------------------------------------------------- observation
  const observation = parseObservation(p, json.observation);

  // ---------------------------------------------------------------- action
  const action = parseAction(p, json.action);

  // ---------------------------------------------------------------- execution
  const execution = parseExecution(p, json.execution, assetClass);

  // ---------------------------------------------------------------- state
  const state = parseState(p, json.state);
  const extraInputs = parseExtraInputs(p, json.extra_inputs, state, input);

  // ---------------------------------------------------------------- golden
  const golden = parseGolden(p, json.golden, observation, action);

  if (p.list.length > 0) {
    throw inputError(p.list.map((line) => `${file}: ${line}`).join('\n'), file);
  }

  const card: PolicyCard = {
    file,
    schema: CARD_SCHEMA,
    symbol,
    timeframe,
    id: `${symbol.replaceAll('/', '')}_${timeframe}`,
    assetClass,
    assetClassGuessed,
    input,
    observation: observation!,
    action: action!,
    execution: execution!,
    state,
    extraInputs,
    golden,
    warnings,
  };
  return deepFreeze(card);
}

/**
 * Bars needed before the decision bar for a complete observation: the longest feature span minus the
 * decision bar itself, plus the W − 1 older rows of the window. With bar indices from 0, this is also
 * the first decision index that has a complete observation.
 */
export function warmupBars(card: Pick<PolicyCard, 'observation'>): number {
  const { features, window } = card.observation;
  let span = 1;
  for (const f of features) span = Math.max(span, featureSpan(f));
  return span - 1 + (window - 1);
}

// ================================================================ sections

function parseObservation(p: Problems, raw: unknown): ObservationSpec | undefined {
  if (raw === undefined) {
    p.add('observation', 'is missing; give { "window": W, "features": [...] }');
    return undefined;
  }
  if (!isObject(raw)) {
    p.add('observation', `must be an object, got ${show(raw)}`);
    return undefined;
  }
  checkKeys(p, raw, 'observation', OBSERVATION_KEYS);

  let window = 1;
  let windowOk = true;
  if (raw.window !== undefined) {
    if (isInt(raw.window) && raw.window >= 1 && raw.window <= MAX_WINDOW) window = raw.window;
    else {
      windowOk = false;
      p.add('observation.window', `must be an integer from 1 to ${MAX_WINDOW}, got ${show(raw.window)}`);
    }
  }

  const features: FeatureSpec[] = [];
  let featuresOk = false;
  if (raw.features === undefined) {
    p.add('observation.features', "is missing; list the features in the model's input order");
  } else if (!Array.isArray(raw.features) || raw.features.length === 0) {
    p.add('observation.features', `must be a non-empty array of features, got ${show(raw.features)}`);
  } else {
    featuresOk = true;
    raw.features.forEach((entry, i) => {
      const spec = parseFeature(p, entry, `observation.features[${i}]`);
      if (spec === undefined) featuresOk = false;
      else features.push(spec);
    });
  }
  // Lengths are checked against the feature list only when there is one (no cascade of errors).
  const count = Array.isArray(raw.features) && raw.features.length > 0 ? raw.features.length : undefined;

  const normalize = parseNormalize(p, raw.normalize, count, windowOk ? window : undefined);

  let clip: number | null = null;
  if (raw.clip !== undefined && raw.clip !== null) {
    if (typeof raw.clip === 'number' && Number.isFinite(raw.clip) && raw.clip > 0) clip = raw.clip;
    else p.add('observation.clip', `must be a positive number, got ${show(raw.clip)}`);
  }

  const graph = parseFeatureGraph(p, raw.feature_graph);
  const readers = features.map((f, i) => (f.name === 'graph' ? i : -1)).filter((i) => i >= 0);
  if (graph === null && raw.feature_graph === undefined && readers.length > 0) {
    p.add(`observation.features[${readers[0]}]`, 'reads the feature graph, but observation.feature_graph is missing; give { "file": "<graph>.onnx", "window": L }');
    featuresOk = false;
  }
  if (graph !== null && featuresOk && readers.length === 0) {
    p.add('observation.feature_graph', 'is given but no feature reads it; add { "name": "graph", "column": k } to observation.features for each column the model takes');
  }
  if (!featuresOk || !windowOk || (raw.feature_graph !== undefined && graph === null)) return undefined;
  // Each graph feature's span is the graph's window (its warm-up).
  const specs = graph === null ? features : features.map((f) => (f.name === 'graph' ? { ...f, window: graph.window } : f));
  return { window, features: specs, normalize, clip, size: window * features.length, featureGraph: graph };
}

function parseFeatureGraph(p: Problems, raw: unknown): FeatureGraphSpec | null {
  if (raw === undefined || raw === null) return null;
  const at = 'observation.feature_graph';
  if (!isObject(raw)) {
    p.add(at, `must be an object { "file": "<graph>.onnx", "window": L }, got ${show(raw)}`);
    return null;
  }
  checkKeys(p, raw, at, FEATURE_GRAPH_KEYS);
  let ok = true;
  let file = '';
  if (typeof raw.file !== 'string' || raw.file.trim() === '') {
    p.add(`${at}.file`, `must be the graph's file name, relative to the card's folder, such as "features.onnx", got ${show(raw.file)}`);
    ok = false;
  } else {
    file = raw.file;
    const parts = file.split('/');
    if (file.startsWith('/') || /^[A-Za-z]:/.test(file) || file.includes('\\') || parts.some((x) => x === '..' || x === '.' || x === '') || file.includes('\0')) {
      p.add(`${at}.file`, `must be a plain relative path inside the card's folder (no "..", ".", empty or absolute parts, no backslash), got ${show(file)}`);
      ok = false;
    } else if (!/\.onnx$/i.test(file)) {
      p.add(`${at}.file`, `must name an .onnx file (the exported feature function), got ${show(file)}`);
      ok = false;
    }
  }
  let window = 0;
  if (!(isInt(raw.window) && raw.window >= 1 && raw.window <= MAX_WINDOW)) {
    p.add(`${at}.window`, `must be the number of bars the graph reads per value (the decision bar included), an integer from 1 to ${MAX_WINDOW}, got ${show(raw.window)}`);
    ok = false;
  } else window = raw.window;
  let timesUnit: FeatureGraphSpec['timesUnit'] = 's';
  if (raw.times_unit !== undefined) {
    if (raw.times_unit === 's' || raw.times_unit === 'ms' || raw.times_unit === 'ns') timesUnit = raw.times_unit;
    else {
      p.add(`${at}.times_unit`, `must be "s" (seconds, default), "ms" or "ns" since 1970-01-01 UTC, got ${show(raw.times_unit)}`);
      ok = false;
    }
  }
  const barsInput = optionalName(p, raw.bars_input, `${at}.bars_input`);
  const timesInput = optionalName(p, raw.times_input, `${at}.times_input`);
  const output = optionalName(p, raw.output, `${at}.output`);
  if (barsInput !== null && barsInput === timesInput) {
    p.add(`${at}.times_input`, `names the same input as bars_input (${show(barsInput)}); they are two inputs`);
    ok = false;
  }
  return ok ? { file, window, barsInput, timesInput, timesUnit, output } : null;
}

/**
 * `normalize`: per feature (F values) or per observation element (W·F values, time-major like the
 * observation: VecNormalize over a frame stack). `std`, or `var` with `epsilon` (std = sqrt(var + eps),
 * VecNormalize's obs_rms; epsilon defaults to VecNormalize's 1e-8). When one array is per element and
 * the other per feature, the per-feature one is repeated for every row.
 */
function parseNormalize(p: Problems, raw: unknown, count: number | undefined, window: number | undefined): NormalizeSpec | null {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) {
    p.add('observation.normalize', `must be an object { "mean": [...], "std": [...] }, got ${show(raw)}`);
    return null;
  }
  checkKeys(p, raw, 'observation.normalize', NORMALIZE_KEYS);
  if (raw.mean === undefined && raw.std === undefined && raw.var === undefined) {
    p.add('observation.normalize', 'needs "mean" and/or "std" (or "var") arrays (one value per feature, or one per observation element)');
    return null;
  }
  if (raw.std !== undefined && raw.var !== undefined) {
    p.add('observation.normalize.var', 'cannot be given together with "std"; give std, or var with epsilon (std = sqrt(var + epsilon))');
    return null;
  }
  if (raw.epsilon !== undefined && raw.var === undefined) {
    p.add('observation.normalize.epsilon', 'applies only to "var" (std = sqrt(var + epsilon)); remove it or give var instead of std');
    return null;
  }
  let epsilon = DEFAULT_VAR_EPSILON;
  if (raw.epsilon !== undefined) {
    if (typeof raw.epsilon === 'number' && Number.isFinite(raw.epsilon) && raw.epsilon >= 0) epsilon = raw.epsilon;
    else {
      p.add('observation.normalize.epsilon', `must be a number ≥ 0, got ${show(raw.epsilon)}`);
      return null;
    }
  }
  const sizes = count === undefined ? undefined : window === undefined || window === 1 ? [count] : [count, count * window];
  const read = (key: 'mean' | 'std' | 'var', ok: (x: number) => boolean, what: string): number[] | undefined => {
    const path = `observation.normalize.${key}`;
    const value = raw[key];
    if (value === undefined) return [];
    const arr = numberArray(p, value, path, undefined, ok, what);
    if (arr === undefined || sizes === undefined) return arr;
    if (!sizes.includes(arr.length)) {
      p.add(
        path,
        sizes.length === 1
          ? `has ${arr.length} values but observation.features gives ${sizes[0]}; give exactly ${sizes[0]}`
          : `has ${arr.length} values; give ${sizes[0]} (one per feature) or ${sizes[1]} (one per observation element: window ${window} × ${count} features, time-major)`,
      );
      return undefined;
    }
    return arr;
  };
  const mean = read('mean', (x) => Number.isFinite(x), 'a finite number');
  const std = read('std', (x) => Number.isFinite(x) && x > 0, 'a positive finite number');
  const variance = read('var', (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0');
  if (mean === undefined || std === undefined || variance === undefined || count === undefined) return null;
  let sd = raw.var !== undefined ? variance.map((v) => Math.sqrt(v + epsilon)) : std;
  if (raw.var !== undefined) {
    const bad = sd.findIndex((x) => !(x > 0));
    if (bad >= 0) {
      p.add(`observation.normalize.var[${bad}]`, 'is 0 with epsilon 0, a zero std; give a positive epsilon or var');
      return null;
    }
  }
  let m = raw.mean === undefined ? [] : mean;
  const size = Math.max(m.length, sd.length, count);
  const expand = (xs: number[], fill: number): number[] => (xs.length === 0 ? new Array<number>(size).fill(fill) : xs.length === size ? xs : Array.from({ length: size }, (_, i) => xs[i % count]!));
  m = expand(m, 0);
  sd = expand(sd, 1);
  return { mean: m, std: sd };
}

function parseFeature(p: Problems, raw: unknown, path: string): FeatureSpec | undefined {
  if (typeof raw === 'string') raw = { name: raw }; // shorthand: "hour_sin"
  if (!isObject(raw)) {
    p.add(path, `must be a feature object such as { "name": "log_return", "lag": 1 }, got ${show(raw)}`);
    return undefined;
  }
  const name = raw.name;
  if (!isFeatureName(name)) {
    p.add(`${path}.name`, `${show(name)} is not a known feature; use one of ${FEATURE_NAMES.join(', ')} ` + `(a feature the tool cannot compute cannot be backtested)`);
    return undefined;
  }
  const defs = featureParams(name);
  let ok = true;
  for (const key of Object.keys(raw)) {
    if (key === 'name' || defs.some((d) => d.key === key)) continue;
    const own = defs.filter((d) => d.key !== 'symbol').map((d) => `"${d.key}"`);
    const symbol = defs.some((d) => d.key === 'symbol');
    p.add(
      `${path}.${key}`,
      own.length === 0
        ? symbol
          ? `is not a parameter of ${name} (it takes only "symbol", to read another symbol's bars); remove it`
          : `is not a parameter of ${name} (it takes none); remove it`
        : `is not a parameter of ${name} (it takes ${own.join(', ')}${symbol ? `, and "symbol" to read another symbol's bars` : ''}); remove or rename it`,
    );
    ok = false;
  }
  const spec: Record<string, ParamValue> = { name };
  for (const def of defs) {
    const value = raw[def.key];
    const where = `${path}.${def.key}`;
    if (value === undefined) {
      if (def.default === undefined) {
        if (def.optional) continue;
        p.add(where, `is missing; ${name} needs a ${def.key} (an integer ≥ ${def.min ?? 1})`);
        ok = false;
      } else if (def.core) spec[def.key] = def.default;
      continue;
    }
    let valid: boolean;
    let expected: string;
    switch (def.type) {
      case 'int':
        valid = isInt(value) && value >= (def.min ?? 1) && value <= (def.max ?? Infinity);
        if (def.key === 'ddof') expected = "0 (population std) or 1 (sample std, pandas' default)";
        else if (def.min === 0 && (!isInt(value) || value < 0)) expected = `an integer ≥ 0 (an output column of observation.feature_graph)`;
        else if (!isInt(value) || value < 1) expected = 'a positive integer';
        else if (value < (def.min ?? 1)) {
          p.add(where, `must be at least ${def.min} for ${name}${def.min === 2 && def.key === 'period' ? ' (a sample std needs two values)' : ''}, got ${value}`);
          ok = false;
          continue;
        } else expected = `at most ${def.max}`;
        break;
      case 'number':
        valid = typeof value === 'number' && Number.isFinite(value) && value >= (def.min ?? -Infinity) && value <= (def.max ?? Infinity);
        expected = `a number from ${def.min} to ${def.max}`;
        break;
      case 'bool':
        valid = typeof value === 'boolean';
        expected = 'true or false';
        break;
      case 'symbol':
        valid = typeof value === 'string' && /^[A-Za-z0-9][A-Za-z0-9./_-]{0,31}$/.test(value);
        expected = 'a symbol such as "ETHUSD" or "SPY" (the feature is then computed on its bars)';
        break;
      default:
        valid = typeof value === 'string' && (def.values ?? []).includes(value);
        expected = `one of ${(def.values ?? []).map((x) => `"${x}"`).join(', ')}`;
    }
    if (!valid) {
      p.add(where, `must be ${expected}, got ${show(value)}`);
      ok = false;
      continue;
    }
    // Convention parameters at their default are left out, so the spec (and its label) stays the default one.
    if (!def.core && def.default !== undefined && value === def.default) continue;
    spec[def.key] = value as ParamValue;
  }
  if (ok && (name === 'macd' || name === 'macd_signal' || name === 'macd_hist') && (spec.fast as number) >= (spec.slow as number)) {
    p.add(`${path}.fast`, `must be shorter than slow (${String(spec.slow)}), got ${String(spec.fast)}`);
    ok = false;
  }
  return ok ? (spec as unknown as FeatureSpec) : undefined;
}

function parseAction(p: Problems, raw: unknown): ActionSpec | undefined {
  if (raw === undefined) {
    p.add('action', 'is missing; give { "type": "discrete", "meanings": [...] } or { "type": "continuous" }');
    return undefined;
  }
  if (!isObject(raw)) {
    p.add('action', `must be an object, got ${show(raw)}`);
    return undefined;
  }
  const type = raw.type ?? (raw.meanings !== undefined ? 'discrete' : undefined);
  if (type !== 'discrete' && type !== 'continuous') {
    p.add('action.type', `must be "discrete" or "continuous", got ${show(raw.type)}`);
    return undefined;
  }
  const output = optionalName(p, raw.output, 'action.output');

  if (type === 'continuous') {
    for (const key of Object.keys(raw)) {
      if (CONTINUOUS_KEYS.includes(key)) continue;
      if (key === 'rebalance_band') p.add('action.rebalance_band', 'belongs under execution: use execution.rebalance_band');
      else if (DISCRETE_KEYS.includes(key)) p.add(`action.${key}`, 'applies to discrete policies only; remove it or set action.type to "discrete"');
      else p.add(`action.${key}`, `is not a known key; allowed: ${CONTINUOUS_KEYS.join(', ')}`);
    }
    if (raw.output_kind !== undefined && raw.output_kind !== 'continuous') {
      p.add('action.output_kind', `must be "continuous" for a continuous policy (the target exposure), got ${show(raw.output_kind)}`);
    }
    return { type, output };
  }

  for (const key of Object.keys(raw)) {
    if (DISCRETE_KEYS.includes(key)) continue;
    if (key === 'rebalance_band') p.add('action.rebalance_band', 'belongs under execution: use execution.rebalance_band');
    else p.add(`action.${key}`, `is not a known key; allowed: ${DISCRETE_KEYS.join(', ')}`);
  }

  let outputKind: OutputKind = 'logits';
  const outputKindGiven = raw.output_kind !== undefined;
  if (raw.output_kind !== undefined) {
    if ((OUTPUT_KINDS as readonly unknown[]).includes(raw.output_kind)) outputKind = raw.output_kind as OutputKind;
    else if (raw.output_kind === 'continuous') p.add('action.output_kind', '"continuous" needs action.type "continuous"');
    else p.add('action.output_kind', `must be one of ${OUTPUT_KINDS.map((k) => `"${k}"`).join(', ')}, got ${show(raw.output_kind)}`);
  }
  const logProbOutput = optionalName(p, raw.log_prob_output, 'action.log_prob_output');
  if (logProbOutput !== null && outputKindGiven && outputKind !== 'action_index') {
    p.add('action.log_prob_output', `applies to output_kind "action_index" only (with ${outputKind} the confidence comes from the action output itself); remove it`);
  }
  if (logProbOutput !== null && output !== null && logProbOutput === output) {
    p.add('action.log_prob_output', `names the same output as action.output (${show(output)}); name the log-probability output`);
  }

  let minConfidence = 0;
  if (raw.min_confidence !== undefined) {
    const v = raw.min_confidence;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1) minConfidence = v;
    else p.add('action.min_confidence', `must be a number from 0 to 1 (a probability), got ${show(v)}`);
  }
  if (minConfidence > 0 && outputKind === 'action_index' && outputKindGiven && logProbOutput === null) {
    p.add(
      'action.min_confidence',
      "needs a confidence, and an action index carries none: name the output with the chosen action's log-probability in action.log_prob_output (stable-baselines3's export has it third), or export logits",
    );
  }

  const meanings: ActionMeaning[] = [];
  let meaningsOk = true;
  if (raw.meanings === undefined) {
    p.add('action.meanings', `is missing; list what each output means, e.g. ["HOLD", "BUY", "SELL"]`);
    return undefined;
  }
  if (!Array.isArray(raw.meanings) || raw.meanings.length === 0) {
    p.add('action.meanings', `must be a non-empty array of action names, got ${show(raw.meanings)}`);
    return undefined;
  }
  raw.meanings.forEach((m, i) => {
    const meaning = typeof m === 'string' ? parseActionMeaning(m) : null;
    if (meaning === null) {
      meaningsOk = false;
      p.add(`action.meanings[${i}]`, `${show(m)} is not an action this tool understands; use one of ${ACTION_MEANINGS.join(', ')} ` + `(the model cannot be backtested on a guessed meaning)`);
    } else meanings.push(meaning);
  });
  if (!meaningsOk) return undefined;
  return { type, meanings, outputKind, outputKindGiven, minConfidence, output, logProbOutput };
}

function parseExecution(p: Problems, raw: unknown, assetClass: AssetClass): ExecutionSpec | undefined {
  const defaults: ExecutionSpec = {
    longOnly: assetClass === 'crypto',
    longOnlyDefaulted: true,
    maxExposure: 1,
    rebalanceBand: DEFAULT_REBALANCE_BAND,
  };
  if (raw === undefined || raw === null) return defaults;
  if (!isObject(raw)) {
    p.add('execution', `must be an object, got ${show(raw)}`);
    return undefined;
  }
  checkKeys(p, raw, 'execution', EXECUTION_KEYS);
  let { longOnly, longOnlyDefaulted, maxExposure, rebalanceBand } = defaults;
  if (raw.long_only !== undefined) {
    if (typeof raw.long_only === 'boolean') {
      longOnly = raw.long_only;
      longOnlyDefaulted = false;
    } else p.add('execution.long_only', `must be true or false, got ${show(raw.long_only)}`);
  }
  if (raw.max_exposure !== undefined) {
    const v = raw.max_exposure;
    if (typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= 1) maxExposure = v;
    else p.add('execution.max_exposure', `must be a number in (0, 1] (a fraction of equity; no leverage), got ${show(v)}`);
  }
  if (raw.rebalance_band !== undefined) {
    const v = raw.rebalance_band;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1) rebalanceBand = v;
    else p.add('execution.rebalance_band', `must be a number from 0 to 1 (a fraction of equity), got ${show(v)}`);
  }
  return { longOnly, longOnlyDefaulted, maxExposure, rebalanceBand };
}

function parseState(p: Problems, raw: unknown): StatePair[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    p.add('state', `must be an array of { "input": "<name>", "output": "<name>" } pairs, got ${show(raw)}`);
    return [];
  }
  const pairs: StatePair[] = [];
  const inputs = new Set<string>();
  const outputs = new Set<string>();
  raw.forEach((entry, i) => {
    const path = `state[${i}]`;
    if (!isObject(entry)) {
      p.add(path, `must be { "input": "<ONNX input>", "output": "<ONNX output>" }, got ${show(entry)}`);
      return;
    }
    checkKeys(p, entry, path, STATE_ALL_KEYS);
    const batchAxis = parseBatchAxis(p, entry.batch_axis, `${path}.batch_axis`);
    let ok = true;
    for (const key of STATE_KEYS) {
      const v = entry[key];
      if (typeof v !== 'string' || v.trim() === '') {
        p.add(`${path}.${key}`, `must be the name of an ONNX ${key} (a non-empty string), got ${show(v)}`);
        ok = false;
      }
    }
    if (!ok) return;
    const input = entry.input as string;
    const output = entry.output as string;
    if (inputs.has(input)) p.add(`${path}.input`, `${show(input)} appears in more than one state pair`);
    if (outputs.has(output)) p.add(`${path}.output`, `${show(output)} appears in more than one state pair`);
    inputs.add(input);
    outputs.add(output);
    pairs.push({ input, output, batchAxis });
  });
  return pairs;
}

function parseGolden(p: Problems, raw: unknown, observation: ObservationSpec | undefined, action: ActionSpec | undefined): GoldenEntry[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    p.add('golden', `must be an array of { "obs", "output" } or { "at", "obs" } entries, got ${show(raw)}`);
    return [];
  }
  const size = observation?.size;
  const entries: GoldenEntry[] = [];
  raw.forEach((entry, i) => {
    const path = `golden[${i}]`;
    if (!isObject(entry)) {
      p.add(path, `must be an object { "obs": [...], "output": [...] } or { "at": "<ISO time>", "obs": [...] }, got ${show(entry)}`);
      return;
    }
    checkKeys(p, entry, path, GOLDEN_KEYS);
    if (entry.output === undefined && entry.at === undefined) {
      p.add(path, 'needs "output" (inference parity) or "at" (observation parity) next to "obs"');
    }
    if (entry.obs === undefined) {
      p.add(`${path}.obs`, 'is missing; give the observation vector');
    }
    const obs = entry.obs === undefined ? undefined : numberArray(p, entry.obs, `${path}.obs`, size, Number.isFinite, 'a finite number', 'observation.window × features');
    let output: number[] | null | undefined = null;
    if (entry.output !== undefined) {
      const width = action?.type === 'discrete' ? goldenOutputWidth(action) : undefined;
      if (width !== undefined && width !== 1 && action?.type === 'discrete' && !action.outputKindGiven && Array.isArray(entry.output) && entry.output.length === 1) {
        // No output_kind: one value may be an action index (checked against the model when it is bound).
        output = numberArray(p, entry.output, `${path}.output`, 1, Number.isFinite, 'a finite number');
      } else {
        output = numberArray(
          p,
          entry.output,
          `${path}.output`,
          width,
          Number.isFinite,
          'a finite number',
          action?.type === 'discrete' && action.outputKind === 'action_index' ? 'output_kind "action_index" (one index per decision)' : 'action.meanings',
        );
      }
    }
    let at: number | null = null;
    let atIso: string | null = null;
    if (entry.at !== undefined) {
      const ms = typeof entry.at === 'string' ? parseIsoUtc(entry.at) : null;
      if (ms === null) {
        p.add(`${path}.at`, `must be an ISO 8601 time of the decision bar's start, e.g. "2024-06-01T13:00:00Z", got ${show(entry.at)}`);
      } else {
        at = ms;
        atIso = new Date(ms).toISOString();
      }
    }
    let position = 0;
    let unrealizedReturn = 0;
    let decided: number | null = null;
    for (const key of ['position', 'unrealized_return', 'action'] as const) {
      if (entry[key] !== undefined && entry.at === undefined) p.add(`${path}.${key}`, `belongs to an observation golden: give "at" (the decision bar's start) with it`);
    }
    if (entry.position !== undefined) {
      if (typeof entry.position === 'number' && Number.isFinite(entry.position) && Math.abs(entry.position) <= 2) position = entry.position;
      else p.add(`${path}.position`, `must be the exposure at decision time (position value / equity, a number in [−2, 2]), got ${show(entry.position)}`);
    }
    if (entry.unrealized_return !== undefined) {
      if (typeof entry.unrealized_return === 'number' && Number.isFinite(entry.unrealized_return)) unrealizedReturn = entry.unrealized_return;
      else p.add(`${path}.unrealized_return`, `must be a finite number (the open position's return since entry), got ${show(entry.unrealized_return)}`);
    }
    if (entry.action !== undefined && action !== undefined) {
      const v = entry.action;
      if (action.type === 'discrete') {
        const byName = typeof v === 'string' ? parseActionMeaning(v) : null;
        const index = isInt(v) ? v : byName === null ? -1 : action.meanings.indexOf(byName);
        if (index >= 0 && index < action.meanings.length) decided = index;
        else p.add(`${path}.action`, `must be one of action.meanings (${action.meanings.join(', ')}) or its index, got ${show(v)}`);
      } else if (typeof v === 'number' && Number.isFinite(v)) decided = Math.min(1, Math.max(-1, v));
      else p.add(`${path}.action`, `must be the continuous output (a number) the training code got, got ${show(v)}`);
    }
    if (obs === undefined || output === undefined) return;
    entries.push({ index: i, obs, output, at, atIso, state: { position, unrealizedReturn }, action: decided });
  });
  return entries;
}

/** Values per decision a discrete golden output holds: one index, or one per meaning. */
function goldenOutputWidth(action: DiscreteActionSpec): number {
  return action.outputKind === 'action_index' ? 1 : action.meanings.length;
}

function parseBatchAxis(p: Problems, raw: unknown, path: string): number | null {
  if (raw === undefined || raw === null) return null;
  if (isInt(raw) && raw >= 0 && raw < MAX_AXIS) return raw;
  p.add(path, `must be the index of the batch axis in the tensor's shape (0 to ${MAX_AXIS - 1}), got ${show(raw)}`);
  return null;
}

function parseExtraInputs(p: Problems, raw: unknown, state: readonly StatePair[], input: string | null): ExtraInput[] {
  if (raw === undefined || raw === null) return [];
  const shape = '{ "name": "<ONNX input>", "value": "episode_start" | <number> }';
  if (!Array.isArray(raw)) {
    p.add('extra_inputs', `must be an array of ${shape}, got ${show(raw)}`);
    return [];
  }
  const out: ExtraInput[] = [];
  const seen = new Set<string>();
  raw.forEach((entry, i) => {
    const path = `extra_inputs[${i}]`;
    if (!isObject(entry)) {
      p.add(path, `must be ${shape}, got ${show(entry)}`);
      return;
    }
    checkKeys(p, entry, path, EXTRA_INPUT_KEYS);
    const batchAxis = parseBatchAxis(p, entry.batch_axis, `${path}.batch_axis`);
    const name = entry.name;
    if (typeof name !== 'string' || name.trim() === '') {
      p.add(`${path}.name`, `must be the name of an ONNX input (a non-empty string), got ${show(name)}`);
      return;
    }
    if (seen.has(name)) p.add(`${path}.name`, `${show(name)} is listed twice`);
    seen.add(name);
    if (state.some((s) => s.input === name)) p.add(`${path}.name`, `${show(name)} is already a state input; an input is fed one way`);
    if (input !== null && input === name) p.add(`${path}.name`, `${show(name)} is the observation input ("input"); an input is fed one way`);
    const value = entry.value;
    if (value === 'episode_start' || (typeof value === 'number' && Number.isFinite(value))) {
      out.push({ name, value, batchAxis });
    } else {
      p.add(`${path}.value`, `must be "episode_start" (1 at a window's first decision, 0 after) or a finite number (a constant), got ${show(value)}`);
    }
  });
  return out;
}

// ================================================================ helpers

class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path} ${message}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function symbolKey(symbol: string): string {
  return symbol.trim().toUpperCase().replaceAll('/', '');
}

function checkKeys(p: Problems, obj: Record<string, unknown>, path: string, allowed: readonly string[], top = false): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    if (top && (METADATA_KEYS.includes(key) || key.startsWith('x_') || key.startsWith('x-'))) continue;
    const where = path === '' ? key : `${path}.${key}`;
    const extra = top ? `, or metadata (${METADATA_KEYS.join(', ')}, x_*)` : '';
    p.add(where, `is not a known key; allowed: ${allowed.join(', ')}${extra}`);
  }
}

function optionalName(p: Problems, value: unknown, path: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.trim() !== '') return value;
  p.add(path, `must be an ONNX tensor name (a non-empty string), got ${show(value)}`);
  return null;
}

/**
 * An array of numbers, each satisfying `ok`; with `length`, exactly that many (named by `lengthOf`,
 * default "observation.features"). Returns undefined (after reporting) when invalid.
 */
function numberArray(p: Problems, raw: unknown, path: string, length: number | undefined, ok: (x: number) => boolean, what: string, lengthOf = 'observation.features'): number[] | undefined {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    p.add(path, `must be an array of numbers, got ${show(raw)}`);
    return undefined;
  }
  let valid = true;
  raw.forEach((x, i) => {
    if (typeof x !== 'number' || !ok(x)) {
      p.add(`${path}[${i}]`, `must be ${what}, got ${show(x)}`);
      valid = false;
    }
  });
  if (length !== undefined && raw.length !== length) {
    p.add(path, `has ${raw.length} values but ${lengthOf} gives ${length}; give exactly ${length}`);
    valid = false;
  }
  return valid ? [...(raw as number[])] : undefined; // a copy: the card is frozen, the caller's JSON is not
}

/** A short rendering of a JSON value for messages. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * ISO 8601 date or date-time to epoch ms (src/core/time.ts): no zone designator means UTC (training
 * code writes naive UTC timestamps). Null when malformed or impossible.
 */
export function parseIsoUtc(text: string): number | null {
  return parseUtc(text);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
