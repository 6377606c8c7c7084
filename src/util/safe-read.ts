/**
 * Reading files from a folder someone else controls (a pull request's checkout: bars CSVs, the config
 * file, deployment configs, deployed models and cards), without following a symbolic link out of it.
 *
 * A pull request can commit `data/BTCUSD_4Hour.csv -> /proc/self/environ` (or `~/.git-credentials`,
 * `.npmrc`): a plain `readFile` follows it and the file's bytes end up quoted in an error message, in a
 * report and on GitHub. Here a file is read only when it is a **regular file reached without a
 * symbolic link in any path component below the folder the user named** (`root`):
 *
 * - every component from `root` down to the file is checked with `lstat` (a link is refused, naming it);
 * - the file is opened with O_NOFOLLOW (a link swapped in after the check fails to open) and
 *   O_NONBLOCK (opening a FIFO never blocks), and its open handle must be a regular file — FIFOs,
 *   devices, sockets and folders are refused — the same file the `lstat` saw (device and inode);
 * - a path that leaves `root` (`../x`, an absolute path elsewhere) is refused.
 *
 * The folder the user named may itself be reached through links (a checkout under a linked /tmp is
 * fine): only what lies below it is checked. A missing file is not a refusal: the ENOENT error is
 * rethrown as it is, so callers keep their own "does not exist" messages.
 */
import { constants, fstatSync, lstatSync, openSync, closeSync, readFileSync, type Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import path from 'node:path';
import { inputError, PolicyGateError } from '../core/errors.js';

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;

export interface SafeReadOptions {
  /**
   * The folder the user named: no path component below it may be a symbolic link, and the file must
   * lie inside it. Default: the file's own folder (only the file itself is checked).
   */
  root?: string;
  /** What the file is, for messages: "bars file", "policy card", "config file". */
  what: string;
  /** Refuse a file larger than this, from its size, before reading it: `tooLarge(size)` is thrown. */
  maxBytes?: number;
  tooLarge?: (size: number) => Error;
}

/** What kind of file `st` is, in words, for a refusal. */
function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * A file refused for what it is (a link, a FIFO, a device, a folder, outside its root): an input error
 * (exit 2). A run of one model (`backtest`) stops on it with exit 2 even where other problems with the
 * model's data are that model's error; in a validation it is the model's error like any bars problem.
 */
export class RefusedFileError extends PolicyGateError {
  constructor(message: string, file: string) {
    super('input', message, { subject: file });
  }
}

function refuse(what: string, file: string, problem: string, root: string): PolicyGateError {
  return new RefusedFileError(
    `${what} ${file} ${problem}; refusing to read it. policy-gate reads only regular files inside ${root}, ` + 'never through a symbolic link: put the file itself in its place.',
    file,
  );
}

/** The components of `file` below `root` (each as a path), or null when `file` is not inside `root`. */
function componentsBelow(root: string, file: string): string[] | null {
  const rel = path.relative(root, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
  const parts = rel.split(path.sep);
  const out: string[] = [];
  let at = root;
  for (const p of parts) {
    at = path.join(at, p);
    out.push(at);
  }
  return out;
}

/**
 * The file's bytes, read as described above. ENOENT (the file or a folder on its way is missing) is
 * rethrown unchanged; every other refusal is an input error naming the path and what to do.
 */
export async function readUntrustedFile(file: string, opts: SafeReadOptions): Promise<Buffer> {
  const root = opts.root ?? path.dirname(file);
  const absRoot = path.resolve(root);
  const absFile = path.resolve(file);
  const parts = componentsBelow(absRoot, absFile);
  if (parts === null) {
    throw new RefusedFileError(`${opts.what} ${file} lies outside ${root}; refusing to read it. Name a file inside ${root}.`, file);
  }
  let last: Stats | null = null;
  for (const p of parts) {
    const st = await lstat(p); // ENOENT propagates
    if (st.isSymbolicLink()) {
      const problem = p === absFile ? 'is a symbolic link' : `is reached through a symbolic link (${path.relative(absRoot, p)})`;
      throw refuse(opts.what, file, problem, root);
    }
    last = st;
  }
  if (!last!.isFile()) throw refuse(opts.what, file, `is ${kindOf(last!)}, not a regular file`, root);
  let fh;
  try {
    fh = await open(absFile, constants.O_RDONLY | NOFOLLOW | NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw refuse(opts.what, file, 'is a symbolic link', root);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw refuse(opts.what, file, `is ${kindOf(st)}, not a regular file`, root);
    if (st.ino !== last!.ino || st.dev !== last!.dev) {
      throw inputError(`${opts.what} ${file} was replaced while it was being opened; refusing to read it. Do not change the folder while policy-gate runs.`, file);
    }
    if (opts.maxBytes !== undefined && st.size > opts.maxBytes) {
      throw opts.tooLarge?.(st.size) ?? inputError(`${opts.what} ${file} is ${st.size} bytes, more than the limit of ${opts.maxBytes}; refusing to read it.`, file);
    }
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** `readUntrustedFile` as UTF-8 text. */
export async function readUntrustedText(file: string, opts: SafeReadOptions): Promise<string> {
  return (await readUntrustedFile(file, opts)).toString('utf8');
}

/**
 * The user's own file (the Alpaca keys file): symbolic links are followed — a mounted secret is often
 * one — but the file reached must be a regular file: a FIFO would block the run, a device or a folder
 * is not a keys file. Synchronous, like its caller. Errors are the system's (ENOENT, EACCES) or an
 * Error with code `ENOTREG` naming what the path is.
 */
export function readOwnFileSync(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const err = new Error(`${file} is ${kindOf(st)}, not a regular file`) as NodeJS.ErrnoException;
      err.code = 'ENOTREG';
      throw err;
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * The folder whose contents are checked for `file`: `base` (the workspace) when the file lies inside
 * it — so a linked folder on the way (`config -> /etc`) is refused too — else the file's own folder (a
 * path the user spelled out elsewhere is theirs). A relative `file` is taken as the file system opens
 * it, relative to this process's working folder (which need not be `base`).
 */
export function enclosingRoot(file: string, base: string): string {
  const abs = path.resolve(file);
  return componentsBelow(path.resolve(base), abs) === null ? path.dirname(abs) : base;
}

/**
 * Refuses a folder reached through a symbolic link below `root` (`examples/data -> /etc` in a pull
 * request's checkout): an input error naming the link. `folder` outside `root` is not checked.
 */
export function checkNoLinkBelow(root: string, folder: string, what: string): void {
  const absRoot = path.resolve(root);
  const parts = componentsBelow(absRoot, path.resolve(folder));
  for (const p of parts ?? []) {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return; // a missing folder is reported by the caller
    }
    if (st.isSymbolicLink()) {
      throw inputError(
        `${what}: ${folder} is reached through a symbolic link (${path.relative(absRoot, p)}); refusing it. ` +
          `policy-gate reads only regular files inside ${root}, never through a symbolic link: put the folder itself in its place.`,
        what,
      );
    }
  }
}
