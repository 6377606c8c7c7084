/**
 * `policy-gate promote` and `policy-gate revalidate` in a temporary git repository (git init in a
 * mkdtemp folder; `git status` says what a command changed): promote, the idempotent rerun
 * (byte-identical files, nothing reported), demotion (live → paper, paper → out), the sha mismatch
 * refusal (exit 2, nothing written), and an interrupted write (a failing rename) leaving the old file.
 *
 * The evidence is a real validation of the bundled example (a folder archive, so one test can change a
 * model file after it was validated): BTCUSD_2Hour (gating APPROVED, checkpoint 3) and BTCUSD_4Hour
 * (gating REVIEW) earn PAPER, the others RETRAIN or DROP.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPromote } from '../src/app/promote.js';
import { sha256 } from '../src/util/hash.js';
import { cleanupTempDirs, EXAMPLE_DATA, exampleFolder, MODELS_DIR, NOW, runCli, tempDir } from './helpers/e2e.js';

let archive: string;
let reportPath: string;
let report: any;

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' },
  });
}

/** A fresh git repository with one commit (a README), or with the given files committed. */
function repo(files: Record<string, string> = {}): string {
  const dir = tempDir('repo-');
  git(dir, 'init', '-q', '-b', 'main');
  writeFileSync(path.join(dir, 'README.md'), '# deployments\n');
  for (const [p, text] of Object.entries(files)) {
    execFileSync('mkdir', ['-p', path.dirname(path.join(dir, p))]);
    writeFileSync(path.join(dir, p), text);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return dir;
}

const status = (dir: string): string[] => git(dir, 'status', '--porcelain', '--untracked-files=all').split('\n').filter(Boolean).sort();
const commitAll = (dir: string): void => {
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'promotion');
};
const readJson = (dir: string, p: string): any => JSON.parse(readFileSync(path.join(dir, p), 'utf8'));

beforeAll(async () => {
  archive = exampleFolder();
  const out = tempDir('validated-');
  const v = await runCli(['validate', archive, '--data', EXAMPLE_DATA, '--out', out]);
  expect(v.code, v.stderr).toBe(1);
  reportPath = path.join(out, 'report.json');
  report = JSON.parse(readFileSync(reportPath, 'utf8'));
  expect(
    report.models
      .filter((m: any) => m.decision?.tier === 'PAPER')
      .map((m: any) => m.id)
      .sort(),
  ).toEqual(['BTCUSD_2Hour', 'BTCUSD_4Hour']);
}, 60_000);
afterAll(cleanupTempDirs);

const promote = (dir: string, ...extra: string[]) => runCli(['promote', '--report', reportPath, '--archive', archive, ...extra], dir);

describe('promote', () => {
  it("writes the PAPER models' files and entries; a rerun changes nothing, byte for byte", async () => {
    const dir = repo();
    const res = await promote(dir);
    expect(res.code, res.stderr).toBe(0);
    const m2 = report.models.find((m: any) => m.id === 'BTCUSD_2Hour');
    const m4 = report.models.find((m: any) => m.id === 'BTCUSD_4Hour');
    const file2 = `models/BTCUSD_2Hour/${m2.model.sha256.slice(0, 12)}/BTCUSD_2Hour.onnx`;
    const file4 = `models/BTCUSD_4Hour/${m4.model.sha256.slice(0, 12)}/BTCUSD_4Hour.onnx`;
    expect(status(dir)).toEqual(['?? deploy/paper.json', `?? ${file2.replace('.onnx', '.card.json')}`, `?? ${file2}`, `?? ${file4.replace('.onnx', '.card.json')}`, `?? ${file4}`].sort());
    expect(existsSync(path.join(dir, 'deploy', 'live.json'))).toBe(false); // nothing earned LIVE
    expect(res.stdout).toContain('promoted from');
    expect(res.stdout).toMatch(/added\s+deploy\/paper\.json: BTCUSD_4Hour: not deployed → PAPER \(rule 4: positive share 80 % ≥ 60 %, Sharpe std 1\.496 ≤ 2\)/);
    expect(res.stdout).toContain('skipped  BTCUSD_1Hour: DROP: not promoted');

    // The committed bytes are the validated model (the checkpoint the report evaluated) and its card.
    expect(sha256(readFileSync(path.join(dir, file2)))).toBe(m2.model.sha256);
    expect(readFileSync(path.join(dir, file2))).toEqual(readFileSync(path.join(archive, m2.model.path)));
    expect(readFileSync(path.join(dir, file4.replace('.onnx', '.card.json')))).toEqual(readFileSync(path.join(archive, m4.card.path)));
    expect(m2.candidate).toBe('checkpoint:3');

    const paper = readJson(dir, 'deploy/paper.json');
    expect(Object.keys(paper.models)).toEqual(['BTCUSD_2Hour', 'BTCUSD_4Hour']);
    expect(paper.models.BTCUSD_2Hour).toMatchObject({
      model: file2,
      model_sha256: m2.model.sha256,
      card: file2.replace('.onnx', '.card.json'),
      card_sha256: sha256(readFileSync(path.join(archive, m2.card.path))),
      candidate: 'checkpoint:3',
      tier: 'PAPER',
      gating: 'APPROVED',
      train_end: m2.train.end,
      reasons: m2.decision.reasons[0],
      report_sha256: sha256(readFileSync(reportPath)),
      config_sha256: report.config.sha256,
      data_start: m2.walkForward.folds[0].start,
      data_end: m2.backtest.end,
      promoted_at: NOW.toISOString(),
    });
    expect(paper.models.BTCUSD_4Hour.gating).toBe('REVIEW');
    const text = readFileSync(path.join(dir, 'deploy/paper.json'), 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\n    "BTCUSD_4Hour": {\n      "candidate": "final",\n      "card": ');

    commitAll(dir);
    const before = statSync(path.join(dir, 'deploy/paper.json')).mtimeMs;
    const again = await promote(dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^nothing changed: deploy\/live\.json and deploy\/paper\.json already hold what .*report\.json decided$/m);
    expect(again.stdout).toContain('held     BTCUSD_2Hour: already deployed at PAPER as decided');
    expect(again.stdout).not.toContain('wrote');
    expect(status(dir)).toEqual([]);
    expect(statSync(path.join(dir, 'deploy/paper.json')).mtimeMs).toBe(before);

    const json = await promote(dir, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ changes: [], written: [] });
  });

  it("YAML configs at configured paths, people's keys kept, and a LIVE model moved out of live when the report says PAPER", async () => {
    const dir = repo({
      '.github/policy-gate.yml': 'promotion:\n  paper: ops/paper.yaml\n  live: ops/live.yml\n  models_dir: deployed\n',
      'ops/live.yml': 'models:\n  BTCUSD_4Hour:\n    owner: desk-7   # a person wrote this\n',
    });
    const res = await promote(dir);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/demoted\s+ops\/paper\.yaml: BTCUSD_4Hour: LIVE → PAPER/);
    expect(readFileSync(path.join(dir, 'ops/live.yml'), 'utf8')).toBe('models: {}\n');
    const paper = readFileSync(path.join(dir, 'ops/paper.yaml'), 'utf8');
    expect(paper).toMatch(/^models:\n {2}BTCUSD_2Hour:\n {4}candidate: checkpoint:3\n/);
    expect(paper).toContain('  BTCUSD_4Hour:\n    candidate: final\n');
    expect(paper).toContain('    owner: desk-7\n');
    expect(paper).toMatch(/ {4}model: deployed\/BTCUSD_4Hour\/[0-9a-f]{12}\/BTCUSD_4Hour\.onnx\n/);
    expect(status(dir).filter((s) => s.includes('deployed/'))).toHaveLength(4);
    commitAll(dir);
    expect((await promote(dir)).stdout).toMatch(/^nothing changed/);
    expect(status(dir)).toEqual([]);
  });

  it("--dry-run prints the unified diff of the deploy files and writes nothing (every file's hash unchanged)", async () => {
    const dir = repo({
      '.github/policy-gate.yml': 'promotion:\n  paper: ops/paper.yaml\n  live: ops/live.yml\n  models_dir: deployed\n',
      'ops/live.yml': 'models:\n  BTCUSD_4Hour:\n    owner: desk-7   # a person wrote this\n',
    });
    const hashes = (): Record<string, string> =>
      Object.fromEntries(
        git(dir, 'ls-files', '--cached', '--others')
          .split('\n')
          .filter(Boolean)
          .map((f) => [f, sha256(readFileSync(path.join(dir, f)))]),
      );
    const tree = (): string[] => git(dir, 'ls-files', '--cached', '--others').split('\n').filter(Boolean).sort();
    const before = hashes();
    const filesBefore = tree();
    const liveMtime = statSync(path.join(dir, 'ops/live.yml')).mtimeMs;

    const dry = await promote(dir, '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(hashes()).toEqual(before);
    expect(tree()).toEqual(filesBefore);
    expect(status(dir)).toEqual([]);
    expect(existsSync(path.join(dir, 'deployed'))).toBe(false);
    expect(statSync(path.join(dir, 'ops/live.yml')).mtimeMs).toBe(liveMtime);

    const out = dry.stdout;
    expect(out).toMatch(/^dry run: promoting from .*report\.json would:$/m);
    expect(out).toMatch(/demoted\s+ops\/paper\.yaml: BTCUSD_4Hour: LIVE → PAPER/);
    // the live config loses its entry, the paper config is new
    expect(out).toContain('--- a/ops/live.yml\n+++ b/ops/live.yml\n@@ -1,3 +1 @@\n-models:\n-  BTCUSD_4Hour:\n-    owner: desk-7   # a person wrote this\n+models: {}\n');
    expect(out).toContain('--- /dev/null\n+++ b/ops/paper.yaml\n@@ -0,0 +1,');
    const m2 = report.models.find((m: any) => m.id === 'BTCUSD_2Hour');
    const onnx = `deployed/BTCUSD_2Hour/${m2.model.sha256.slice(0, 12)}/BTCUSD_2Hour.onnx`;
    expect(out).toContain(`new file: ${onnx} (${readFileSync(path.join(archive, m2.model.path)).length} bytes, sha256 ${m2.model.sha256})`);
    expect(out).toMatch(/^dry run: nothing was written \(a real run writes 6 files\)$/m); // 2 models, 2 cards, 2 configs

    // The printed diff is exactly what the real run then writes: git apply of it gives the same files.
    const patch = out.slice(out.indexOf('--- a/ops/live.yml'), out.indexOf('\n\ndry run: nothing was written') + 1);
    const check = repo({
      '.github/policy-gate.yml': 'promotion:\n  paper: ops/paper.yaml\n  live: ops/live.yml\n  models_dir: deployed\n',
      'ops/live.yml': 'models:\n  BTCUSD_4Hour:\n    owner: desk-7   # a person wrote this\n',
    });
    writeFileSync(
      path.join(check, 'dry.patch'),
      patch
        .split('\n')
        .filter((l) => !l.startsWith('new file: '))
        .join('\n'),
    );
    git(check, 'apply', 'dry.patch');
    const real = await promote(dir);
    expect(real.code, real.stderr).toBe(0);
    for (const f of ['ops/live.yml', 'ops/paper.yaml']) expect(readFileSync(path.join(check, f), 'utf8'), f).toBe(readFileSync(path.join(dir, f), 'utf8'));
    expect(existsSync(path.join(dir, onnx))).toBe(true);

    // Once promoted, a dry run has nothing to show.
    commitAll(dir);
    const again = await promote(dir, '--dry-run');
    expect(again.stdout).toMatch(/^dry run: nothing would change/m);
    expect(again.stdout).not.toContain('--- ');
    const json = JSON.parse((await promote(dir, '--dry-run', '--json')).stdout);
    expect(json).toMatchObject({ dryRun: true, changes: [], written: [], wouldWrite: [], diff: '' });
    expect(status(dir)).toEqual([]);
  });

  it('refuses a model whose file changed after it was validated: exit 2 naming the file, nothing written', async () => {
    const changed = exampleFolder();
    const m4 = report.models.find((m: any) => m.id === 'BTCUSD_4Hour');
    const file = path.join(changed, m4.model.path);
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from([0])]));
    const dir = repo();
    const res = await runCli(['promote', '--report', reportPath, '--archive', changed], dir);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${changed}:${MODELS_DIR}/BTCUSD_4Hour.onnx: sha256 is ${sha256(readFileSync(file))}, but the report validated ${m4.model.sha256} for BTCUSD_4Hour`);
    expect(res.stderr).toContain('Nothing was written.');
    expect(status(dir)).toEqual([]);
  });

  it('refuses a report of a run that stopped, a report of another command, and a missing archive — exit 2, nothing written', async () => {
    const dir = repo();
    const broken = path.join(tempDir('r-'), 'report.json');
    writeFileSync(broken, JSON.stringify({ ...report, errors: ['the archive could not be opened'] }));
    const r1 = await runCli(['promote', '--report', broken], dir);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('the run behind this report stopped with an error (the archive could not be opened)');
    writeFileSync(broken, JSON.stringify({ ...report, command: 'backtest' }));
    expect((await runCli(['promote', '--report', broken], dir)).stderr).toContain('a report of "backtest", not of "validate"');
    const r3 = await runCli(['promote', '--report', reportPath, '--archive', path.join(dir, 'nope.zip')], dir);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/the archive .*nope\.zip \(named by --archive\) cannot be opened/);
    expect((await runCli(['promote'], dir)).stderr).toContain('"promote" needs --report <report.json>');
    expect((await runCli(['promote', '--report', reportPath, '--days', '3'], dir)).stderr).toContain('--days does not apply to "promote"');
    expect(status(dir)).toEqual([]);
  });

  it('an interrupted write (the rename fails) leaves the old config, and no temp file; the rerun finishes the job', async () => {
    const old = '{\n  "models": {\n    "ETHUSD_1Hour": {"owner": "someone"}\n  }\n}\n';
    const dir = repo({ 'deploy/paper.json': old });
    let failed = 0;
    const { rename } = await import('node:fs/promises');
    const fs = {
      rename: (async (from: string, to: string) => {
        if (String(to).endsWith(`deploy${path.sep}paper.json`)) {
          failed++;
          throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' });
        }
        return rename(from, to);
      }) as typeof rename,
    };
    const opts = { root: dir, reportPath, paths: { paper: 'deploy/paper.json', live: 'deploy/live.json' }, modelsDir: 'models', archive, now: NOW, runUrl: null };
    await expect(runPromote({ ...opts, fs })).rejects.toThrow(
      /^could not write deploy\/paper\.json: EIO: i\/o error, rename; deploy\/paper\.json is unchanged\. Already written: models\/BTCUSD_4Hour\/[0-9a-f]{12}\/BTCUSD_4Hour\.onnx, .*\. Run the command again once the problem is fixed \(it is idempotent\)\.$/,
    );
    expect(failed).toBe(1);
    expect(readFileSync(path.join(dir, 'deploy/paper.json'), 'utf8')).toBe(old);
    expect(readdirSync(path.join(dir, 'deploy'))).toEqual(['paper.json']); // no *.tmp left behind
    expect(status(dir).every((s) => s.startsWith('?? models/'))).toBe(true);

    const done = await runPromote(opts);
    expect(done.writes.written).toEqual(['deploy/paper.json']); // the model files were already there
    expect(Object.keys(readJson(dir, 'deploy/paper.json').models)).toEqual(['BTCUSD_2Hour', 'BTCUSD_4Hour', 'ETHUSD_1Hour']);
  });
});

describe('revalidate', () => {
  /** A repository where promote wrote both PAPER models, then BTCUSD_2Hour was moved to live by hand. */
  async function deployed(): Promise<string> {
    const dir = repo();
    expect((await promote(dir)).code).toBe(0);
    const paper = readJson(dir, 'deploy/paper.json');
    const live = { models: { BTCUSD_2Hour: { ...paper.models.BTCUSD_2Hour, tier: 'LIVE' } } };
    delete paper.models.BTCUSD_2Hour;
    writeFileSync(path.join(dir, 'deploy/paper.json'), JSON.stringify(paper, null, 2) + '\n');
    writeFileSync(path.join(dir, 'deploy/live.json'), JSON.stringify(live, null, 2) + '\n');
    commitAll(dir);
    return dir;
  }

  it('demotes a live model that only earns PAPER (exit 1), then holds (exit 0, nothing changed)', async () => {
    const dir = await deployed();
    const res = await runCli(['revalidate', '--data', EXAMPLE_DATA], dir);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout).toMatch(/^BTCUSD_2Hour\s+APPROVED\s+-1\.79%\s+4\/5\s+1\.71 ± 1\.42\s.*\bPAPER\s+LIVE\b/m);
    expect(res.stdout).toMatch(/^BTCUSD_4Hour\s+REVIEW\s+-3\.54%\s+4\/5\s+1\.86 ± 1\.50\s.*\bPAPER\s+PAPER\b/m);
    expect(res.stdout).toMatch(/demoted\s+deploy\/paper\.json: BTCUSD_2Hour: LIVE → PAPER \(rule 4: positive share 80 % ≥ 60 %, Sharpe std 1\.418 ≤ 2\)/);
    expect(res.stdout).toContain('conclusion: failure — BTCUSD_2Hour: PAPER is below the requested LIVE');
    expect(readJson(dir, 'deploy/live.json')).toEqual({ models: {} });
    const moved = readJson(dir, 'deploy/paper.json').models.BTCUSD_2Hour;
    expect(moved).toMatchObject({ tier: 'PAPER', gating: 'APPROVED', candidate: 'checkpoint:3', promoted_at: NOW.toISOString() });
    expect(status(dir)).toEqual([' M deploy/live.json', ' M deploy/paper.json']);
    commitAll(dir);

    const again = await runCli(['revalidate', '--data', EXAMPLE_DATA, '--json'], dir);
    expect(again.code).toBe(0);
    const out = JSON.parse(again.stdout);
    expect(out.changes).toEqual([]);
    expect(out.report.conclusion).toBe('success');
    expect(out.report.models.map((m: any) => [m.id, m.requested, m.decision.tier])).toEqual([
      ['BTCUSD_2Hour', 'PAPER', 'PAPER'],
      ['BTCUSD_4Hour', 'PAPER', 'PAPER'],
    ]);
    expect(status(dir)).toEqual([]);
  }, 30_000);

  it('takes a paper model out when it no longer earns PAPER; a model it cannot judge keeps its tier', async () => {
    const dir = await deployed();
    writeFileSync(path.join(dir, 'strict.yml'), 'decision:\n  paper: { min_positive_share: 0.9 }\n  live: { min_positive_share: 0.9 }\n');
    // The live model's file is gone: not evaluated, so not demoted (the run still fails).
    const live = readJson(dir, 'deploy/live.json');
    execFileSync('rm', [path.join(dir, live.models.BTCUSD_2Hour.model)]);
    const res = await runCli(['revalidate', '--data', EXAMPLE_DATA, '--config', 'strict.yml', '--out', 'rv'], dir);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stdout).toMatch(/removed\s+deploy\/paper\.json: BTCUSD_4Hour: PAPER → out, its decision is RETRAIN \(rule 5: positive share 80 % < 90 %\)/);
    expect(res.stdout).not.toMatch(/BTCUSD_2Hour: LIVE →/);
    expect(readJson(dir, 'deploy/paper.json')).toEqual({ models: {} });
    expect(readJson(dir, 'deploy/live.json')).toEqual(live);
    const rv = readJson(dir, 'rv/report.json');
    expect(rv.command).toBe('revalidate');
    const m2 = rv.models.find((m: any) => m.id === 'BTCUSD_2Hour');
    expect(m2.decision).toBeNull();
    expect(m2.errors[0]).toMatch(/^deploy\/live\.json: models\.BTCUSD_2Hour\.model models\/BTCUSD_2Hour\/[0-9a-f]{12}\/BTCUSD_2Hour\.onnx cannot be read \(ENOENT\)$/);
    expect(m2.notEvaluated).toEqual({ reason: m2.errors[0], kind: 'model' });
    expect(rv.conclusionReasons).toContain(`BTCUSD_2Hour: not evaluated (requested LIVE): ${m2.errors[0]}`);
  }, 30_000);

  it('a deployed file that changed without a promotion is not evaluated; nothing deployed is a success', async () => {
    const dir = repo();
    expect((await promote(dir)).code).toBe(0);
    commitAll(dir);
    const file = readJson(dir, 'deploy/paper.json').models.BTCUSD_4Hour.model;
    writeFileSync(path.join(dir, file), Buffer.concat([readFileSync(path.join(dir, file)), Buffer.from([1])]));
    const res = await runCli(['revalidate', '--data', EXAMPLE_DATA, '--json'], dir);
    expect(res.code).toBe(1);
    const m4 = JSON.parse(res.stdout).report.models.find((m: any) => m.id === 'BTCUSD_4Hour');
    expect(m4.errors[0]).toContain(`${file}: sha256 is ${sha256(readFileSync(path.join(dir, file)))}, but deploy/paper.json deployed`);
    expect(status(dir)).toEqual([` M ${file}`]);

    const none = await runCli(['revalidate', '--data', EXAMPLE_DATA], repo());
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('conclusion: success — nothing is deployed: the deployment configs list no models');
  }, 30_000);

  it('a deployment config named explicitly that does not exist is exit 2 naming it (only the defaults may be absent)', async () => {
    const dir = repo();
    const typo = await runCli(['revalidate', '--data', EXAMPLE_DATA, '--paper', 'nope.json', '--out', 'rv'], dir);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(
      'policy-gate: error: --paper names the deployment config nope.json, which does not exist: check the path (only the default deploy/paper.json may be absent, meaning nothing is deployed at PAPER)',
    );
    expect(typo.stdout).not.toContain('nothing is deployed');
    expect(readJson(dir, 'rv/report.json').errors[0]).toContain('--paper names the deployment config nope.json');
    const live = await runCli(['revalidate', '--data', EXAMPLE_DATA, '--live', 'deploy/lve.json'], dir);
    expect(live.code).toBe(2);
    expect(live.stderr).toContain('--live names the deployment config deploy/lve.json, which does not exist');
    writeFileSync(path.join(dir, 'c.yml'), 'promotion:\n  paper: deploy/papr.json\n');
    const configured = await runCli(['revalidate', '--data', EXAMPLE_DATA, '--config', 'c.yml'], dir);
    expect(configured.code).toBe(2);
    expect(configured.stderr).toMatch(/promotion\.paper in \S*c\.yml names the deployment config deploy\/papr\.json, which does not exist/);
  }, 30_000);
});
