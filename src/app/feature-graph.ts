/**
 * Running a card's feature graph (docs/policy-card.md, "Feature graphs"): load the graph the card names
 * (from the card's own folder: the archive, or the folder of a card file), bind it
 * (src/core/feature-graph.ts), and compute its columns on a bar series, which then travel with the
 * bars (BarSeries.graph) to every observation builder — the parent's (golden vectors, the look-ahead
 * audit) and the one in the onnxruntime process (the simulations).
 *
 * One window per run: the value at bar τ is the graph applied to bars τ−L+1 … τ alone, which is what a
 * live trader computes at τ. Batching windows would be faster, but onnxruntime's vectorised kernels
 * round an element differently depending on where it sits in the batch, so a value would depend (in its
 * last bits) on which other windows shared its run, and the look-ahead audit compares observations bit
 * for bit. Measured: 48 µs per window for a 48-bar, six-feature graph (docs/performance.md).
 *
 * A graph whose rows depend on the other rows of its batch (a statistic over the batch: training code
 * that normalises over the whole dataset) reads other bars — in a chronological batch, later ones. That
 * is checked at load (checkBatchIndependence) and flagged as a look-ahead.
 */
import { dirname, join } from 'node:path';
import { loadPolicyModel, MAX_MODEL_BYTES, modelTooLarge, type PolicyModel } from '../adapters/onnx/session.js';
import type { FeatureGraphSpec, PolicyCard } from '../core/card.js';
import { bindFeatureGraph, checkColumns, describeGraphBinding, type GraphBinding } from '../core/feature-graph.js';
import { inputError } from '../core/errors.js';
import type { ArchiveReader, BarSeries } from '../core/types.js';
import { enclosingRoot, readUntrustedFile } from '../util/safe-read.js';

/** Reads a file the card names, relative to the card's folder; `label` names it in messages. */
export type CardFileReader = (relativePath: string) => Promise<{ bytes: Uint8Array; label: string }>;

/** Windows compared alone and in one batch by checkBatchIndependence. */
export const BATCH_CHECK_WINDOWS = 8;

export interface BatchDependence {
  /** Bar index, column, the value alone and in a batch. */
  bar: number;
  column: number;
  alone: number;
  inBatch: number;
}

export class FeatureGraph {
  private readonly cache = new WeakMap<BarSeries, BarSeries>();

  constructor(
    readonly label: string,
    readonly spec: FeatureGraphSpec,
    readonly binding: GraphBinding,
    private readonly model: PolicyModel,
    private readonly card: Pick<PolicyCard, 'file' | 'observation'>,
  ) {}

  get sha256(): string {
    return this.model.sha256;
  }

  /** The lines `policy-gate check` prints. */
  describe(): string[] {
    return describeGraphBinding(this.binding, this.label, this.spec);
  }

  /** The graph's columns over `bars` (NaN before bar L − 1). */
  async columns(bars: BarSeries): Promise<Float64Array[]> {
    const run = this.model.features;
    if (!run) throw new Error(`${this.label}: this runtime cannot run feature graphs`);
    let columns = await run.call(this.model, { binding: this.binding, bars, from: 0 });
    if (columns.length === 0) {
      // Fewer bars than one window: every value is in the warm-up.
      const width = this.binding.width ?? Math.max(...this.card.observation.features.map((f) => (f.name === 'graph' ? (f.column ?? 0) + 1 : 1)));
      columns = Array.from({ length: width }, () => new Float64Array(bars.time.length).fill(NaN));
    }
    checkColumns(columns.length, this.card, this.label);
    return columns;
  }

  /** `bars` with the graph's columns attached (BarSeries.graph); the same object for the same bars. */
  async attach(bars: BarSeries): Promise<BarSeries> {
    const hit = this.cache.get(bars);
    if (hit) return hit;
    const withGraph: BarSeries = { ...bars, graph: { file: this.label, sha256: this.sha256, columns: await this.columns(bars) } };
    this.cache.set(bars, withGraph);
    return withGraph;
  }

  /**
   * Runs BATCH_CHECK_WINDOWS windows spread over `bars` alone and as one batch: the first value that
   * differs by more than rounding (1e-4 relative, 1e-6 absolute), or null when every row depends on
   * its own window only.
   */
  async checkBatchIndependence(bars: BarSeries): Promise<BatchDependence | null> {
    const L = this.binding.window;
    const n = bars.time.length;
    // A graph exported with a batch of 1 never sees two windows together.
    if (this.binding.fixedBatch || n - (L - 1) < 2) return null;
    const count = Math.min(BATCH_CHECK_WINDOWS, n - (L - 1));
    const rows = Array.from({ length: count }, (_, k) => L - 1 + Math.floor((k * (n - L)) / Math.max(1, count - 1)));
    const unique = [...new Set(rows)];
    const run = this.model.features!;
    const alone = await run.call(this.model, { binding: this.binding, bars, rows: unique, batch: 1 });
    const batched = await run.call(this.model, { binding: this.binding, bars, rows: unique, batch: unique.length });
    for (const bar of unique) {
      for (let c = 0; c < alone.length; c++) {
        const a = alone[c]![bar]!;
        const b = batched[c]?.[bar] ?? NaN;
        const same = Object.is(a, b) || Math.abs(a - b) <= 1e-6 + 1e-4 * Math.max(Math.abs(a), Math.abs(b));
        if (!same) return { bar, column: c, alone: a, inBatch: b };
      }
    }
    return null;
  }

  release(): Promise<void> {
    return this.model.release();
  }
}

/**
 * Loads and binds the card's feature graph, or returns null when the card has none. The graph runs on
 * CPU (its values must not depend on the device) in the same onnxruntime process slot as the model.
 */
export async function openFeatureGraph(card: PolicyCard, read: CardFileReader | undefined, opts: { slot?: number; timeoutSeconds?: number } = {}): Promise<FeatureGraph | null> {
  const spec = card.observation.featureGraph;
  if (spec === null) return null;
  if (read === undefined) {
    throw inputError(
      `${card.file}: observation.feature_graph names ${spec.file}, but this card was not read from a folder or an archive that can hold it; put the card in a file beside the graph`,
      card.file,
    );
  }
  const { bytes, label } = await read(spec.file);
  const model = await loadPolicyModel(bytes, { device: 'cpu', label, slot: opts.slot ?? 0, ...(opts.timeoutSeconds === undefined ? {} : { timeoutSeconds: opts.timeoutSeconds }) });
  try {
    return new FeatureGraph(label, spec, bindFeatureGraph(model, spec, card, label), model, card);
  } catch (err) {
    await model.release();
    throw err;
  }
}

/**
 * A reader of files beside a card in an archive: `cardDir` is the folder of the card (or, for a card
 * inline in the training summary, of the model) inside the archive. The card's path is already
 * checked to stay inside that folder (core/card.ts).
 */
export function archiveCardFiles(reader: Pick<ArchiveReader, 'files' | 'read'>, source: string, cardDir: string): CardFileReader {
  return async (rel) => {
    const p = cardDir === '' || cardDir === '.' ? rel : `${cardDir}/${rel}`;
    if (!reader.files.some((f) => f.path === p)) {
      throw inputError(`${source}: the card's observation.feature_graph.file names ${p}, which is not in the archive; put the exported feature graph beside the card`, p);
    }
    return { bytes: new Uint8Array(await reader.read(p)), label: p };
  };
}

/** A reader of files beside a card file on disk, read as untrusted files inside `root` (src/util/safe-read.ts). */
export function folderCardFiles(cardPath: string, root: string): CardFileReader {
  return async (rel) => {
    const file = join(dirname(cardPath), rel);
    try {
      const bytes = await readUntrustedFile(file, {
        root: enclosingRoot(file, root),
        what: 'feature graph',
        maxBytes: MAX_MODEL_BYTES,
        tooLarge: (size) => modelTooLarge(file, size),
      });
      return { bytes: new Uint8Array(bytes), label: file };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw inputError(`${cardPath}: observation.feature_graph.file names ${file}, which does not exist; put the exported feature graph beside the card`, file, err);
      }
      throw err;
    }
  };
}
