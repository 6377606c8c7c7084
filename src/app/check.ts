/**
 * `policy-gate check <archive | --model X.onnx --card Y>`: the card–model fit, without bars. For a
 * training repository's own CI, in a second or two: every card is parsed and bound to its model, the
 * inference golden vectors ({obs, output}) are run, and what each setting resolved to is printed —
 * the observation input and its shape, recurrent states and extra inputs, which output holds the
 * action and how it is read, the window and warm-up of every feature.
 *
 * Exit codes: 0 every card fits its model and every inference golden passes; 1 a golden vector
 * mismatches (the export does not reproduce the training framework); 2 a mis-set card or an unusable
 * model (the message names the file and the key). Observation goldens ({at, obs}) need bars: they are
 * counted here and checked by `validate` and `backtest`.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import type { Config } from '../config/schema.js';
import { parseCard, warmupBars, type PolicyCard } from '../core/card.js';
import { bindModel, boundCard, infer, outputWidth, type Binding, type ModelRunner, type TensorInfo } from '../core/drive.js';
import { errorMessage, inputError, PolicyGateError } from '../core/errors.js';
import { featureLabel, featureSpan } from '../core/features.js';
import { jsonSyntaxReason, splitModelId } from '../core/summary.js';
import { loadPolicyModel, MAX_MODEL_BYTES, modelTooLarge } from '../adapters/onnx/session.js';
import { openTrainingArchive } from './archive.js';
import { archiveCardFiles, folderCardFiles, openFeatureGraph, type CardFileReader } from './feature-graph.js';
import { GOLDEN_TOLERANCE, goldenWidthError } from './evaluate.js';

export interface ResolvedTensor {
  name: string;
  shape: (number | string)[];
  type: string;
}

export interface CheckedModel {
  id: string;
  model: string | null;
  card: string | null;
  /** 'ok'; 'card': a mis-set card or unusable model (exit 2); 'mismatch': an inference golden differs (exit 1). */
  status: 'ok' | 'card' | 'mismatch';
  errors: string[];
  notes: string[];
  resolved: {
    input: ResolvedTensor & { feeds: string };
    state: (ResolvedTensor & { output: string; batchAxis: number; feeds: string })[];
    extraInputs: (ResolvedTensor & { batchAxis: number; feeds: string })[];
    action: ResolvedTensor & { kind: string; reads: string; logProbOutput: string | null; meanings: string[] | null; minConfidence: number | null };
    unusedOutputs: ResolvedTensor[];
    observation: {
      window: number;
      features: { feature: string; span: number; warmup: number }[];
      warmupBars: number;
      normalize: boolean;
      clip: number | null;
    };
    batchable: boolean;
    /** How the card's feature graph is fed and read (one line per setting), or null. */
    featureGraph: string[] | null;
  } | null;
  golden: { inference: number; inferencePassed: number; observation: number };
}

export interface CheckReport {
  command: 'check';
  source: string;
  models: CheckedModel[];
  ok: boolean;
}

export interface CheckOptions {
  log: (line: string) => void;
  /** For --model: the card file (default: <model>.card.json beside it). */
  cardPath?: string | null;
}

const tensor = (t: TensorInfo): ResolvedTensor => ({ name: t.name, shape: [...t.shape], type: t.type });
const shape = (t: { shape: (number | string)[] }): string => `[${t.shape.join(', ')}]`;

function describeRead(card: PolicyCard, b: Binding): string {
  const action = card.action;
  if (b.outputKind === 'continuous') {
    return `continuous: the first value, clipped to [-1, 1], times max_exposure ${card.execution.maxExposure}, is the target exposure${card.execution.longOnly ? ' (floored at 0: long only)' : ''}`;
  }
  if (action.type !== 'discrete') return '';
  const meanings = action.meanings.join(', ');
  const confidence =
    b.outputKind === 'action_index'
      ? b.logProbOutput
        ? `confidence exp("${b.logProbOutput}")`
        : 'no confidence'
      : b.outputKind === 'logits'
        ? 'confidence softmax of the top logit'
        : b.outputKind === 'probs'
          ? 'confidence the top probability'
          : 'confidence exp of the top log-probability';
  const what = b.outputKind === 'action_index' ? 'the action index' : `argmax of ${b.outputKind}`;
  const min = action.minConfidence > 0 ? `; below min_confidence ${action.minConfidence} → HOLD` : '';
  return `${what} over ${meanings}; ${confidence}${min}`;
}

/** Binds one card to its model and runs its inference goldens; never throws for the model's own problems. */
export async function checkModel(
  entry: CheckedModel,
  model: ModelRunner & { label: string },
  cardJson: unknown,
  cardFile: string,
  defaults: { symbol?: string; timeframe?: string },
  skipInference = false,
  cardFiles?: CardFileReader,
): Promise<void> {
  let card: PolicyCard;
  let b: Binding;
  try {
    card = parseCard(cardJson, cardFile, defaults);
    entry.notes.push(...card.warnings);
    b = bindModel(model, card, model.label);
    entry.notes.push(...b.notes);
  } catch (err) {
    entry.status = 'card';
    entry.errors.push(errorMessage(err));
    return;
  }
  const info = (name: string): TensorInfo => (model.inputs.find((i) => i.name === name) ?? model.outputs.find((o) => o.name === name))!;
  const { window: W, features } = card.observation;
  const F = features.length;
  const out = info(b.output);
  const used = new Set([b.output, ...(b.logProbOutput ? [b.logProbOutput] : []), ...b.state.map((s) => s.output)]);
  entry.resolved = {
    input: { ...tensor(info(b.input)), feeds: `${W} row${W > 1 ? 's' : ''} × ${F} features, ${b.rank3 ? `shaped [n, ${W}, ${F}]` : `flattened time-major to [n, ${W * F}]`}` },
    state: b.state.map((s) => ({
      ...tensor(info(s.input)),
      output: s.output,
      batchAxis: s.batchAxis,
      feeds: `"${s.output}" of the previous decision; zeros at each window's first decision (batch on axis ${s.batchAxis})`,
    })),
    extraInputs: b.extra.map((x) => ({
      ...tensor(info(x.input)),
      batchAxis: x.batchAxis,
      feeds: x.value === 'episode_start' ? "episode start: 1 at each window's first decision, 0 after" : `the constant ${x.value}`,
    })),
    action: {
      ...tensor(out),
      kind: b.outputKind,
      reads: describeRead(card, b),
      logProbOutput: b.logProbOutput,
      meanings: card.action.type === 'discrete' ? [...card.action.meanings] : null,
      minConfidence: card.action.type === 'discrete' ? card.action.minConfidence : null,
    },
    unusedOutputs: model.outputs.filter((o) => !used.has(o.name)).map(tensor),
    observation: {
      window: W,
      features: features.map((f) => ({ feature: featureLabel(f), span: featureSpan(f), warmup: featureSpan(f) - 1 })),
      warmupBars: warmupBars(card),
      normalize: card.observation.normalize !== null,
      clip: card.observation.clip,
    },
    batchable: b.batchable,
    featureGraph: null,
  };
  if (card.observation.featureGraph !== null) {
    try {
      const graph = await openFeatureGraph(card, cardFiles);
      entry.resolved.featureGraph = graph!.describe();
      await graph!.release();
    } catch (err) {
      if (err instanceof PolicyGateError && err.kind === 'infra') throw err;
      entry.status = 'card';
      entry.errors.push(errorMessage(err));
      return;
    }
  }
  entry.golden.observation = card.golden.filter((g) => g.at !== null).length;
  for (const g of card.golden) {
    if (!g.output) continue;
    if (skipInference) continue;
    entry.golden.inference++;
    try {
      const { out: values } = await infer(model, b, card, Float32Array.from(g.obs), 1, null);
      if (values.length !== g.output.length) throw goldenWidthError(g.index, g.output.length, values.length, b, card);
      outputWidth(boundCard(card, b), values.length, 1, model.label);
      let worst = 0;
      let at = 0;
      for (let i = 0; i < g.output.length; i++) {
        const d = Math.abs(values[i]! - g.output[i]!);
        if (!(d <= worst)) {
          worst = Number.isNaN(d) ? Infinity : d;
          at = i;
        }
      }
      if (worst > GOLDEN_TOLERANCE) {
        if (entry.status === 'ok') entry.status = 'mismatch';
        entry.errors.push(
          `INFERENCE_MISMATCH: golden[${g.index}] output[${at}] is ${values[at]} from onnxruntime but ${g.output[at]} in ${cardFile} (|diff| ${worst.toExponential(2)} > ${GOLDEN_TOLERANCE})`,
        );
      } else entry.golden.inferencePassed++;
    } catch (err) {
      entry.status = 'card';
      entry.errors.push(errorMessage(err));
      return;
    }
  }
  if (skipInference && card.golden.some((g) => g.output)) {
    entry.notes.push('inference golden vectors skipped: they belong to the final model, not this checkpoint');
  }
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw inputError(`${what} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, path);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw inputError(`${path}: not valid JSON (${jsonSyntaxReason(text, err)})`, path);
  }
}

const blank = (id: string, model: string | null, card: string | null): CheckedModel => ({
  id,
  model,
  card,
  status: 'ok',
  errors: [],
  notes: [],
  resolved: null,
  golden: { inference: 0, inferencePassed: 0, observation: 0 },
});

/** Loads the model (an unusable file is the model's problem: status 'card'), checks it, releases it. */
async function withModel(entry: CheckedModel, bytes: Uint8Array, label: string, config: Config, check: (m: ModelRunner & { label: string }) => Promise<void>): Promise<void> {
  let model;
  try {
    model = await loadPolicyModel(bytes, { device: 'cpu', label, timeoutSeconds: config.runtime.inferenceTimeoutSeconds });
  } catch (err) {
    if (err instanceof PolicyGateError && err.kind === 'infra') throw err;
    entry.status = 'card';
    entry.errors.push(errorMessage(err));
    return;
  }
  try {
    await check(model);
  } finally {
    await model.release();
  }
}

/** `check --model X.onnx [--card Y]`. */
export async function checkModelFile(modelPath: string, config: Config, opts: CheckOptions): Promise<CheckReport> {
  if (!existsSync(modelPath)) throw inputError(`model file ${modelPath} does not exist`, modelPath);
  const cardPath = opts.cardPath ?? join(dirname(modelPath), basename(modelPath).replace(/\.onnx$/i, '') + '.card.json');
  if (!existsSync(cardPath)) {
    throw inputError(`no policy card for ${modelPath}: expected ${cardPath} (or pass --card <file>); see docs/policy-card.md`, cardPath);
  }
  const cardJson = await readJsonFile(cardPath, 'policy card');
  const size = (await stat(modelPath)).size;
  if (size > MAX_MODEL_BYTES) throw modelTooLarge(modelPath, size);
  const bytes = new Uint8Array(await readFile(modelPath));
  const fromName = splitModelId(basename(modelPath).replace(/\.onnx$/i, ''));
  const entry = blank(fromName ? `${fromName.symbol}_${fromName.timeframe}` : basename(modelPath), modelPath, cardPath);
  // The card's own symbol and timeframe win over a file name that is not <SYMBOL>_<TIMEFRAME>.onnx.
  await withModel(entry, bytes, modelPath, config, (m) => checkModel(entry, m, cardJson, cardPath, {}, false, folderCardFiles(cardPath, process.cwd())));
  const obj = (cardJson ?? {}) as { symbol?: unknown; timeframe?: unknown };
  if (typeof obj.symbol === 'string' && typeof obj.timeframe === 'string') entry.id = `${obj.symbol.replaceAll('/', '')}_${obj.timeframe}`;
  return { command: 'check', source: modelPath, models: [entry], ok: entry.status === 'ok' };
}

/** `check <archive>`: every model of a training archive that has an ONNX file. */
export async function checkArchive(source: string, config: Config, opts: CheckOptions): Promise<CheckReport> {
  const opened = await openTrainingArchive(source, config.gating, config.decision.required, opts.log);
  const models: CheckedModel[] = [];
  try {
    for (const gm of opened.models) {
      const m = gm.report;
      if (!gm.onnxPath) continue;
      const entry = blank(m.id, gm.onnxPath, gm.cardPath ?? (gm.entry.card !== undefined ? `${opened.archive.summary.path} (symbols.${gm.entry.key}.card)` : null));
      models.push(entry);
      let cardJson: unknown;
      let cardFile: string;
      if (gm.cardPath) {
        cardFile = `${source}:${gm.cardPath}`;
        const text = (await opened.reader.read(gm.cardPath)).toString('utf8');
        try {
          cardJson = JSON.parse(text);
        } catch (err) {
          entry.status = 'card';
          entry.errors.push(`${cardFile}: not valid JSON (${jsonSyntaxReason(text, err)})`);
          continue;
        }
      } else if (gm.entry.card !== undefined) {
        cardFile = `${source}:${opened.archive.summary.path} (symbols.${gm.entry.key}.card)`;
        cardJson = gm.entry.card;
      } else {
        entry.status = 'card';
        entry.errors.push(`no policy card for ${m.id}: put ${gm.onnxPath.replace(/\.onnx$/i, '.card.json')} beside the model, or a "card" object in its summary entry (see docs/policy-card.md)`);
        continue;
      }
      const bytes = await opened.reader.read(gm.onnxPath);
      await withModel(entry, bytes, gm.onnxPath, config, (model) =>
        checkModel(
          entry,
          model,
          cardJson,
          cardFile,
          { symbol: m.symbol, timeframe: m.timeframe },
          gm.borrowedCard,
          archiveCardFiles(opened.reader, source, posix.dirname(gm.cardPath ?? gm.onnxPath!)),
        ),
      );
    }
  } finally {
    await opened.reader.close();
  }
  if (models.length === 0) throw inputError(`${source}: no ONNX model to check (see docs/archive-format.md)`, source);
  return { command: 'check', source, models, ok: models.every((x) => x.status === 'ok') };
}

export function checkExitCode(report: CheckReport): number {
  if (report.models.some((m) => m.status === 'card')) return 2;
  if (report.models.some((m) => m.status === 'mismatch')) return 1;
  return 0;
}

/** The terminal rendering: one block per model, what each setting resolved to. */
export function renderCheck(report: CheckReport): string {
  const lines: string[] = [];
  for (const m of report.models) {
    lines.push(`=== ${m.id} — ${m.status === 'ok' ? 'OK' : m.status === 'card' ? 'MIS-SET CARD' : 'INFERENCE MISMATCH'} ===`);
    lines.push(`model ${m.model ?? '—'}; card ${m.card ?? '—'}`);
    const r = m.resolved;
    if (r) {
      lines.push(`input   "${r.input.name}" ${shape(r.input)} ${r.input.type} ← ${r.input.feeds}`);
      for (const s of r.state) lines.push(`state   "${s.name}" ${shape(s)} ${s.type} ← ${s.feeds}`);
      for (const x of r.extraInputs) lines.push(`extra   "${x.name}" ${shape(x)} ${x.type} ← ${x.feeds}`);
      lines.push(`action  "${r.action.name}" ${shape(r.action)} ${r.action.type} → ${r.action.reads}`);
      for (const o of r.unusedOutputs) lines.push(`unused  "${o.name}" ${shape(o)} ${o.type}`);
      lines.push(
        `window  ${r.observation.window} row${r.observation.window > 1 ? 's' : ''}; warm-up ${r.observation.warmupBars} bars before the first decision` +
          `${r.observation.normalize ? '; normalize' : ''}${r.observation.clip !== null ? `; clip ${r.observation.clip}` : ''}; ${r.batchable ? 'batched' : 'one decision per call (fixed batch)'}`,
      );
      for (const f of r.observation.features) lines.push(`  ${f.feature}: reads ${f.span} bar${f.span > 1 ? 's' : ''} (warm-up ${f.warmup})`);
      for (const line of r.featureGraph ?? []) lines.push(`graph   ${line}`);
    }
    lines.push(
      `golden  ${m.golden.inferencePassed}/${m.golden.inference} inference checks passed; ${m.golden.observation} observation check${m.golden.observation === 1 ? '' : 's'} need bars (run validate or backtest)`,
    );
    for (const n of m.notes) lines.push(`note: ${n}`);
    for (const e of m.errors) lines.push(`error: ${e}`);
    lines.push('');
  }
  const bad = report.models.filter((m) => m.status !== 'ok').length;
  lines.push(bad === 0 ? `check: ${report.models.length} model(s) OK` : `check: ${bad} of ${report.models.length} model(s) not OK`);
  return lines.join('\n');
}
