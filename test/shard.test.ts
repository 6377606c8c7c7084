/**
 * Sharding end to end on the command line (docs/sharding.md): `validate --shard i/n` for n = 1, 2, 3
 * over the example archive, then `merge`, against one unsharded `validate`. The merged report.json,
 * report.md and report.html are byte-identical to the unsharded ones (same clock); with another clock
 * only generatedAt differs. A missing shard fails the merged conclusion naming its models; partials of
 * another archive, config, shard count or a duplicated shard are refused with exit 2.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { expectedCost } from '../src/core/shard.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, cleanupTempDirs, enc, exampleFolder, readFolder, runCli, tempDir, type CliResult } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

const VALIDATE = ['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA];
let root: string;
let full: CliResult;
const partialDir = (n: number, i: number): string => path.join(root, `n${n}`, `shard${i}`);
const equityDir = (n: number): string => path.join(root, `n${n}`, 'equity');
const readJson = (file: string): any => JSON.parse(readFileSync(file, 'utf8'));
const shardRuns = new Map<string, CliResult>();

beforeAll(async () => {
  root = tempDir('shard-');
  full = await runCli([...VALIDATE, '--out', path.join(root, 'full'), '--equity-out', path.join(root, 'full-equity')]);
  for (const n of [1, 2, 3]) {
    for (let i = 1; i <= n; i++) {
      // Every shard of one n writes its equity CSVs into one folder: the names never collide.
      shardRuns.set(`${i}/${n}`, await runCli([...VALIDATE, '--shard', `${i}/${n}`, '--out', partialDir(n, i), '--equity-out', equityDir(n)]));
    }
  }
}, 120_000);

describe('validate --shard i/n writes a partial report', () => {
  it('each shard evaluates only its models; together they cover every model exactly once', () => {
    const all = readJson(path.join(root, 'full', 'report.json')).models.map((m: { id: string }) => m.id);
    expect(all).toHaveLength(7);
    for (const n of [1, 2, 3]) {
      const partials = Array.from({ length: n }, (_, k) => readJson(path.join(partialDir(n, k + 1), 'report.json')));
      const ids = partials.flatMap((p) => p.models.map((m: { id: string }) => m.id));
      expect(ids.sort()).toEqual([...all].sort());
      for (const [k, p] of partials.entries()) {
        expect(p.shard.index).toBe(k + 1);
        expect(p.shard.count).toBe(n);
        expect(p.models.map((m: { id: string }) => m.id)).toEqual(p.shard.models);
        expect(p.shard.plan.map((x: { id: string }) => x.id)).toEqual(all); // the plan lists the archive's models in order
        expect(p.shard.plan).toEqual(partials[0].shard.plan); // every shard computes the same plan
        expect(p.shard.archiveSha256).toBe(p.archive.sha256);
        expect(p.shard.configSha256).toBe(p.config.sha256);
        expect(p.shard.end).toBeNull();
      }
    }
  });

  it('balances the expected cost (bars × ONNX bytes), not the count', () => {
    const p = readJson(path.join(partialDir(3, 1), 'report.json'));
    const files = unzipSync(new Uint8Array(readFileSync(EXAMPLE_ZIP)));
    const unsharded = readJson(path.join(root, 'full', 'report.json'));
    // The size of the ONNX file each model is evaluated from (the checkpoint for BTCUSD_2Hour).
    const size = (id: string): number => files[unsharded.models.find((x: { id: string }) => x.id === id).model.path]!.length;
    const plan = p.shard.plan as { id: string; shard: number; cost: number }[];
    const cost = (id: string): number => plan.find((x) => x.id === id)!.cost;
    const tf = (id: string) => id.split('_')[1] as '1Hour' | '2Hour' | '4Hour' | '1Day';
    for (const id of ['BTCUSD_1Hour', 'BTCUSD_2Hour', 'BTCUSD_4Hour', 'BTCUSD_1Day']) {
      expect(cost(id)).toBe(expectedCost({ evaluated: true, onnxBytes: size(id), timeframe: tf(id), backtestDays: 30, walkForwardDays: 180 }));
    }
    // Gating DROP and the PyTorch-only model are not evaluated: cost 0, still in a shard.
    for (const id of ['ETHUSD_1Hour', 'SOLUSD_1Hour', 'UNIUSD_1Hour']) expect(cost(id)).toBe(0);
    // The hourly model carries more than half the cost: it gets a shard of its own.
    const total = plan.reduce((s, x) => s + x.cost, 0);
    expect(cost('BTCUSD_1Hour') / total).toBeGreaterThan(0.5);
    expect(plan.filter((x) => x.shard === plan.find((y) => y.id === 'BTCUSD_1Hour')!.shard).map((x) => x.id)).toEqual(['BTCUSD_1Hour']);
  });

  it('says on the terminal that it is a partial report', () => {
    const run = shardRuns.get('2/3')!;
    expect(run.stdout.replace(/\s+/g, ' ')).toMatch(/shard 2\/3: \d+ of 7 models .* — a partial report: combine the shards' reports with policy-gate merge/);
    expect(run.stderr).toMatch(/policy-gate: shard 2\/3: \d+ of 7 models/);
  });
});

describe('merge: the merged report equals the unsharded one', () => {
  for (const n of [1, 2, 3]) {
    it(`n = ${n}: report.json, report.md and report.html are byte-identical, and so is the exit code`, async () => {
      const out = path.join(root, `merged${n}`);
      const res = await runCli(['merge', path.join(root, `n${n}`), '--out', out]);
      expect(res.code, res.stderr).toBe(full.code);
      expect(full.code).toBe(1); // the example's models fall short
      for (const f of ['report.json', 'report.md', 'report.html']) {
        expect(readFileSync(path.join(out, f), 'utf8'), f).toBe(readFileSync(path.join(root, 'full', f), 'utf8'));
      }
      expect(res.stdout).toBe(full.stdout);
      expect(res.stderr).toContain(`merged 7 model(s) from ${n} of ${n} shard(s): failure`);
      // The shards' equity CSVs, together, are the unsharded run's.
      expect(readFolder(equityDir(n))).toEqual(readFolder(path.join(root, 'full-equity')));
    });
  }

  it('with another clock only generatedAt differs', async () => {
    const out = path.join(root, 'merged-later');
    const later = new Date('2025-02-03T04:05:06.000Z');
    const code = await main(['merge', path.join(partialDir(3, 1), 'report.json'), path.join(partialDir(3, 2), 'report.json'), path.join(partialDir(3, 3), 'report.json'), '--out', out], {
      stdout: () => {},
      stderr: () => {},
      now: () => later,
      cwd: root,
    });
    expect(code).toBe(1);
    const merged = readFileSync(path.join(out, 'report.json'), 'utf8');
    const unsharded = readFileSync(path.join(root, 'full', 'report.json'), 'utf8');
    expect(merged).not.toBe(unsharded);
    const strip = (text: string) => {
      const doc = JSON.parse(text);
      delete doc.generatedAt;
      return doc;
    };
    expect(strip(merged)).toEqual(strip(unsharded));
    expect(JSON.parse(merged).generatedAt).toBe(later.toISOString());
    const differing = merged.split('\n').filter((line, i) => line !== unsharded.split('\n')[i]);
    expect(differing).toEqual([`  "generatedAt": "${later.toISOString()}",`]);
  });

  it('--json prints the merged report', async () => {
    const res = await runCli(['merge', path.join(root, 'n2'), '--json']);
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout)).toEqual(readJson(path.join(root, 'full', 'report.json')));
  });
});

describe('merge refuses or fails what does not add up', () => {
  const plan3 = (): { id: string; shard: number }[] => readJson(path.join(partialDir(3, 1), 'report.json')).shard.plan;

  it('a missing shard: conclusion failure naming its models, exit 1 (never a silent pass)', async () => {
    const missing = plan3()
      .filter((p) => p.shard === 2)
      .map((p) => p.id);
    expect(missing.length).toBeGreaterThan(0);
    const out = path.join(root, 'merged-missing');
    const res = await runCli(['merge', partialDir(3, 1), partialDir(3, 3), '--out', out]);
    expect(res.code).toBe(1);
    const report = readJson(path.join(out, 'report.json'));
    expect(report.conclusion).toBe('failure');
    const why = `shard 2/3 did not report (no partial report): ${missing.length} model(s) not evaluated: ${missing.join(', ')}`;
    expect(report.errors).toEqual([why]);
    expect(report.conclusionReasons[0]).toBe(`run error: ${why}`);
    expect(report.models.map((m: { id: string }) => m.id)).toEqual(
      plan3()
        .filter((p) => p.shard !== 2)
        .map((p) => p.id),
    );
    expect(res.stdout).toMatch(/^conclusion: failure — \d+ reasons:$/m);
    expect(res.stdout.replace(/\s+/g, ' ')).toContain(` - run error: ${why}`);
    expect(res.stderr).toContain(`shard 2/3: MISSING — no partial report; not evaluated: ${missing.join(', ')}`);
    expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('shard 2/3 did not report');
  });

  it('a shard that crashed: its failure report is recognised, its models named, its error kept', async () => {
    const crashed = path.join(root, 'crashed');
    const res = await runCli(['validate', EXAMPLE_ZIP, '--data', path.join(root, 'no-such-bars'), '--shard', '2/3', '--out', crashed]);
    expect(res.code).toBe(2);
    const failure = readJson(path.join(crashed, 'report.json'));
    expect(failure.shard).toMatchObject({ index: 2, count: 3, models: [], archiveSha256: null, plan: null });
    const merged = await runCli(['merge', partialDir(3, 1), crashed, partialDir(3, 3), '--json']);
    expect(merged.code).toBe(1);
    const report = JSON.parse(merged.stdout);
    const missing = plan3()
      .filter((p) => p.shard === 2)
      .map((p) => p.id);
    expect(report.errors[0]).toMatch(/^shard 2\/3: --data: the bars folder .*no-such-bars does not exist/);
    expect(report.errors[1]).toBe(`shard 2/3 stopped before it read the archive: ${missing.length} model(s) not evaluated: ${missing.join(', ')}`);
    expect(report.conclusion).toBe('failure');
  });

  it('a shard from another archive: exit 2 naming both files and both sha256', async () => {
    const other = exampleFolder((files) => {
      files['Alpaca_trading/NOTES.txt'] = enc('retrained with more data\n');
    });
    const otherOut = path.join(root, 'other-archive');
    const run = await runCli(['validate', other, '--data', EXAMPLE_DATA, '--shard', '2/3', '--out', otherOut]);
    expect(run.code).toBeLessThan(2);
    const mine = readJson(path.join(partialDir(3, 1), 'report.json')).archive.sha256 as string;
    const theirs = readJson(path.join(otherOut, 'report.json')).archive.sha256 as string;
    expect(theirs).not.toBe(mine);
    const res = await runCli(['merge', path.join(partialDir(3, 1), 'report.json'), path.join(otherOut, 'report.json'), path.join(partialDir(3, 3), 'report.json')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `policy-gate: error: ${path.join(otherOut, 'report.json')} (shard 2/3) comes from another archive: sha256 ${theirs.slice(0, 12)}…, but ` +
        `${path.join(partialDir(3, 1), 'report.json')} (shard 1/3) ${mine.slice(0, 12)}…; merge the partial reports of one run (the same archive and config)\n`,
    );
  });

  it('a shard run with another config: exit 2', async () => {
    const out = path.join(root, 'other-config');
    await runCli([...VALIDATE, '--capital', '50000', '--shard', '3/3', '--out', out]);
    const res = await runCli(['merge', partialDir(3, 1), partialDir(3, 2), out]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/\(shard 3\/3\) ran with another config: sha256 [0-9a-f]{12}…, but .* \(shard 1\/3\) [0-9a-f]{12}…; run every shard with the same config file and inputs/);
  });

  it('a shard given twice, shards of different counts, a complete report, an edited partial: exit 2', async () => {
    const p31 = path.join(partialDir(3, 1), 'report.json');
    const twice = await runCli(['merge', p31, p31, partialDir(3, 2)]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain(`shard 1/3 is given twice: ${p31} and ${p31}`);

    const mixed = await runCli(['merge', partialDir(2, 1), partialDir(3, 2)]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/\(shard 2\/3\) is one of 3 shards, but .* \(shard 1\/2\) 2 shards; merge the shards of one run/);

    const complete = await runCli(['merge', path.join(root, 'full', 'report.json')]);
    expect(complete.code).toBe(2);
    expect(complete.stderr).toContain('not a partial report of "policy-gate validate --shard i/n" (no "shard" section: it is a complete report)');

    const edited = path.join(root, 'edited.json');
    const doc = readJson(path.join(partialDir(3, 3), 'report.json'));
    const dropped = doc.models.pop().id;
    writeFileSync(edited, JSON.stringify(doc));
    const res = await runCli(['merge', partialDir(3, 1), partialDir(3, 2), edited]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`(shard 3/3) holds models [${doc.models.map((m: { id: string }) => m.id).join(', ')}], but its plan gives shard 3 [${doc.shard.models.join(', ')}]`);
    expect(doc.shard.models).toContain(dropped);
  });

  it('a folder without partial reports, and no arguments: exit 2', async () => {
    const empty = tempDir('no-partials-');
    const none = await runCli(['merge', empty]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`no partial reports found in ${empty}`);
    const noArgs = await runCli(['merge']);
    expect(noArgs.code).toBe(2);
    expect(noArgs.stderr).toContain('"merge" needs the partial reports');
    rmSync(empty, { recursive: true, force: true });
  });
});

describe('--shard usage', () => {
  it.each([
    ['4/3', '--shard must be i/n with 1 ≤ i ≤ n (shards are numbered from 1), got "4/3"'],
    ['two', '--shard must be i/n, the i-th of n shards (e.g. 2/3), got "two"'],
    ['1/300', '--shard must be i/n with 1 ≤ n ≤ 256, got "1/300"'],
  ])('--shard %s is a usage error naming the flag', async (raw, message) => {
    const res = await runCli([...VALIDATE, '--shard', raw]);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(`policy-gate: error: ${message}\n`);
  });

  it('applies to validate only', async () => {
    const res = await runCli(['gate', EXAMPLE_ZIP, '--shard', '1/2']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--shard does not apply to "gate"');
  });

  it('on Alpaca data it needs a pinned --end (the default end moves while shards run)', async () => {
    const res = await runCli(['validate', EXAMPLE_ZIP, '--data', 'alpaca', '--shard', '1/2']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^policy-gate: error: a sharded run on Alpaca data needs a pinned evaluation end \(--end/);
  });
});
