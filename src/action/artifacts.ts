/**
 * Artifacts, both ways, through @actions/artifact.
 *
 * Download (workflow_run): the training-archive artifact of the triggering run is found and fetched
 * through GitHub's public REST API (`findBy`: the token needs `actions: read`). Every call is made under
 * the action's retry and rate-limit policy (`artifactRequest`): the library retries its listing and its
 * blob download itself, but not the download redirect (`GET /repos/{owner}/{repo}/actions/artifacts/{id}/zip`),
 * whose 500 or 429 would otherwise fail the run; a retried download asks for a fresh redirect (signed
 * URLs expire). The bytes are untrusted
 * (threats.md G2): they go into a fresh mkdtemp folder under RUNNER_TEMP, never into the workspace;
 * the artifact zip is saved as it is (`skipDecompress`), never extracted to disk, and read by the same
 * hardened archive reader as any other archive. Nothing from it is ever executed. An artifact that
 * holds one .zip (upload-artifact of a training zip) is unwrapped in memory, within the archive
 * reader's size caps, and that inner zip is validated.
 *
 * Upload (the report): @actions/artifact talks to the Actions results service, which needs
 * ACTIONS_RUNTIME_TOKEN and ACTIONS_RESULTS_URL. The runner gives those to JavaScript and container
 * actions but not to composite-action `run:` steps (actions/runner#3046), which is how action.yml
 * starts this program; so there the upload is done by action.yml's next step
 * (actions/upload-artifact, `if: always()`), and this module only uploads when the variables are
 * present (e.g. dist/index.js run as a JavaScript action).
 */
import { lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ArtifactNotFoundError, DefaultArtifactClient } from '@actions/artifact';
import { openArchive } from '../adapters/archive/index.js';
import { errorMessage, infraError, inputError } from '../core/errors.js';
import type { RepoRef } from './context.js';
import { withRetries } from './github.js';

/**
 * One @actions/artifact call under the action's retry policy (./github.ts withRetries): a 5xx or a
 * network failure is retried after 1, 2 and 4 s, a 429 or 403 with retry-after waited out. "No such
 * artifact" is an answer, not a failure.
 */
export function artifactRequest<T>(what: string, call: () => Promise<T>, log: (line: string) => void): Promise<T> {
  return withRetries(what, call, { log, retryable: (err) => !(err instanceof ArtifactNotFoundError) });
}

export interface DownloadedArchive {
  /** The archive to validate: the saved artifact zip, or the zip it wrapped. */
  path: string;
  artifactId: number;
  artifactName: string;
  runId: number;
  /** The digest GitHub recorded at upload ("sha256:…"), checked against the download; null when GitHub has none. */
  digest: string | null;
  tempDir: string;
}

export async function downloadTrainingArchive(opts: { token: string; repo: RepoRef; runId: number; name: string; runnerTemp: string; log: (line: string) => void }): Promise<DownloadedArchive> {
  const client = new DefaultArtifactClient();
  const findBy = { token: opts.token, workflowRunId: opts.runId, repositoryOwner: opts.repo.owner, repositoryName: opts.repo.repo };
  let artifact;
  try {
    ({ artifact } = await artifactRequest(`listing the artifacts of run ${opts.runId}`, () => client.getArtifact(opts.name, { findBy }), opts.log));
  } catch (err) {
    if (err instanceof ArtifactNotFoundError) {
      throw inputError(`workflow run ${opts.runId} has no artifact named "${opts.name}" (expired, not uploaded, or another name: set the artifact-name input)`, 'input artifact-name', err);
    }
    throw infraError(`could not list the artifacts of workflow run ${opts.runId}: ${errorMessage(err)}`, 'artifact', err);
  }
  const tempDir = await mkdtemp(join(opts.runnerTemp, 'policy-gate-artifact-'));
  opts.log(`downloading artifact "${artifact.name}" (id ${artifact.id}, ${artifact.size} bytes) of run ${opts.runId} into ${tempDir}`);
  let res;
  try {
    const id = artifact.id;
    const expected = artifact.digest ? { expectedHash: artifact.digest } : {};
    res = await artifactRequest(
      `downloading artifact ${id}`,
      async () => {
        // A retry starts over in an empty folder.
        for (const e of await readdir(tempDir)) await rm(join(tempDir, e), { recursive: true, force: true });
        return client.downloadArtifact(id, { path: tempDir, findBy, skipDecompress: true, ...expected });
      },
      opts.log,
    );
  } catch (err) {
    throw infraError(`could not download artifact "${artifact.name}" (id ${artifact.id}): ${errorMessage(err)}`, 'artifact', err);
  }
  if (res.digestMismatch) {
    throw inputError(
      `artifact "${artifact.name}" (id ${artifact.id}): the downloaded bytes do not match the digest GitHub recorded at upload (${artifact.digest}); refusing to validate them`,
      'artifact',
    );
  }
  const saved = await singleFile(tempDir, artifact.name);
  const path = await unwrapNestedZip(saved, tempDir);
  return { path, artifactId: artifact.id, artifactName: artifact.name, runId: opts.runId, digest: artifact.digest ?? null, tempDir };
}

async function singleFile(dir: string, name: string): Promise<string> {
  const entries = await readdir(dir);
  const files: string[] = [];
  for (const e of entries) {
    const st = await lstat(join(dir, e));
    if (st.isFile()) files.push(join(dir, e));
  }
  if (files.length !== 1 || entries.length !== 1) {
    throw inputError(`artifact "${name}": expected one downloaded file, found ${entries.length} entries`, 'artifact');
  }
  return files[0]!;
}

/** The artifact zip itself, or — when its only entry is a .zip — that inner zip, written beside it. */
async function unwrapNestedZip(saved: string, tempDir: string): Promise<string> {
  const outer = await openArchive(saved);
  try {
    const only = outer.files.length === 1 ? outer.files[0]!.path : null;
    if (only === null || !/\.zip$/i.test(only)) return saved;
    const bytes = await outer.read(only);
    const innerDir = join(tempDir, 'inner');
    await mkdir(innerDir);
    const inner = join(innerDir, basename(only).replace(/[^A-Za-z0-9._-]/g, '_'));
    await writeFile(inner, bytes, { flag: 'wx' });
    return inner;
  } finally {
    await outer.close();
  }
}

export type UploadOutcome = { kind: 'uploaded'; id: number; size: number | null } | { kind: 'skipped'; reason: string } | { kind: 'failed'; reason: string };

export function canUploadArtifacts(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env['ACTIONS_RUNTIME_TOKEN'] && env['ACTIONS_RESULTS_URL']);
}

/** Every file under `dir` (the report folder: report.* and equity/*.csv). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Uploads the whole report folder, as action.yml's upload step would. */
export async function uploadReport(name: string, reportDir: string, env: NodeJS.ProcessEnv): Promise<UploadOutcome> {
  if (!canUploadArtifacts(env)) {
    return { kind: 'skipped', reason: 'ACTIONS_RUNTIME_TOKEN / ACTIONS_RESULTS_URL are not set (the runner gives them to JavaScript actions, not to composite run steps)' };
  }
  try {
    const res = await new DefaultArtifactClient().uploadArtifact(name, await filesUnder(reportDir), reportDir, {});
    if (res.id === undefined) return { kind: 'failed', reason: 'the artifact service returned no artifact id' };
    return { kind: 'uploaded', id: res.id, size: res.size ?? null };
  } catch (err) {
    return { kind: 'failed', reason: errorMessage(err) };
  }
}
