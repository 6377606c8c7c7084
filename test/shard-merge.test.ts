/**
 * The pure merge (src/core/merge.ts) on small hand-made partial reports: order, conclusion, run-level
 * fields, and every refusal. test/shard.test.ts runs the same code on real partials of the example.
 */
import { describe, expect, it } from 'vitest';
import { mergePartialReports, type PartialInput } from '../src/core/merge.js';
import { PolicyGateError } from '../src/core/errors.js';
import type { PlannedModel } from '../src/core/shard.js';

const NOW = new Date('2025-03-04T05:06:07.000Z');
const ARCHIVE = 'a'.repeat(64);
const CONFIG = 'c'.repeat(64);

/** A, B, C, D in archive order; shard 1 has A and D, shard 2 has B, shard 3 has C. */
const PLAN: PlannedModel[] = [
  { id: 'A', shard: 1, cost: 10 },
  { id: 'B', shard: 2, cost: 6 },
  { id: 'C', shard: 3, cost: 5 },
  { id: 'D', shard: 1, cost: 0 },
];

function model(id: string, tier: string, requested = 'PAPER'): object {
  return { id, decision: { tier, rule: 'r', reasons: [] }, requested };
}

function partial(index: number, over: Record<string, any> = {}): PartialInput {
  const ids = (over['plan'] ?? PLAN).filter((p: PlannedModel) => p.shard === index).map((p: PlannedModel) => p.id);
  const doc = {
    schemaVersion: 1,
    tool: { name: 'policy-gate', version: over['version'] ?? '0.1.0' },
    command: 'validate',
    generatedAt: '2025-01-01T00:00:00.000Z',
    conclusion: 'success',
    conclusionReasons: [],
    config: { sha256: over['config'] ?? CONFIG, file: null },
    archive: { path: 'a.zip', kind: 'zip', sha256: over['archive'] ?? ARCHIVE, summary: { path: 's.json', runId: null }, manifest: null, unreferenced: [] },
    data: { source: 'csv', dir: 'bars', range: over['range'] ?? null },
    runtime: { executionProvider: 'cpu', device: 'auto', fallbackReason: null, node: over['node'] ?? 'v20.19.0', onnxruntime: '1.30.0', platform: 'linux-x64' },
    models: over['models'] ?? ids.map((id: string) => model(id, 'PAPER')),
    errors: [],
    infraErrors: over['infraErrors'] ?? [],
    shard: { index, count: over['count'] ?? 3, models: ids, archiveSha256: over['archive'] ?? ARCHIVE, configSha256: over['config'] ?? CONFIG, end: over['end'] ?? null, plan: over['plan'] ?? PLAN },
  };
  return { label: `p${index}.json`, doc };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyGateError);
    expect((err as PolicyGateError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('mergePartialReports', () => {
  it("merges in the plan's order whatever order the partials come in, and concludes", () => {
    const out = mergePartialReports([partial(3), partial(1), partial(2)], { now: NOW });
    expect(out.report.models.map((m) => m.id)).toEqual(['A', 'B', 'C', 'D']);
    expect(out.report.conclusion).toBe('success');
    expect(out.report.conclusionReasons).toEqual([]);
    expect(out.report.generatedAt).toBe(NOW.toISOString());
    expect(out.report.shard).toBeUndefined();
    expect(out.present.map((p) => p.index)).toEqual([1, 2, 3]);
    expect(out.missing).toEqual([]);
  });

  it('recomputes the conclusion from the merged models', () => {
    const two = partial(2, { models: [model('B', 'RETRAIN')] });
    const out = mergePartialReports([partial(1), two, partial(3)], { now: NOW });
    expect(out.report.conclusion).toBe('failure');
    expect(out.report.conclusionReasons).toEqual(['B: RETRAIN is below the requested PAPER']);
  });

  it('orders infraErrors by model, spans the data ranges, and joins differing runtime environments', () => {
    const out = mergePartialReports(
      [
        partial(1, { infraErrors: ['D: late', 'A: down'], range: { start: '2024-03-01T00:00:00.000Z', end: '2024-09-01T00:00:00.000Z' } }),
        partial(2, { node: 'v24.1.0', range: { start: '2024-02-01T00:00:00.000Z', end: '2024-08-01T00:00:00.000Z' } }),
        partial(3, { infraErrors: ['C: down'] }),
      ],
      { now: NOW },
    );
    expect(out.report.infraErrors).toEqual(['A: down', 'C: down', 'D: late']);
    expect(out.report.conclusion).toBe('failure');
    expect(out.report.data!.range).toEqual({ start: '2024-02-01T00:00:00.000Z', end: '2024-09-01T00:00:00.000Z' });
    expect(out.report.runtime!.node).toBe('v20.19.0, v24.1.0');
    expect(out.report.runtime!.executionProvider).toBe('cpu');
  });

  it('a missing shard is a run error naming its models; a missing empty shard loses nothing', () => {
    const out = mergePartialReports([partial(2), partial(3)], { now: NOW });
    expect(out.report.errors).toEqual(['shard 1/3 did not report (no partial report): 2 model(s) not evaluated: A, D']);
    expect(out.report.conclusion).toBe('failure');
    expect(out.missing).toEqual([{ index: 1, models: ['A', 'D'], reason: 'absent', label: null }]);

    const plan4 = [...PLAN.map((p) => ({ ...p })), { id: 'E', shard: 3, cost: 0 }];
    const four = (i: number) => partial(i, { plan: plan4.map((p) => ({ ...p })), count: 4 });
    const ok = mergePartialReports([four(1), four(2), four(3)], { now: NOW });
    expect(ok.report.errors).toEqual([]);
    expect(ok.report.conclusion).toBe('success');
    expect(ok.missing).toEqual([{ index: 4, models: [], reason: 'absent', label: null }]);
  });

  it('no partial at all: the empty report, with every model the merger knows named', () => {
    const empty = partial(1).doc as any;
    const base = { ...empty, archive: null, models: [], shard: undefined };
    const out = mergePartialReports([], { now: NOW, empty: base, expected: { planFor: () => PLAN.map((p) => ({ ...p, shard: 1 })) } });
    expect(out.count).toBeNull();
    expect(out.report.errors).toEqual(['no shard reported (no partial report was found): 4 model(s) not evaluated: A, B, C, D']);
    expect(out.report.conclusion).toBe('failure');
    expect(refusal(() => mergePartialReports([], { now: NOW }))).toMatch(/^no partial reports to merge/);
  });

  it('checks the partials against what the merger knows: archive, config, end, plan', () => {
    const all = [partial(1), partial(2), partial(3)];
    expect(refusal(() => mergePartialReports(all, { now: NOW, expected: { archiveSha256: 'b'.repeat(64), archiveLabel: 'models/x.zip' } }))).toBe(
      `p1.json (shard 1/3) comes from another archive: sha256 ${'a'.repeat(12)}…, but the archive models/x.zip has sha256 ${'b'.repeat(12)}…; merge with the archive the shards validated`,
    );
    expect(refusal(() => mergePartialReports(all, { now: NOW, expected: { configSha256: 'd'.repeat(64) } }))).toMatch(
      /ran with another config: .* give the merge the same config file and inputs as the shards$/,
    );
    expect(refusal(() => mergePartialReports(all, { now: NOW, expected: { end: '2024-09-01T00:00:00.000Z' } }))).toMatch(
      /evaluated up to the last bar, but the merge runs with 2024-09-01T00:00:00.000Z/,
    );
    const other = PLAN.map((p) => ({ ...p, shard: p.id === 'D' ? 2 : p.shard }));
    expect(refusal(() => mergePartialReports(all, { now: NOW, expected: { planFor: () => other } }))).toMatch(/its plan for 3 shards is not the one the merge computes/);
    expect(mergePartialReports(all, { now: NOW, expected: { archiveSha256: ARCHIVE, configSha256: CONFIG, end: null, planFor: () => PLAN } }).report.models).toHaveLength(4);
  });

  it('refuses partials that do not belong together', () => {
    expect(refusal(() => mergePartialReports([partial(1), partial(2, { version: '0.2.0' })], { now: NOW }))).toBe(
      'p2.json (shard 2/3) was written by policy-gate 0.2.0, but p1.json (shard 1/3) 0.1.0; run every shard and the merge with one version of policy-gate',
    );
    expect(refusal(() => mergePartialReports([partial(1), partial(2, { end: '2024-09-01T00:00:00.000Z' })], { now: NOW }))).toMatch(
      /^p2.json \(shard 2\/3\) evaluated up to 2024-09-01T00:00:00.000Z, but p1.json \(shard 1\/3\) the last bar; pin the same end for every shard$/,
    );
    const moved = PLAN.map((p) => ({ ...p, shard: p.id === 'D' ? 2 : p.shard }));
    expect(refusal(() => mergePartialReports([partial(1), partial(2, { plan: moved })], { now: NOW }))).toContain(
      'p2.json (shard 2/3) followed another plan (model→shard): A→1, B→2, C→3, D→2, but p1.json (shard 1/3) A→1, B→2, C→3, D→1',
    );
    const dup = partial(3, { models: [model('C', 'PAPER'), model('A', 'PAPER')] });
    expect(refusal(() => mergePartialReports([partial(1), partial(2), dup], { now: NOW }))).toContain('p3.json (shard 3/3) holds models [C, A], but its plan gives shard 3 [C]');
    expect(refusal(() => mergePartialReports([{ label: 'x.json', doc: [] }], { now: NOW }))).toContain('x.json: not a partial report of "policy-gate validate --shard i/n" (not a JSON object)');
    expect(refusal(() => mergePartialReports([{ label: 'x.json', doc: { ...(partial(1).doc as object), command: 'gate' } }], { now: NOW }))).toContain('written by "gate"');
    expect(refusal(() => mergePartialReports([{ label: 'x.json', doc: { ...(partial(1).doc as object), schemaVersion: 9 } }], { now: NOW }))).toContain('report schemaVersion 9');
  });
});
