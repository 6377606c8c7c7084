/**
 * dist/index.js is what `uses: <owner>/policy-gate@v1` runs, so it must be exactly what the sources
 * build to: rebuild into a temp file and compare byte for byte (a stale bundle fails CI).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;

it('the committed dist/index.js is the build of the current sources (npm run build:dist)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-dist-'));
  try {
    const out = join(dir, 'index.js');
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-dist.mjs'), '--outfile', out], { cwd: ROOT, stdio: 'pipe' });
    const fresh = readFileSync(out);
    const committed = readFileSync(join(ROOT, 'dist/index.js'));
    expect(fresh.length, 'dist/index.js is stale: run `npm run build:dist` and commit it').toBe(committed.length);
    expect(fresh.equals(committed), 'dist/index.js is stale: run `npm run build:dist` and commit it').toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
