/**
 * Caps that bound the work and memory an archive can demand (threats.md Z3).
 *
 * The defaults are sized for real training archives — 60 ONNX models of 6-10 MB each, a summary, cards
 * and checkpoints, well under 1 GB in all — with an order of magnitude of headroom, while still
 * refusing anything that would exhaust a CI runner (7 GB of RAM on a standard GitHub-hosted runner).
 */
export interface ArchiveLimits {
  /** Entries in the zip's central directory (directories included), or files and folders in a folder. */
  maxEntries: number;
  /** Uncompressed size of one file. `read()` holds one file in memory, so this bounds its memory. */
  maxEntryBytes: number;
  /** Uncompressed size of all files together. */
  maxTotalBytes: number;
  /**
   * Uncompressed / compressed size of one zip entry. Applied only to entries larger than
   * RATIO_MIN_BYTES: small JSON files routinely compress 20-50:1 and cannot hurt anyone.
   */
  maxRatio: number;
  /** Size of the zip file itself. */
  maxArchiveBytes: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * - maxEntries 10,000: a training run has tens to hundreds of files; 10,000 still allows a checkpoint
 *   per validation point for every model, and keeps the central-directory walk and the per-entry
 *   local-header checks well under a second.
 * - maxEntryBytes 512 MiB: 50× the largest model we expect, and small enough to hold in memory.
 * - maxTotalBytes 4 GiB and maxArchiveBytes 4 GiB: the most a runner's disk and time budget should
 *   spend on one archive (and the zip32 size limit, so zip64 is only needed by hostile archives).
 * - maxRatio 200: deflate's ceiling is about 1032:1 (zero-filled data); float32 weights compress
 *   about 1.1:1 and even sparse ONNX files stay far below 200:1, while a bomb needs the extremes.
 */
export const DEFAULT_LIMITS: ArchiveLimits = Object.freeze({
  maxEntries: 10_000,
  maxEntryBytes: 512 * MiB,
  maxTotalBytes: 4 * GiB,
  maxRatio: 200,
  maxArchiveBytes: 4 * GiB,
});

/** Entries at most this large (uncompressed) are exempt from the ratio check. */
export const RATIO_MIN_BYTES = 1 * MiB;

/** The defaults with the caller's overrides; each value must be a positive number. */
export function resolveLimits(overrides: Partial<ArchiveLimits> = {}): ArchiveLimits {
  const limits: ArchiveLimits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ArchiveLimits)[]) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw new RangeError(`archive limit ${key} must be a positive number, got ${String(value)}`);
    }
    limits[key] = value;
  }
  return limits;
}

/** "512 MiB", "1.5 GiB", "900 bytes": for messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${+(bytes / GiB).toFixed(2)} GiB`;
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(2)} KiB`;
  return `${bytes} bytes`;
}
