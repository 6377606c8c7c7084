/**
 * Artifacts of a workflow run, listed and downloaded through GitHub's public REST API with the run's
 * token (the job needs `actions: read`) — every request under the action's retry and rate-limit policy
 * (./github.ts): the list, the download request (`GET /repos/{owner}/{repo}/actions/artifacts/{id}/zip`,
 * answered with a redirect to a signed blob URL) and the blob itself. A 500, a reset connection, or a
 * 429 / 403 with `retry-after` is waited out and retried; a blob download that fails asks for a fresh
 * redirect (signed URLs expire within minutes).
 *
 * The zip is saved as it is, never extracted, into `dir`, and hashed on the way: a digest GitHub
 * recorded at upload that does not match refuses the bytes.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { RepoRef } from './context.js';
import { httpError, withRetries, type GitHubClient } from './github.js';

export interface RunArtifact {
  id: number;
  name: string;
  size: number;
  /** "sha256:<hex>" as GitHub recorded it at upload; null when it has none. */
  digest: string | null;
}

/** The artifacts of run `runId` (every page), optionally only those named `name`, newest first. */
export async function listRunArtifacts(gh: GitHubClient, repo: RepoRef, runId: number, name?: string): Promise<RunArtifact[]> {
  const list = await gh.paginate(gh.rest.actions.listWorkflowRunArtifacts, { ...repo, run_id: runId, per_page: 100, ...(name !== undefined ? { name } : {}) });
  return list
    .filter((a) => name === undefined || a.name === name)
    .map((a) => ({ id: a.id, name: a.name, size: a.size_in_bytes, digest: (a as { digest?: string | null }).digest ?? null }))
    .sort((a, b) => b.id - a.id);
}

/** The newest artifact of each name (a re-run job uploads again under the same name). */
export function newestOfEachName(list: RunArtifact[]): RunArtifact[] {
  const seen = new Map<string, RunArtifact>();
  for (const a of list) if (!seen.has(a.name) || seen.get(a.name)!.id < a.id) seen.set(a.name, a);
  return [...seen.values()];
}

export interface SavedArtifact {
  path: string;
  /** "sha256:<hex>" of the bytes saved. */
  digest: string;
  digestMismatch: boolean;
}

/** Downloads `artifact`'s zip into `dir` as `artifact.zip`, following the redirect with retries. */
export async function downloadArtifactZip(
  gh: GitHubClient,
  repo: RepoRef,
  artifact: RunArtifact,
  dir: string,
  opts: { log?: (line: string) => void; sleep?: (ms: number) => Promise<void> } = {},
): Promise<SavedArtifact> {
  const path = join(dir, 'artifact.zip');
  const digest = await withRetries(
    `artifact ${artifact.id} download`,
    async () => {
      // Retried by the client itself (5xx, rate limits); the answer is a redirect, not followed by octokit.
      const res = await gh.rest.actions.downloadArtifact({ ...repo, artifact_id: artifact.id, archive_format: 'zip', request: { redirect: 'manual' } });
      const location = res.headers.location;
      if ((res.status as number) !== 302 || !location) throw httpError(`GitHub answered ${res.status} without a download location`, undefined, null);
      // The signed blob URL: no token goes there.
      const blob = await fetch(location, { signal: AbortSignal.timeout(10 * 60_000) });
      if (!blob.ok || !blob.body) {
        await blob.body?.cancel();
        throw httpError(`the artifact's blob download answered ${blob.status}`, blob.status, blob.headers);
      }
      const hash = createHash('sha256');
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          done(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(blob.body as unknown as WebReadableStream), tap, createWriteStream(path));
      return `sha256:${hash.digest('hex')}`;
    },
    { log: opts.log, ...(opts.sleep ? { sleep: opts.sleep } : {}) },
  );
  return { path, digest, digestMismatch: artifact.digest !== null && artifact.digest !== digest };
}
