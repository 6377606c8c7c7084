import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/schema.js';
import { loadConfig, parseConfigText } from '../src/config/load.js';
import { PolicyGateError } from '../src/core/errors.js';

function expectConfigError(text: string, file: string, pattern: RegExp): void {
  try {
    parseConfigText(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as PolicyGateError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected ${file} to be refused`);
}

describe('config file', () => {
  it('an empty file gives the defaults of SPEC sections 5–8', () => {
    const c = parseConfigText('', '.github/policy-gate.yml');
    expect(c).toEqual(defaultConfig());
    expect(c.gating.approved).toEqual({ fitness: 0.7, profitFactor: 1.8, consistency: 0.85, maxDrawdown: 0.08 });
    expect(c.backtest).toMatchObject({ days: 30, capital: 100000, fill: 'next_open', slippageBps: 5, minTradeValue: 1 });
    expect(c.backtest.feeBps).toEqual({ crypto: 25, us_equity: 0 });
    expect(c.walkForward).toEqual({ days: 180, folds: 5, embargoBars: 0 });
    expect(c.decision.required).toBe('PAPER');
    expect(c.decision.noObservationParityCap).toBe('PAPER');
    expect(c.runtime.device).toBe('auto');
  });

  it('reads every section from YAML; a preset then explicit thresholds on top', () => {
    const c = parseConfigText(
      `gating:
  preset: v4.1.0
  approved: { fitness: 0.4 }
  fitness_decline: 0.1
backtest:
  days: 14
  fee_bps: { crypto: 15 }
  fill: close
walk_forward: { days: 365, folds: 10, embargo_bars: 24 }
decision:
  required: LIVE
  no_observation_parity_cap: LIVE
  live: { min_positive_share: 0.9 }
data: { source: csv, dir: bars, feed: sip }
promotion: { paper: deploy/p.yml }
runtime: { device: cpu }
`,
      'cfg.yml',
    );
    expect(c.gating.preset).toBe('v4.1.0+custom');
    expect(c.gating.approved).toEqual({ fitness: 0.4, profitFactor: 1.4, consistency: 0.7, maxDrawdown: 0.1 });
    expect(c.gating.review.fitness).toBe(0.1);
    expect(c.gating.fitnessDecline).toBe(0.1);
    expect(c.backtest.days).toBe(14);
    expect(c.backtest.feeBps).toEqual({ crypto: 15, us_equity: 0 });
    expect(c.backtest.fill).toBe('close');
    expect(c.walkForward).toEqual({ days: 365, folds: 10, embargoBars: 24 });
    expect(c.decision.required).toBe('LIVE');
    expect(c.decision.noObservationParityCap).toBe('LIVE');
    expect(c.decision.live).toEqual({ minPositiveShare: 0.9, maxSharpeStd: 1 });
    expect(c.data).toMatchObject({ source: 'csv', dir: 'bars', feed: 'sip' });
    expect(c.promotion).toEqual({ paper: 'deploy/p.yml', live: 'deploy/live.json', modelsDir: 'models' });
    expect(c.runtime.device).toBe('cpu');
  });

  it('a single fee_bps number applies to both asset classes', () => {
    expect(parseConfigText('backtest: { fee_bps: 10 }', 'c.yml').backtest.feeBps).toEqual({ crypto: 10, us_equity: 10 });
  });

  it('accepts JSON', () => {
    expect(parseConfigText('{"walk_forward": {"folds": 3}}', 'c.json').walkForward.folds).toBe(3);
  });

  it.each([
    ['an unknown top-level key', 'backtests: {}', /c\.yml: unknown key "backtests"/],
    ['an unknown nested key', 'gating: { approved: { sharpe: 1 } }', /c\.yml: unknown key "gating\.approved\.sharpe"/],
    ['a wrong type', 'backtest: { days: "thirty" }', /c\.yml: "backtest\.days" must be a number > 0, got "thirty"/],
    ['a non-integer fold count', 'walk_forward: { folds: 2.5 }', /"walk_forward\.folds" must be an integer ≥ 1, got 2\.5/],
    ['an unknown preset', 'gating: { preset: v9 }', /"gating\.preset" must be one of v2\.4\.5 \| v4\.1\.0, got "v9"/],
    ['a bad enum', 'runtime: { device: gpu }', /"runtime\.device" must be one of auto \| cpu \| cuda, got "gpu"/],
    ['a bad tier', 'decision: { required: GOLD }', /"decision\.required" must be one of DROP \| RETRAIN \| PAPER \| LIVE/],
    ['a bad parity cap', 'decision: { no_observation_parity_cap: paper }', /"decision\.no_observation_parity_cap" must be one of DROP \| RETRAIN \| PAPER \| LIVE, got "paper"/],
    ['a fraction above 1', 'gating: { review: { consistency: 65 } }', /"gating\.review\.consistency" must be a number ≥ 0 ≤ 1, got 65/],
    ['APPROVED looser than REVIEW', 'gating: { approved: { max_drawdown: 0.5 } }', /"gating\.approved\.max_drawdown" is looser than "gating\.review\.max_drawdown"/],
    [
      'LIVE looser than PAPER (Sharpe std)',
      'decision: { live: { max_sharpe_std: 3 } }',
      /"decision\.live\.max_sharpe_std" \(3\) is above "decision\.paper\.max_sharpe_std" \(2\); LIVE must be at least as strict as PAPER/,
    ],
    ['a section that is not a mapping', 'backtest: 5', /"backtest" must be a mapping, got 5/],
    ['malformed YAML', 'gating: [', /c\.yml: not valid YAML/],
    ['a duplicate key', 'backtest: { days: 1 }\nbacktest: { days: 2 }', /c\.yml: not valid YAML/],
  ])('refuses %s, naming the file and key', (_name, text, pattern) => {
    expectConfigError(text, 'c.yml', pattern);
  });

  it('uses the defaults when .github/policy-gate.yml is absent, and reads it when present', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-config-'));
    expect(await loadConfig(undefined, dir)).toEqual({ config: defaultConfig(), file: null });
    mkdirSync(join(dir, '.github'));
    writeFileSync(join(dir, '.github/policy-gate.yml'), 'walk_forward: { folds: 4 }\n');
    const loaded = await loadConfig(undefined, dir);
    expect(loaded.file).toBe('.github/policy-gate.yml');
    expect(loaded.config.walkForward.folds).toBe(4);
  });

  it('an explicit --config that does not exist is an error naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-config-'));
    await expect(loadConfig('missing.yml', dir)).rejects.toThrow(/config file missing\.yml does not exist/);
  });
});
