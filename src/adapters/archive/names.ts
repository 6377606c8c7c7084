/**
 * Entry-name rules shared by zip entries and folder contents (threats.md Z1).
 *
 * We never write entries to disk, but the names reach the rest of policy-gate (reports, manifests,
 * model ids), and a folder and its zip must be accepted alike, so a name has to be a plain relative
 * posix path: the Go `filepath.IsLocal` rules plus yauzl's `validateFileName`, checked on the whole
 * name rather than with a prefix test (which fails at the directory boundary, `../out2`).
 */
import { posix } from 'node:path';

export interface NameProblem {
  /** Completes "entry "<name>" ...". */
  reason: string;
  /** What the user should do about it. */
  advice: string;
}

const REBUILD_RELATIVE = 'Rebuild the archive with relative paths.';

/**
 * Checks one name; `undefined` means it is safe. A single trailing "/" (a zip directory entry) is
 * allowed; everything before it must be a relative path of non-empty segments other than "." and "..".
 */
export function checkEntryName(name: string): NameProblem | undefined {
  if (name === '') {
    return { reason: 'has an empty name', advice: 'Rebuild the archive with a tool that names every entry.' };
  }
  if (name.includes('\0')) {
    return { reason: 'contains a NUL byte', advice: REBUILD_RELATIVE };
  }
  // Control characters have no place in a file name, and a newline would make the folder digest
  // ("<sha256>  <path>\n" lines) ambiguous.
  if (/[\u0001-\u001f\u007f]/.test(name)) {
    return { reason: 'contains a control character', advice: 'Rename the file and rebuild the archive.' };
  }
  if (name.includes('\\')) {
    return {
      reason: 'contains a backslash',
      advice: 'Rebuild the archive with "/" as the path separator (Python zipfile, 7-Zip and zip -r do), and rename any file with "\\" in its name.',
    };
  }
  if (name.startsWith('/')) {
    return { reason: 'is an absolute path', advice: REBUILD_RELATIVE };
  }
  if (/^[A-Za-z]:/.test(name)) {
    return { reason: 'starts with a drive letter', advice: REBUILD_RELATIVE };
  }
  const body = name.endsWith('/') ? name.slice(0, -1) : name;
  for (const segment of body.split('/')) {
    if (segment === '..') {
      return { reason: 'escapes the archive root (a ".." segment)', advice: REBUILD_RELATIVE };
    }
    if (segment === '.') {
      return { reason: 'has a "." segment', advice: 'Rebuild the archive with relative paths without "./".' };
    }
    if (segment === '') {
      return { reason: 'has an empty path segment ("//")', advice: REBUILD_RELATIVE };
    }
  }
  // The rules above already imply this; it is the property the rules exist for, so check it directly.
  const resolved = posix.join('/root', body);
  if (!resolved.startsWith('/root/') || posix.normalize(body) !== body) {
    return { reason: 'is not a plain relative path', advice: REBUILD_RELATIVE };
  }
  return undefined;
}

/** How names appear in messages: quoted, with NUL and control characters escaped. */
export function quoteName(name: string): string {
  return JSON.stringify(name);
}
