/**
 * The bundled example is reproducible from code we own: buildExample over the vendored hourly bars
 * gives the committed zip and the derived bar files byte for byte, so they never drift silently.
 * (To regenerate after an intended change: `npm run build && npm run example:build`.)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_NAME, buildExample, type ExampleOutput } from '../src/devtools/example-archive.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, REPO } from './helpers/e2e.js';

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

describe('the bundled example', () => {
  let built: ExampleOutput;
  beforeAll(() => {
    built = buildExample(readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv'), 'utf8'));
  });

  it('is the file the README points at', () => {
    expect(path.join(REPO, 'examples', ARCHIVE_NAME)).toBe(EXAMPLE_ZIP);
  });

  it('buildExample reproduces the committed zip byte for byte', () => {
    const committed = new Uint8Array(readFileSync(EXAMPLE_ZIP));
    // Compare entry by entry first, so a drift names the file that changed.
    const want = unzipSync(committed);
    const got = unzipSync(built.archive);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const name of Object.keys(want)) expect(sha(got[name]!), name).toBe(sha(want[name]!));
    expect(built.archive.length).toBe(committed.length);
    expect(sha(built.archive)).toBe(sha(committed));
  });

  it('buildExample reproduces the derived 2Hour, 4Hour and 1Day bar files byte for byte', () => {
    expect(Object.keys(built.bars).sort()).toEqual(['BTCUSD_1Day.csv', 'BTCUSD_2Hour.csv', 'BTCUSD_4Hour.csv']);
    for (const [name, text] of Object.entries(built.bars)) {
      expect(text === readFileSync(path.join(EXAMPLE_DATA, name), 'utf8'), `${name} differs from examples/data/${name}`).toBe(true);
    }
  });

  it('is deterministic: two builds are identical', () => {
    const again = buildExample(readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv'), 'utf8'));
    expect(sha(again.archive)).toBe(sha(built.archive));
    expect(again.bars).toEqual(built.bars);
  });

  it('the vendored hourly bars are the ones PROVENANCE.md names', () => {
    const provenance = readFileSync(path.join(EXAMPLE_DATA, 'PROVENANCE.md'), 'utf8');
    const hourly = readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv'));
    expect(provenance).toContain(sha(hourly));
  });
});
