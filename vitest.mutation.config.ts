import { defineConfig } from 'vitest/config';

// The tests that pin the rules of the modules stryker.config.json mutates: unit tests that run in
// seconds (the end-to-end suite is CI's; a mutant is judged by these).
export default defineConfig({
  test: {
    include: [
      'test/gating.test.ts',
      'test/decide.test.ts',
      'test/folds.test.ts',
      'test/metrics.test.ts',
      'test/simulate.test.ts',
      'test/features.test.ts',
      'test/indicators.test.ts',
      'test/observation.test.ts',
      'test/actions.test.ts',
      'test/evidence.test.ts',
    ],
    testTimeout: 30_000,
    pool: 'forks',
  },
});
