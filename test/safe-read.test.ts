/** src/util/safe-read.ts: which folder a file's path is checked inside. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { enclosingRoot, readUntrustedText } from '../src/util/safe-read.js';
import { cleanupTempDirs, tempDir } from './helpers/e2e.js';

afterAll(() => cleanupTempDirs());

describe('enclosingRoot', () => {
  it('reads a relative path as the file system does (from the process working folder), whatever the workspace', async () => {
    // The workspace is a different folder from the process working folder, at another depth: the
    // relative path must not be resolved against the workspace.
    const elsewhere = tempDir('safe-elsewhere-');
    mkdirSync(path.join(elsewhere, 'm'));
    const card = path.join(elsewhere, 'm', 'card.json');
    writeFileSync(card, '{}');
    const workspace = path.join(tempDir('safe-ws-'), 'a', 'b', 'c');
    mkdirSync(workspace, { recursive: true });
    const rel = path.relative(process.cwd(), card);
    expect(rel.startsWith('..') || !path.isAbsolute(rel)).toBe(true);
    expect(enclosingRoot(rel, workspace)).toBe(path.dirname(card));
    expect(await readUntrustedText(rel, { root: enclosingRoot(rel, workspace), what: 'policy card' })).toBe('{}');
  });

  it('a file inside the workspace is checked from the workspace down', () => {
    const ws = tempDir('safe-ws2-');
    expect(enclosingRoot(path.join(ws, 'x', 'card.json'), ws)).toBe(ws);
  });
});
