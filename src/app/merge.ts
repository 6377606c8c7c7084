/**
 * `policy-gate merge <partial report.json files, or folders of them>` (docs/sharding.md): reads the
 * partial reports the shards wrote and merges them (core/merge.ts) into the report an unsharded
 * `validate` writes.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, inputError, usageError } from '../core/errors.js';
import { prepareJson } from '../core/json.js';
import { mergePartialReports, type MergeExpectations, type MergeOutcome, type PartialInput } from '../core/merge.js';
import type { Report } from '../core/report.js';

/** How deep a folder is searched for report.json files (download-artifact puts each in <folder>/<artifact>/). */
const MAX_DEPTH = 4;

export function parsePartial(label: string, text: string): PartialInput {
  const body = prepareJson(text, label);
  try {
    return { label, doc: JSON.parse(body) };
  } catch (err) {
    throw inputError(`${label}: not valid JSON (${errorMessage(err)}); merge the report.json files the shards wrote`, label, err);
  }
}

function isPartialDoc(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && 'shard' in doc;
}

async function reportFilesUnder(dir: string, depth: number, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isFile() && e.name === 'report.json') out.push(p);
    else if (e.isDirectory() && depth < MAX_DEPTH) await reportFilesUnder(p, depth + 1, out);
  }
}

/**
 * The partial reports named on the command line: a file is read as given (it must be a partial
 * report); a folder is searched for report.json files, and those without a shard section (a merged
 * report written into the same folder, say) are skipped with a log line.
 */
export async function readPartials(paths: readonly string[], log: (line: string) => void): Promise<PartialInput[]> {
  if (paths.length === 0) throw usageError('"merge" needs the partial reports: report.json files written by validate --shard i/n, or folders holding them', 'merge');
  const out: PartialInput[] = [];
  for (const p of paths) {
    const st = await lstat(p).catch(() => null);
    if (!st) throw usageError(`${p} does not exist; give the partial report.json files of the shards, or a folder holding them`, p);
    if (st.isDirectory()) {
      const files: string[] = [];
      await reportFilesUnder(p, 1, files);
      let found = 0;
      for (const f of files) {
        const partial = parsePartial(f, await readFile(f, 'utf8'));
        if (!isPartialDoc(partial.doc)) {
          log(`${f}: not a partial report (no shard section); skipped`);
          continue;
        }
        out.push(partial);
        found++;
      }
      log(`${p}: ${found} partial report(s)`);
    } else if (st.isFile()) {
      out.push(parsePartial(p, await readFile(p, 'utf8')));
    } else {
      throw usageError(`${p} is neither a file nor a folder`, p);
    }
  }
  if (out.length === 0) throw inputError(`no partial reports found in ${paths.join(', ')}: each shard writes report.json with a "shard" section (validate --shard i/n --out <dir>)`, paths[0]);
  return out;
}

/** Reads and merges; logs which shards were found and which are missing. */
export async function runMerge(paths: readonly string[], opts: { now: Date; log: (line: string) => void; expected?: MergeExpectations; empty?: Report }): Promise<MergeOutcome> {
  const partials = await readPartials(paths, opts.log);
  return mergeAndLog(partials, opts);
}

export function mergeAndLog(partials: PartialInput[], opts: { now: Date; log: (line: string) => void; expected?: MergeExpectations; empty?: Report }): MergeOutcome {
  const outcome = mergePartialReports(partials, { now: opts.now, ...(opts.expected ? { expected: opts.expected } : {}), ...(opts.empty ? { empty: opts.empty } : {}) });
  const n = outcome.count;
  for (const p of outcome.present) opts.log(`shard ${p.index}/${n}: ${p.label}`);
  for (const m of outcome.missing) {
    const why = m.reason === 'absent' ? 'no partial report' : `stopped before reading the archive (${m.label})`;
    opts.log(`shard ${m.index}/${n}: MISSING — ${why}${m.models.length ? `; not evaluated: ${m.models.join(', ')}` : ''}`);
  }
  opts.log(`merged ${outcome.report.models.length} model(s) from ${outcome.present.length} of ${n ?? 0} shard(s): ${outcome.report.conclusion}`);
  return outcome;
}
