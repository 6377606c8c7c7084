/**
 * GitHub's limits on what the promotion and demotion pull requests send: a title of at most 256
 * characters (the loopback GitHub answers 422 past it, as GitHub does), the full list of models in the
 * body instead. A promotion of many models used to never open its pull request.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../src/config/schema.js';
import { reportJson } from '../src/app/output.js';
import { runValidate } from '../src/app/validate.js';
import { createGitHub, type GitHubClient } from '../src/action/github.js';
import { listTitle, openDemotionPullRequest, openPromotionPullRequest, PR_TITLE_LIMIT } from '../src/action/promotion.js';
import type { Report } from '../src/core/report.js';
import { sha256 } from '../src/util/hash.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFolder, NOW } from './helpers/e2e.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_limitsTokenValue0123456789abcd';
const repo = { owner: 'octo-org', repo: 'trading-policies' };
const PATHS = { paper: 'deploy/paper.json', live: 'deploy/live.json' };
let fake: FakeGitHub;
let gh: GitHubClient;
let archive: string;
let report: Report;

beforeAll(async () => {
  archive = exampleFolder();
  const config = defaultConfig();
  config.data.dir = EXAMPLE_DATA;
  report = await runValidate(archive, config, null, { now: NOW, log: () => {}, endMs: undefined, equityOut: null });
}, 60_000);
afterAll(async () => {
  await fake?.close();
  cleanupTempDirs();
});
beforeEach(async () => {
  await fake?.close();
  fake = await startFakeGitHub({ ...repo, token: TOKEN });
  gh = createGitHub({ token: TOKEN, baseUrl: fake.url, sleep: async () => {} });
});

/** The example's report with its PAPER model repeated under `n` ids (same file, same evidence). */
function manyModels(n: number): Report {
  const paper = report.models.find((m) => m.decision?.tier === 'PAPER' && m.candidate === 'final')!;
  const models = Array.from({ length: n }, (_, i) => ({ ...structuredClone(paper), id: `BTCUSD${String(i).padStart(2, '0')}_4Hour` }));
  return { ...report, models };
}

describe('listTitle', () => {
  it('lists every item when they fit, else as many as fit and a count of the rest; never over the limit', () => {
    expect(listTitle('promote ', ['A', 'B'], ' (run 1)')).toBe('promote A, B (run 1)');
    expect(listTitle('promote ', ['AAAA', 'BBBB', 'CCCC'], '', 23)).toBe('promote AAAA and 2 more');
    expect(listTitle('promote ', ['AAAA', 'BBBB', 'CCCC'], '', 22)).toBe('promote AA… and 2 more');
    expect(listTitle('promote ', ['AAAA', 'BBBB', 'C'.repeat(20)], '', 30)).toBe('promote AAAA, BBBB and 1 more');
    const long = listTitle('promote ', ['X'.repeat(400), 'Y'], ' (run 1)');
    expect([...long]).toHaveLength(PR_TITLE_LIMIT);
    expect(long).toMatch(/^promote X+… and 1 more \(run 1\)$/);
    for (let n = 1; n <= 60; n++) {
      const items = Array.from({ length: n }, (_, i) => `SYMBOL${i}USD_1Hour → PAPER`);
      const t = listTitle('policy-gate: promote ', items, ' (training run 123456789)');
      expect([...t].length).toBeLessThanOrEqual(PR_TITLE_LIMIT);
      expect(t).toContain(items[0]!);
      if (n > 1) expect(t.endsWith(' (training run 123456789)')).toBe(true);
    }
  });
});

describe('a promotion of many models', () => {
  it('opens its pull request with a short title, and the body lists every model', async () => {
    const big = manyModels(30);
    const text = reportJson(big) + '\n';
    const res = (await openPromotionPullRequest(gh, repo, {
      report: big,
      reportSha256: sha256(text),
      markdown: '## the report',
      archivePath: archive,
      paths: PATHS,
      modelsDir: 'models',
      runId: 4242,
      runUrl: null,
      now: NOW,
      externalId: null,
      log: () => {},
      sleep: async () => {},
    }))!;
    expect(res.outcome).toMatchObject({ kind: 'created', number: 1 });
    const pr = fake.git.pulls[0]!;
    expect([...pr.title].length).toBeLessThanOrEqual(PR_TITLE_LIMIT);
    expect(pr.title).toMatch(/^policy-gate: promote BTCUSD00_4Hour → PAPER, .* and \d+ more \(training run 4242\)$/);
    for (const m of big.models) expect(pr.body).toContain(m.id.replace(/_/g, '\\_'));
  });

  it('a demotion of many models too', async () => {
    const big = manyModels(30);
    const deployed = Object.fromEntries(big.models.map((m) => [m.id, { model: `models/${m.id}.onnx`, sha256: m.model!.sha256, tier: 'LIVE' }]));
    fake.git.commit('main', { 'deploy/live.json': JSON.stringify({ models: deployed }, null, 2) + '\n' });
    const text = reportJson(big) + '\n';
    const res = await openDemotionPullRequest(gh, repo, {
      report: { ...big, models: big.models.map((m) => ({ ...m, requested: 'LIVE' as const })) },
      reportSha256: sha256(text),
      markdown: '## the report',
      paths: PATHS,
      runUrl: null,
      now: NOW,
      externalId: null,
      log: () => {},
      sleep: async () => {},
    });
    expect(res.outcome.kind).toBe('created');
    const pr = fake.git.pulls[0]!;
    expect([...pr.title].length).toBeLessThanOrEqual(PR_TITLE_LIMIT);
    expect(pr.title).toMatch(/^policy-gate: demote BTCUSD00_4Hour → PAPER, .* and \d+ more$/);
  });
});
