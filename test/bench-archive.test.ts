/**
 * The benchmark archive generator (src/devtools/bench-archive.ts) writes an archive that the pipeline
 * accepts: every model APPROVED by gating, cards that parse and fit their models, bars for every
 * symbol. A small version is validated end to end here; the benchmark itself (npm run bench) is never
 * run by the tests, and nothing here measures time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runGate } from '../src/app/gate.js';
import { runValidate } from '../src/app/validate.js';
import { defaultConfig } from '../src/config/schema.js';
import { featureKind, featureLabel, featureSpan } from '../src/core/features.js';
import { BENCH_ACTIONS, benchFeatures, writeBenchArchive } from '../src/devtools/bench-archive.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const BTC = readFileSync(path.join(REPO, 'examples', 'data', 'BTCUSD_1Hour.csv'), 'utf8');
const dirs: string[] = [];
const temp = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'policy-gate-bench-test-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('benchFeatures', () => {
  it('draws 59 distinct features, with the state features only when position-aware', () => {
    for (let i = 0; i < 20; i++) {
      const aware = benchFeatures(i, 59, true);
      const plain = benchFeatures(i, 59, false);
      for (const set of [aware, plain]) {
        expect(set).toHaveLength(59);
        expect(new Set(set.map(featureLabel)).size).toBe(59);
        // Warm-up fits in the vendored data: no feature reads more than 4 × 48 bars.
        expect(Math.max(...set.map(featureSpan))).toBeLessThanOrEqual(192);
      }
      expect(
        aware
          .filter((f) => featureKind(f) === 'state')
          .map((f) => f.name)
          .sort(),
      ).toEqual(['position', 'unrealized_return']);
      expect(plain.some((f) => featureKind(f) === 'state')).toBe(false);
    }
    // Models differ in their draw.
    expect(benchFeatures(0, 59, true).map(featureLabel)).not.toEqual(benchFeatures(1, 59, true).map(featureLabel));
  });
});

describe('writeBenchArchive', () => {
  it('writes an archive that gate approves and validate evaluates, for both kinds of card', async () => {
    for (const positionAware of [true, false]) {
      const root = temp();
      const bench = await writeBenchArchive(root, BTC, { models: 2, window: 4, features: 16, hidden: [8], positionAware });
      expect(bench.ids).toEqual(['SYM00USD_1Hour', 'SYM01USD_1Hour']);

      const config = defaultConfig();
      const gated = await runGate(bench.archiveDir, config, null, { now: new Date('2025-01-02T00:00:00Z'), log: () => {} });
      expect(gated.conclusion).toBe('success');
      expect(gated.models.map((m) => m.gating?.classification)).toEqual(['APPROVED', 'APPROVED']);
      expect(gated.models.every((m) => m.errors.length === 0)).toBe(true);

      config.data.source = 'csv';
      config.data.dir = bench.dataDir;
      const report = await runValidate(bench.archiveDir, config, null, {
        now: new Date('2025-01-02T00:00:00Z'),
        log: () => {},
        endMs: undefined,
        equityOut: null,
      });
      for (const m of report.models) {
        expect(m.errors).toEqual([]);
        expect(m.backtest?.bars).toBe(720);
        expect(m.walkForward?.folds).toHaveLength(5);
        expect(m.notes.some((n) => /1 observation parity checks passed/.test(n))).toBe(true);
      }
      const card = JSON.parse(readFileSync(bench.modelPaths[0]!.replace(/\.onnx$/, '.card.json'), 'utf8'));
      expect(card.action.meanings).toEqual([...BENCH_ACTIONS]);
      expect(card.observation.features.some((f: { name: string }) => f.name === 'position')).toBe(positionAware);
    }
  });
});
