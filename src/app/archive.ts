/**
 * Stage 1 and 2 of the pipeline: open the archive safely, verify the manifest, read the summary,
 * gate every model, and work out which file each model is evaluated from.
 */
import { posix } from 'node:path';
import { openArchive } from '../adapters/archive/index.js';
import { inputError } from '../core/errors.js';
import { gate } from '../core/gating.js';
import { checkpointFor, findManifest, findSummary, locateModel, manifestTarget, parseManifest, unreferencedModels } from '../core/layout.js';
import type { ModelReport, Report } from '../core/report.js';
import { parseJsonTolerant, parseTrainingSummary, type SummaryEntry } from '../core/summary.js';
import type { ArchiveReader, GatingConfig, ModelFlag, Tier } from '../core/types.js';
import { sha256 } from '../util/hash.js';

export interface GatedModel {
  entry: SummaryEntry;
  report: ModelReport;
  /** The ONNX file to evaluate (the final model, or the recommended checkpoint when the archive holds it). */
  onnxPath: string | null;
  cardPath: string | null;
  /** True when a checkpoint is evaluated with the final model's card: its inference golden vectors belong to the final model. */
  borrowedCard: boolean;
}

export interface OpenedTrainingArchive {
  reader: ArchiveReader;
  archive: NonNullable<Report['archive']>;
  models: GatedModel[];
}

/**
 * The archive path of the feature graph a card names (observation.feature_graph.file, beside the card;
 * for a card inline in the summary, beside the model), or null. A card that cannot be read here is
 * reported when its model is evaluated.
 */
async function featureGraphPath(reader: ArchiveReader, cardPath: string | null, inline: unknown, onnxPath: string | null): Promise<string | null> {
  let card: unknown = inline;
  if (cardPath !== null) {
    try {
      card = JSON.parse((await reader.read(cardPath)).toString('utf8'));
    } catch {
      return null;
    }
  }
  const file = (card as { observation?: { feature_graph?: { file?: unknown } } } | null | undefined)?.observation?.feature_graph?.file;
  const dir = cardPath ?? onnxPath;
  if (typeof file !== 'string' || dir === null) return null;
  const folder = posix.dirname(dir);
  return folder === '.' ? file : `${folder}/${file}`;
}

export async function openTrainingArchive(source: string, gating: GatingConfig, requested: Tier, log: (line: string) => void = () => {}): Promise<OpenedTrainingArchive> {
  const reader = await openArchive(source);
  try {
    const files = reader.files;
    log(`archive ${source}: ${files.length} files, sha256 ${reader.sha256.slice(0, 12)}…`);

    const manifestPath = findManifest(files, source);
    let manifestInfo: { path: string; files: number; unlisted?: string[] } | null = null;
    const unlisted = new Set<string>();
    if (manifestPath) {
      const doc = parseJsonTolerant((await reader.read(manifestPath)).toString('utf8'), `${source}:${manifestPath}`);
      const listed = parseManifest(doc, `${source}:${manifestPath}`);
      for (const [listedPath, expected] of listed) {
        const target = manifestTarget(files, manifestPath, listedPath);
        if (!target) {
          throw inputError(`${source}: ${manifestPath} lists "${listedPath}", which is not in the archive; the archive is incomplete or the manifest is stale`, listedPath);
        }
        const actual = reader.sha256Of?.(target) ?? sha256(await reader.read(target));
        if (actual !== expected) {
          throw inputError(`${source}: sha256 of "${target}" is ${actual}, but ${manifestPath} says ${expected}; the file was changed or corrupted — rebuild the archive`, target);
        }
      }
      // A manifest that lists only some files vouches for those only: every summary, model and card it
      // leaves out is named (a log line, archive.manifest.unlisted, and a note on its model).
      const covered = new Set<string>();
      for (const listedPath of listed.keys()) {
        const target = manifestTarget(files, manifestPath, listedPath);
        if (target) covered.add(target);
      }
      for (const f of files) {
        if (f.path === manifestPath || covered.has(f.path)) continue;
        if (/\.(onnx|pt|pth|card\.json)$/i.test(f.path) || /(^|\/)(training_summary[^/]*|summary)\.json$/i.test(f.path)) unlisted.add(f.path);
      }
      manifestInfo = { path: manifestPath, files: listed.size, ...(unlisted.size > 0 ? { unlisted: [...unlisted].sort() } : {}) };
      log(`manifest ${manifestPath}: ${listed.size} sha256 sums verified`);
      for (const p of [...unlisted].sort()) log(`manifest ${manifestPath} does not list ${p}: its sha256 was not checked`);
    }

    const summaryPath = findSummary(files, source);
    const summaryText = (await reader.read(summaryPath)).toString('utf8');
    const summary = parseTrainingSummary(summaryText, `${source}:${summaryPath}`);

    const referenced = new Set<string>();
    const models: GatedModel[] = [];
    for (const entry of summary.entries) {
      const result = gate(entry.metrics, gating);
      const flags: ModelFlag[] = [...result.flags];
      const errors: string[] = entry.problems.map((p) => `${summaryPath}: symbols.${entry.key}: ${p}`);
      const notes: string[] = [];

      const loc = locateModel(files, entry.model, entry.id);
      if (loc.onnx) referenced.add(loc.onnx);
      if (loc.pytorch) {
        referenced.add(loc.pytorch);
        flags.push('PYTORCH_CHECKPOINT');
      }
      for (const cp of entry.checkpoints) {
        const p = cp.model ? checkpointFor(files, entry, cp.index) : null;
        if (p) referenced.add(p);
      }
      if (loc.problem) errors.push(loc.problem);
      if (manifestInfo && unlisted.has(summaryPath)) {
        notes.push(`${summaryPath} (the training summary) is not listed in ${manifestInfo.path}: its sha256 was not checked`);
      }

      let onnxPath = loc.onnx;
      let cardPath = loc.cardFile;
      let candidate = 'final';
      let borrowedCard = false;
      if (result.checkpointIndex !== null) {
        const cp = checkpointFor(files, entry, result.checkpointIndex);
        if (cp) {
          onnxPath = cp;
          candidate = `checkpoint:${result.checkpointIndex}`;
          const own = locateModel(files, cp, entry.id).cardFile;
          if (own) cardPath = own;
          else borrowedCard = cardPath !== null || entry.card !== undefined;
          notes.push(`evaluating checkpoint ${result.checkpointIndex} (${cp}) instead of the final model: FITNESS_DECLINE recommends the fitness peak`);
        } else {
          notes.push(`checkpoint ${result.checkpointIndex} is recommended but the archive does not hold its model; evaluating the final model`);
        }
      }

      // A card's feature graph is the model's file too, not an unreferenced model.
      for (const c of new Set([loc.cardFile, cardPath])) {
        const g = await featureGraphPath(reader, c, c === null ? entry.card : undefined, loc.onnx);
        if (g) referenced.add(g);
      }

      // Every candidate file is identified by its sha256, also when gating stops it before it is loaded.
      const modelSha = onnxPath ? (reader.sha256Of?.(onnxPath) ?? sha256(await reader.read(onnxPath))) : '';
      for (const p of [onnxPath, cardPath]) {
        if (p && manifestInfo && unlisted.has(p)) notes.push(`${p} is not listed in ${manifestInfo.path}: its sha256 was not checked`);
      }
      const report: ModelReport = {
        id: entry.id,
        symbol: entry.symbol,
        timeframe: entry.timeframe,
        assetClass: null,
        assetClassGuessed: false,
        candidate,
        model: onnxPath ? { path: onnxPath, sha256: modelSha, inputs: [], outputs: [] } : null,
        card: cardPath ? { path: cardPath, inline: false } : entry.card !== undefined ? { path: null, inline: true } : null,
        gating: result,
        flags,
        train: { start: entry.trainStart, end: entry.trainEnd },
        backtest: null,
        walkForward: null,
        requested,
        decision: null,
        dataQuality: [],
        errors,
        notes,
        evidence: null,
      };
      models.push({ entry, report, onnxPath, cardPath, borrowedCard });
    }

    const archive: NonNullable<Report['archive']> = {
      path: source,
      kind: reader.kind,
      sha256: reader.sha256,
      summary: { path: summaryPath, runId: summary.runId },
      manifest: manifestInfo,
      unreferenced: unreferencedModels(files, referenced),
    };
    return { reader, archive, models };
  } catch (err) {
    await reader.close();
    throw err;
  }
}
