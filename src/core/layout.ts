/**
 * Finding things inside a training archive by name, at any depth (SPEC section 2): the one training
 * summary, the optional manifest, and for each summary entry its model file, policy card and checkpoints.
 * Pure: works on the archive's file list only.
 */
import { inputError } from './errors.js';
import type { ArchiveFile } from './types.js';
import { describeJsonValue, type SummaryEntry } from './summary.js';

export const PYTORCH_ADVICE = 'PyTorch checkpoint: export it to ONNX (torch.onnx.export) — see docs/archive-format.md#exporting-to-onnx';

const base = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const dir = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const normalise = (p: string): string =>
  p
    .replace(/\\/g, '/')
    .replace(/^\.\/+/, '')
    .replace(/^\/+/, '');

export function findSummary(files: readonly ArchiveFile[], source: string): string {
  const found = files.map((f) => f.path).filter((p) => /^training_summary.*\.json$/i.test(base(p)) || base(p).toLowerCase() === 'summary.json');
  if (found.length === 0) {
    throw inputError(`${source}: no training summary found (expected one training_summary*.json or summary.json at any depth)`, source);
  }
  if (found.length > 1) {
    throw inputError(`${source}: ${found.length} training summaries found (${found.join(', ')}); an archive must hold exactly one`, source);
  }
  return found[0]!;
}

export function findManifest(files: readonly ArchiveFile[], source: string): string | null {
  const found = files.map((f) => f.path).filter((p) => base(p).toLowerCase() === 'manifest.json');
  if (found.length > 1) {
    throw inputError(`${source}: ${found.length} manifest.json files found (${found.join(', ')}); keep one`, source);
  }
  return found[0] ?? null;
}

/**
 * Locate a file the summary names. A summary path is relative to the training repo, and the archive
 * may add a prefix (a Colab zip nests everything under `Alpaca_trading/`), so an exact match, then a
 * path-suffix match, then a match on the file name alone are tried, in that order.
 */
export function resolvePath(files: readonly ArchiveFile[], wanted: string): { path: string | null; ambiguous: string[] } {
  const w = normalise(wanted);
  const paths = files.map((f) => f.path);
  if (paths.includes(w)) return { path: w, ambiguous: [] };
  const suffix = paths.filter((p) => p.endsWith(`/${w}`));
  if (suffix.length === 1) return { path: suffix[0]!, ambiguous: [] };
  if (suffix.length > 1) return { path: null, ambiguous: suffix };
  const byName = paths.filter((p) => base(p) === base(w));
  if (byName.length === 1) return { path: byName[0]!, ambiguous: [] };
  return { path: null, ambiguous: byName };
}

export interface ModelLocation {
  /** The ONNX file, when there is one. */
  onnx: string | null;
  /** A `.pt`/`.pth` file found instead of an ONNX model. */
  pytorch: string | null;
  /** The `<stem>.card.json` beside the model, if present. */
  cardFile: string | null;
  /** Why the model cannot be evaluated, when it cannot. */
  problem: string | null;
}

function cardBeside(files: readonly ArchiveFile[], modelPath: string): string | null {
  const stem = base(modelPath).replace(/\.(onnx|pt|pth)$/i, '');
  const d = dir(modelPath);
  const want = d ? `${d}/${stem}.card.json` : `${stem}.card.json`;
  return files.some((f) => f.path === want) ? want : null;
}

export function locateModel(files: readonly ArchiveFile[], wanted: string | null, id: string): ModelLocation {
  const tries = wanted ? [wanted] : [];
  if (!wanted || base(normalise(wanted)) !== `${id}.onnx`) tries.push(`${id}.onnx`);
  for (const t of tries) {
    if (!/\.onnx$/i.test(t)) continue;
    const r = resolvePath(files, t);
    if (r.path) return { onnx: r.path, pytorch: null, cardFile: cardBeside(files, r.path), problem: null };
    if (r.ambiguous.length > 1) {
      return {
        onnx: null,
        pytorch: null,
        cardFile: null,
        problem: `model file ${t} is ambiguous: ${r.ambiguous.join(', ')}; name the full path in the summary's "model"`,
      };
    }
  }
  // No ONNX: is there a PyTorch checkpoint under the same name?
  const stems = new Set([id, ...(wanted ? [base(normalise(wanted)).replace(/\.(onnx|pt|pth)$/i, '')] : [])]);
  const pt = files.find((f) => /\.(pt|pth)$/i.test(f.path) && stems.has(base(f.path).replace(/\.(pt|pth)$/i, '')));
  if (pt) return { onnx: null, pytorch: pt.path, cardFile: cardBeside(files, pt.path), problem: `${pt.path}: ${PYTORCH_ADVICE}` };
  return {
    onnx: null,
    pytorch: null,
    cardFile: null,
    problem: `model file not found in the archive: expected ${wanted ? `${wanted} or ` : ''}${id}.onnx`,
  };
}

/** ONNX and PyTorch files that no summary entry or checkpoint refers to (reported, never evaluated). */
export function unreferencedModels(files: readonly ArchiveFile[], referenced: ReadonlySet<string>): string[] {
  return files
    .map((f) => f.path)
    .filter((p) => /\.(onnx|pt|pth)$/i.test(p) && !referenced.has(p))
    .sort();
}

export function checkpointFor(files: readonly ArchiveFile[], entry: SummaryEntry, index: number): string | null {
  const cp = entry.checkpoints.find((c) => c.index === index);
  if (!cp?.model) return null;
  const r = resolvePath(files, cp.model);
  return r.path && /\.onnx$/i.test(r.path) ? r.path : null;
}

/** The manifest's `{ files: { path: sha256 } }`, validated. Paths are relative to the manifest's folder or the root. */
export function parseManifest(doc: unknown, file: string): Map<string, string> {
  const files = (doc as { files?: unknown } | null)?.files;
  if (!doc || typeof doc !== 'object' || !files || typeof files !== 'object' || Array.isArray(files)) {
    throw inputError(`${file}: a manifest must be { "files": { "<path in archive>": "<sha256 hex>" } }`, file);
  }
  const out = new Map<string, string>();
  for (const [p, h] of Object.entries(files as Record<string, unknown>)) {
    if (typeof h !== 'string' || !/^[0-9a-f]{64}$/i.test(h)) {
      throw inputError(`${file}: files["${p}"] must be a 64-digit sha256 hex string, got ${describeJsonValue(h)}`, file);
    }
    out.set(normalise(p), h.toLowerCase());
  }
  return out;
}

export function manifestTarget(files: readonly ArchiveFile[], manifestPath: string, listed: string): string | null {
  const d = dir(manifestPath);
  const candidates = d ? [`${d}/${listed}`, listed] : [listed];
  for (const c of candidates) if (files.some((f) => f.path === c)) return c;
  return null;
}
