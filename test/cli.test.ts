/**
 * The command line end to end: `main(argv, io)` in-process on the bundled example (gate, backtest,
 * usage errors, hostile archives), and the real `bin/policy-gate.js` in a child process, to prove
 * the shipped entry point runs and that exit codes reach the shell.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildZip } from './helpers/zip-writer.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, MODELS_DIR, NOW, REPO, cleanupTempDirs, enc, exampleFiles, listTree, runCli, tempDir, writeTree, type CliResult } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

const HEX64 = /^[0-9a-f]{64}$/;
const VERSION: string = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;

/** The gating table row of a model: the line that starts with its id. */
function row(stdout: string, id: string): string {
  const line = stdout.split('\n').find((l) => l.startsWith(`${id} `));
  expect(line, `no table row for ${id} in:\n${stdout}`).toBeDefined();
  return line!;
}

describe('gate on the example archive', () => {
  let text: CliResult;
  let json: CliResult;
  let report: any;
  beforeAll(async () => {
    [text, json] = await Promise.all([runCli(['gate', EXAMPLE_ZIP]), runCli(['gate', EXAMPLE_ZIP, '--json'])]);
    report = JSON.parse(json.stdout);
  });

  it('exits 1: gating alone rules models out (two DROPs and a PyTorch file)', () => {
    expect(text.code).toBe(1);
    expect(json.code).toBe(1);
    expect(text.stdout).toMatch(/conclusion: failure — 3 reasons:\n {2}- ETHUSD_1Hour: gating DROP [\s\S]*\n {2}- SOLUSD_1Hour: gating DROP \(METRIC_INVALID\)[\s\S]*\n {2}- UNIUSD_1Hour: /);
    // Progress goes to stderr, results to stdout.
    expect(text.stderr).toContain('manifest Alpaca_trading/manifest.json: 14 sha256 sums verified');
    expect(text.stdout).not.toContain('sha256 sums verified');
  });

  it('prints the gating table with every model, its class, flags and candidate', () => {
    const out = text.stdout;
    // The archive's path follows on the same line, or on the next when the line would pass 100 columns (a deep checkout).
    expect(out).toMatch(/^Gating \(v2\.4\.5\) —(?: |\n {2}).*Alpaca_trading_trained_20240911_120000\.zip$/m);
    expect(row(out, 'BTCUSD_1Hour')).toMatch(/^BTCUSD_1Hour\s+final\s+0\.74\s+1\.91\s+88\.0%\s+6\.5%\s+APPROVED\s+-\s+-$/);
    // A long flag list wraps within its column (the table fits 100 columns): the row's next lines hold the rest.
    const flagRows = (id: string): string => {
      const lines = out.split('\n');
      const at = lines.findIndex((l) => l.startsWith(`${id} `));
      const col = lines[at]!.search(/(APPROVED|REVIEW|DROP) {2,}/) + 10;
      const cont = [];
      for (let i = at + 1; i < lines.length && /^ +\S/.test(lines[i]!); i++) cont.push(lines[i]!.trim());
      return [
        lines[at]!.slice(col)
          .replace(/\s+\S+$/, '')
          .trim(),
        ...cont,
      ].join('');
    };
    expect(row(out, 'BTCUSD_4Hour')).toMatch(/\sREVIEW\s+LOW_FITNESS,LOW_PF,\S*\s+-$/);
    expect(flagRows('BTCUSD_4Hour')).toBe('LOW_FITNESS,LOW_PF,LOW_CONSISTENCY,HIGH_DRAWDOWN');
    expect(flagRows('ETHUSD_1Hour')).toBe('LOW_FITNESS,LOW_PF,LOW_CONSISTENCY,HIGH_DRAWDOWN,FITNESS_DECLINE,UNSTABLE_TRAINING');
    expect(row(out, 'BTCUSD_2Hour')).toMatch(/^BTCUSD_2Hour\s+checkpoint:3\s.*\sAPPROVED\s+FITNESS_DECLINE\s+3$/);
    expect(row(out, 'BTCUSD_1Day')).toMatch(/\sAPPROVED\s+-\s+-$/);
    expect(row(out, 'ETHUSD_1Hour')).toMatch(/\sDROP\s+LOW_FITNESS,\S*\s+1$/);
    expect(row(out, 'SOLUSD_1Hour')).toMatch(/\s820\.0%\s+DROP\s+METRIC_INVALID\s+-$/);
    expect(row(out, 'UNIUSD_1Hour')).toMatch(/\sAPPROVED\s+PYTORCH_CHECKPOINT\s+-$/);
    // Notes wrap at 100 columns: compared with the line breaks as spaces.
    expect(out.replace(/\s+/g, ' ')).toContain(`error: ${MODELS_DIR}/UNIUSD_1Hour.pt: PyTorch checkpoint: export it to ONNX (torch.onnx.export)`);
    expect(out.replace(/\s+/g, ' ')).toContain('gating: METRIC_INVALID: max_drawdown[1] = 9.5 is outside [0, 1]');
    expect(out.replace(/\s+/g, ' ')).toContain('note: evaluating checkpoint 3 (Alpaca_trading/models/rl_symbols/checkpoints/BTCUSD_2Hour_3.onnx)');
  });

  it('--json prints report.json with the SPEC 10 field names', () => {
    expect(json.stdout.trimStart().startsWith('{')).toBe(true);
    expect(report.schemaVersion).toBe(1);
    expect(report.tool).toEqual({ name: 'policy-gate', version: VERSION });
    expect(report.generatedAt).toBe(NOW.toISOString());
    expect(report.conclusion).toBe('failure');
    expect(report.config.sha256).toMatch(HEX64);
    expect(report.config.gating.preset).toBe('v2.4.5');
    expect(report.archive.path).toBe(EXAMPLE_ZIP);
    expect(report.archive.kind).toBe('zip');
    expect(report.archive.sha256).toMatch(HEX64);
    expect(report.archive.summary).toEqual({ path: 'Alpaca_trading/training_summary_20240911_120000.json', runId: '20240911_120000' });
    expect(report.archive.manifest).toEqual({ path: 'Alpaca_trading/manifest.json', files: 14 });

    const byId = Object.fromEntries(report.models.map((m: any) => [m.id, m]));
    expect(Object.keys(byId)).toEqual(['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day', 'ETHUSD_1Hour', 'SOLUSD_1Hour', 'UNIUSD_1Hour']);
    for (const m of report.models) {
      for (const key of ['id', 'symbol', 'timeframe', 'candidate', 'model', 'gating', 'requested', 'errors']) expect(m).toHaveProperty(key);
      for (const key of ['classification', 'flags', 'final', 'checkpointIndex']) expect(m.gating).toHaveProperty(key);
      expect(Object.keys(m.gating.final).sort()).toEqual(['consistency', 'fitness', 'maxDrawdown', 'profitFactor']);
      expect(m.requested).toBe('PAPER');
      // gate runs no backtest and decides nothing.
      expect(m.backtest).toBeNull();
      expect(m.walkForward).toBeNull();
    }
    const one = byId.BTCUSD_1Hour;
    expect(one.symbol).toBe('BTCUSD');
    expect(one.timeframe).toBe('1Hour');
    expect(one.candidate).toBe('final');
    expect(one.model.path).toBe(`${MODELS_DIR}/BTCUSD_1Hour.onnx`);
    expect(one.gating).toMatchObject({
      classification: 'APPROVED',
      flags: [],
      final: { fitness: 0.74, profitFactor: 1.91, consistency: 0.88, maxDrawdown: 0.065 },
      checkpointIndex: null,
    });
    expect(byId.BTCUSD_4Hour.gating.classification).toBe('REVIEW');
    expect(byId.BTCUSD_2Hour).toMatchObject({
      candidate: 'checkpoint:3',
      model: { path: `${MODELS_DIR}/checkpoints/BTCUSD_2Hour_3.onnx` },
      gating: { classification: 'APPROVED', flags: ['FITNESS_DECLINE'], checkpointIndex: 3, final: { fitness: 0.72 } },
    });
    expect(byId.ETHUSD_1Hour.gating.classification).toBe('DROP');
    expect(byId.ETHUSD_1Hour.gating.flags).toContain('UNSTABLE_TRAINING');
    expect(byId.SOLUSD_1Hour.gating).toMatchObject({ classification: 'DROP', flags: ['METRIC_INVALID'], final: { maxDrawdown: 8.2 } });
    expect(byId.UNIUSD_1Hour.flags).toContain('PYTORCH_CHECKPOINT');
    expect(byId.UNIUSD_1Hour.model).toBeNull();
    expect(byId.UNIUSD_1Hour.errors[0]).toContain('export it to ONNX');
  });

  it('--json gives each model file its sha256 (SPEC 10 model {path, sha256})', () => {
    for (const m of report.models) if (m.model) expect(m.model.sha256, m.id).toMatch(HEX64);
  });
});

describe('backtest command', () => {
  let modelPath: string;
  beforeAll(() => {
    const files = exampleFiles();
    const dir = tempDir('model-');
    writeTree(dir, {
      'BTCUSD_1Hour.onnx': files[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!,
      'BTCUSD_1Hour.card.json': files[`${MODELS_DIR}/BTCUSD_1Hour.card.json`]!,
    });
    modelPath = path.join(dir, 'BTCUSD_1Hour.onnx');
  });

  it('prints the run_backtest.py metrics for the last 30 days and exits 0', async () => {
    const r = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '30']);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    const out = r.stdout;
    expect(out).toContain('=== BTCUSD_1Hour ===');
    expect(out).toMatch(/Period\s+2024-08-12 18:00 → 2024-09-11 17:00 UTC \(720 bars\)/);
    for (const label of ['Total Return', 'Max Drawdown', 'Win Rate', 'Profit Factor', 'Sharpe', 'Sortino', 'Calmar', 'Trades', 'Exposure', 'Buy & Hold Return']) {
      expect(out, label).toMatch(new RegExp(`^  ${label.replace(/[&]/g, '\\$&')}\\s+\\S`, 'm'));
    }
    // The same numbers validate reports for this model's 30-day backtest.
    expect(out).toMatch(/Total Return\s+-7\.13%/);
    expect(out).toMatch(/Buy & Hold Return\s+-2\.67%/);
    expect(out).toMatch(/Max Drawdown\s+13\.25%/);
    expect(out).toMatch(/Win Rate\s+37\.50%/);
    expect(out).toMatch(/Profit Factor\s+0\.49/);
    expect(out).toMatch(/Trades\s+8$/m);
    expect(out).toMatch(/Periods per year\s+8760/);
    expect(out).not.toContain('PER-FOLD ANALYSIS');
    // One window decides nothing: exit 0, and nothing reads as an approval.
    // The terminal wraps prose at 100 columns with a hanging indent: read it unwrapped.
    expect(out.replace(/\n +/g, ' ')).toMatch(/\nconclusion: no decision — a backtest without --walk-forward decides nothing \(no tier is earned or refused\); add --walk-forward K for a decision/);
    expect(out).not.toContain('DECISION');
    expect(out).not.toContain('success');
  });

  it('without --walk-forward, report.md and report.html say "no decision", never "✅ success"', async () => {
    const out = path.join(tempDir('out-'), 'r');
    const r = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--out', out]);
    expect(r.code).toBe(0);
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md.split('\n')[0]).toBe('## ℹ️ policy-gate backtest: no decision');
    expect(md).not.toContain('✅');
    expect(md).toContain('- a backtest without --walk-forward decides nothing');
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('<h1>policy-gate backtest <span class="badge">no decision</span></h1>');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.models[0]).toMatchObject({ decision: null, notEvaluated: null, requested: 'PAPER' });
  });

  it('with --walk-forward 5 --days 180 prints the PER-FOLD ANALYSIS and a 5-row fold table', async () => {
    const r = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '180', '--walk-forward', '5']);
    expect(r.code).toBe(1); // 0/5 positive folds: DROP (below the requested PAPER)
    const out = r.stdout;
    expect(out).toContain('PER-FOLD ANALYSIS');
    expect(out).toMatch(/Sharpe Range: -8\.77 to 0\.06/);
    expect(out).toMatch(/Sharpe Mean: -3\.08 \(\+\/- 3\.46\)/);
    expect(out).toMatch(/Positive Folds: 0\/5/);
    expect(out).toMatch(/Rating: POOR/);
    const foldRows = out.split('\n').filter((l) => /^\s+\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d → /.test(l));
    expect(foldRows).toHaveLength(5);
    expect(foldRows.map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([1, 2, 3, 4, 5]);
    for (const l of foldRows) expect(l).toMatch(/ 864 /);
    expect(foldRows[0]).toMatch(/2024-03-15 18:00 → 2024-04-20 17:00\s+864\s+-14\.09%/);
    expect(foldRows[4]).toMatch(/2024-08-06 18:00 → 2024-09-11 17:00\s+864\s+-6\.69%/);
  });

  it('with --walk-forward the decision of SPEC 7 ends the run, with its rule, and the exit code follows it like validate', async () => {
    const out = path.join(tempDir('out-'), 'r');
    const r = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '180', '--walk-forward', '5', '--out', out]);
    expect(r.code).toBe(1);
    const flat = r.stdout.replace(/\n +/g, ' ');
    expect(flat).toContain('DECISION: DROP (rule 2: every fold lost money (best fold return -0.4 %); investigate the training data)');
    expect(r.stdout).toMatch(/\nconclusion: failure — BTCUSD_1Hour: DROP is below the requested PAPER\n$/);
    expect(r.stdout).not.toContain('success');
    expect(flat).toContain('note: no training summary, so no gating: rules 1 (golden vectors, look-ahead), 2, 4 and 5 decide, and LIVE (rule 3) needs APPROVED gating');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.conclusion).toBe('failure');
    expect(report.models[0].decision).toMatchObject({ tier: 'DROP', rule: 'rule 2: consistent losses' });
    expect(report.models[0].requested).toBe('PAPER');
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md.split('\n')[0]).toBe('## ❌ policy-gate: failure');
    expect(md).toContain('<details><summary>🔴 <b>BTCUSD_1Hour</b> — DROP · ');
    // The requested tier is decision.required: requested at DROP, the same evidence passes (exit 0).
    const cwd = tempDir('cfg-');
    writeFileSync(path.join(cwd, 'c.yml'), 'decision:\n  required: DROP\n');
    const low = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '180', '--walk-forward', '5', '--config', 'c.yml', '--json'], cwd);
    expect(low.code, low.stderr).toBe(0);
    const lowReport = JSON.parse(low.stdout);
    expect(lowReport).toMatchObject({ conclusion: 'success', conclusionReasons: [] });
    expect(lowReport.models[0]).toMatchObject({ requested: 'DROP', decision: { tier: 'DROP' } });
  });

  it('bad input of the run is exit 2 naming it, never a DROP: --end before the data, --days longer than the data, bars without the symbol, a card of another model', async () => {
    const before = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--end', '2023-06-01', '--walk-forward', '5', '--json']);
    expect(before.code).toBe(2);
    expect(before.stderr).toContain(
      'policy-gate: error: BTCUSD_1Hour: the window end --end 2023-06-01T00:00:00.000Z is before the first bar of BTCUSD 1Hour (2023-12-31T23:00:00.000Z); the bars cover 2023-12-31T23:00:00.000Z → 2024-09-11T17:00:00.000Z: pass an --end inside them',
    );
    const m = JSON.parse(before.stdout).models[0];
    expect(m.decision).toBeNull();
    expect(m.notEvaluated.kind).toBe('input');

    const long = await runCli(['backtest', '--model', modelPath, '--data', EXAMPLE_DATA, '--days', '400']);
    expect(long.code).toBe(2);
    expect(long.stderr).toContain(
      'policy-gate: error: BTCUSD_1Hour: the 400-day backtest window (--days / backtest.days) ending 2024-09-11T17:00:00.000Z starts 2023-08-08T17:00:00.000Z, before the first bar of BTCUSD 1Hour (2023-12-31T23:00:00.000Z): the bars hold 254.8 days before that end',
    );

    const empty = tempDir('bars-');
    writeFileSync(path.join(empty, 'ETHUSD_1Hour.csv'), readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv')));
    const none = await runCli(['backtest', '--model', modelPath, '--data', empty]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`policy-gate: error: BTCUSD_1Hour: no bars for BTCUSD 1Hour: expected ${path.join(empty, 'BTCUSD_1Hour.csv')}`);

    const files = exampleFiles();
    const other = tempDir('other-');
    writeTree(other, { 'ETHUSD_1Hour.onnx': files[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]! });
    const cardPath = path.join(path.dirname(modelPath), 'BTCUSD_1Hour.card.json');
    const wrong = await runCli(['backtest', '--model', path.join(other, 'ETHUSD_1Hour.onnx'), '--card', cardPath, '--data', EXAMPLE_DATA]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain(`policy-gate: error: ${cardPath}: the card is for BTCUSD 1Hour, but the model file ETHUSD_1Hour.onnx is named for ETHUSD 1Hour`);
  });

  it('a model file that is not there, or a PyTorch file, is exit 2 naming the file', async () => {
    const missing = path.join(tempDir(), 'NOPE_1Hour.onnx');
    const r1 = await runCli(['backtest', '--model', missing, '--data', EXAMPLE_DATA]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain(missing);
    const pt = path.join(tempDir(), 'BTCUSD_1Hour.pt');
    writeFileSync(pt, 'not a model');
    const r2 = await runCli(['backtest', '--model', pt, '--data', EXAMPLE_DATA]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(pt);
    expect(r2.stderr).toContain('export it to ONNX');
  });
});

describe('usage errors exit 2 and name the flag or file', () => {
  const Z = EXAMPLE_ZIP;
  const D = EXAMPLE_DATA;
  const cases: { name: string; argv: string[]; mentions: string[] }[] = [
    { name: 'unknown command', argv: ['frobnicate'], mentions: ['unknown command "frobnicate"'] },
    { name: 'unknown flag', argv: ['gate', Z, '--bogus'], mentions: ['--bogus'] },
    { name: 'flag of another command', argv: ['gate', Z, '--data', D], mentions: ['--data does not apply to "gate"'] },
    { name: '--days abc', argv: ['validate', Z, '--data', D, '--days', 'abc'], mentions: ['--days', '"abc"'] },
    { name: '--days 0', argv: ['validate', Z, '--data', D, '--days', '0'], mentions: ['--days', '"0"'] },
    { name: '--walk-forward 2.5', argv: ['validate', Z, '--data', D, '--walk-forward', '2.5'], mentions: ['--walk-forward', 'integer'] },
    { name: '--capital -5', argv: ['validate', Z, '--data', D, '--capital=-5'], mentions: ['--capital'] },
    { name: '--end notadate', argv: ['validate', Z, '--data', D, '--end', 'notadate'], mentions: ['--end', '"notadate"'] },
    { name: 'validate without --data', argv: ['validate', Z], mentions: ['--data'] },
    { name: 'validate without an archive', argv: ['validate', '--data', D], mentions: ['exactly one archive', 'got 0'] },
    { name: 'gate with two archives', argv: ['gate', Z, Z], mentions: ['exactly one archive', 'got 2'] },
    { name: 'an archive that does not exist', argv: ['gate', '/nonexistent/policy-gate/x.zip'], mentions: ['/nonexistent/policy-gate/x.zip'] },
    { name: '--device gpu', argv: ['validate', Z, '--data', D, '--device', 'gpu'], mentions: ['--device', '"gpu"'] },
    { name: '--config missing.yml', argv: ['validate', Z, '--data', D, '--config', 'missing.yml'], mentions: ['missing.yml'] },
    { name: 'backtest without --model', argv: ['backtest', '--data', D], mentions: ['--model'] },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const outDir = path.join(tempDir('usage-'), 'out');
      const takesOut = ['gate', 'validate', 'backtest'].includes(c.argv[0]!) && !c.argv.includes('--bogus');
      const r = await runCli(takesOut ? [...c.argv, '--out', outDir] : c.argv);
      expect(r.code, r.stderr).toBe(2);
      for (const m of c.mentions) expect(r.stderr).toContain(m);
      expect(r.stderr).toMatch(/^policy-gate: error: /m);
      expect(r.stderr).not.toContain('internal error');
      expect(r.stdout).toBe('');
      if (takesOut) {
        // A refused run still leaves a report saying why (for the Action's check run and artifact).
        const report = JSON.parse(readFileSync(path.join(outDir, 'report.json'), 'utf8'));
        expect(report.conclusion).toBe('failure');
        expect(report.models).toEqual([]);
        expect(report.errors[0]).toContain(c.mentions[0]);
        expect(report.conclusionReasons[0]).toMatch(/^run error: /);
      } else {
        expect(existsSync(outDir)).toBe(false);
      }
    });
  }

  it('a mistyped flag or command is exit 2 with "did you mean", naming the command\'s help', async () => {
    const cases: [string[], string][] = [
      [['backtest', '--model', 'm.onnx', '--walkforward', '5'], 'unknown flag --walkforward for "backtest"; did you mean --walk-forward? (run policy-gate backtest --help)'],
      [['validate', Z, '--walk_forward=5'], 'did you mean --walk-forward?'],
      [['validate', Z, '--dat', D], 'unknown flag --dat for "validate"; did you mean --data?'],
      [['validate', Z, '--equity-uot', 'x'], 'did you mean --equity-out?'],
      [['gate', Z, '--jsno'], 'unknown flag --jsno for "gate"; did you mean --json?'],
      [['promote', '--report', 'r.json', '--dryrun'], 'did you mean --dry-run?'],
      [['validat', Z], 'unknown command "validat"; did you mean validate? (run policy-gate --help)'],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toContain(message);
      expect(r.stdout).toBe('');
    }
    // Nothing close: no guess.
    const far = await runCli(['gate', Z, '--bogus']);
    expect(far.code).toBe(2);
    expect(far.stderr).toContain('unknown flag --bogus for "gate" (run policy-gate gate --help)');
    expect(far.stderr).not.toContain('did you mean');
  });

  it('each command has its own --help listing exactly its flags (exit 0); help <command> is the same', async () => {
    const flags: Record<string, string[]> = {
      validate: ['data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json', 'shard', 'help'],
      gate: ['config', 'out', 'json', 'help'],
      backtest: ['model', 'card', 'data', 'days', 'walk-forward', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json', 'help'],
      promote: ['report', 'paper', 'live', 'archive', 'models-dir', 'dry-run', 'config', 'json', 'help'],
      revalidate: ['paper', 'live', 'data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'equity-out', 'trades-out', 'device', 'json', 'help'],
      merge: ['out', 'json', 'help'],
      track: ['paper', 'live', 'account', 'data', 'days', 'walk-forward', 'backtest-days', 'capital', 'end', 'config', 'out', 'device', 'json', 'help'],
    };
    for (const [command, want] of Object.entries(flags)) {
      const r = await runCli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout).toContain(`Usage: policy-gate ${command}`);
      for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
      const listed = [...r.stdout.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]);
      expect(listed.sort(), command).toEqual([...want].sort());
      const viaHelp = await runCli(['help', command]);
      expect(viaHelp.stdout).toBe(r.stdout);
      // -h works too, even next to a bad flag (help wins over the error)
      const short = await runCli([command, '--bogus', '-h']);
      expect(short.code).toBe(0);
      expect(short.stdout).toBe(r.stdout);
    }
    // every flag the parser accepts for a command is one its help describes, and no other: a flag of
    // validate is refused by gate, and gate's help does not list it
    const g = await runCli(['gate', Z, '--data', D]);
    expect(g.code).toBe(2);
    expect(g.stderr).toContain('(run policy-gate gate --help)');
  });

  it('no command at all prints the usage and exits 2; --help exits 0', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('Usage:');
    const h = await runCli(['validate', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('policy-gate validate <archive.zip|dir>');
  });

  it('a config file with an unknown key is exit 2 naming the file and the key', async () => {
    const cwd = tempDir('cfg-');
    writeFileSync(path.join(cwd, 'pg.yml'), 'backtest:\n  dayz: 30\n');
    const r = await runCli(['gate', EXAMPLE_ZIP, '--config', 'pg.yml'], cwd);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pg.yml');
    expect(r.stderr).toContain('dayz');
  });
});

describe('paths and output folders', () => {
  it('relative archive and --out paths resolve against io.cwd, like --config', async () => {
    const cwd = tempDir('rel-');
    writeFileSync(path.join(cwd, 'archive.zip'), readFileSync(EXAMPLE_ZIP));
    const r = await runCli(['gate', 'archive.zip', '--out', 'rep'], cwd);
    expect(r.stderr).not.toContain('does not exist');
    expect(r.code).toBe(1);
    expect(listTree(path.join(cwd, 'rep'))).toEqual(['report.html', 'report.json', 'report.md']);
  });

  it('--out naming an existing file is a usage error naming --out, not an internal error', async () => {
    const file = path.join(tempDir('outfile-'), 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await runCli(['gate', EXAMPLE_ZIP, '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('internal error');
    expect(r.stderr).toContain('--out');
    expect(r.stderr).toContain(file);
  });

  it('--equity-out naming an existing file is exit 2 naming it, not a DROP of every model', async () => {
    const file = path.join(tempDir('eqfile-'), 'not-a-folder');
    writeFileSync(file, 'x');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--equity-out', file, '--json']);
    expect(r.stdout).not.toContain('"rule": "not evaluated"');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--equity-out');
  });

  it('a --data folder that does not exist is exit 2 naming it', async () => {
    const missing = path.join(tempDir('nodata-'), 'bars');
    const r = await runCli(['validate', EXAMPLE_ZIP, '--data', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
  });
});

describe('hostile archives at the command line', () => {
  it('a zip entry "../evil.txt" is refused with exit 2, naming it, and nothing is written', async () => {
    const outer = tempDir('hostile-');
    const work = path.join(outer, 'work');
    const zip = path.join(work, 'archive.zip');
    writeTree(work, {
      'archive.zip': buildZip([
        { name: 'training_summary.json', data: '{"symbols":{}}' },
        { name: '../evil.txt', data: 'pwned' },
      ]),
    });
    const cwd = path.join(outer, 'cwd');
    mkdirSync(cwd);
    const before = listTree(outer);
    const out = path.join(outer, 'out');
    for (const argv of [
      ['validate', zip, '--data', EXAMPLE_DATA, '--out', out, '--equity-out', path.join(outer, 'eq')],
      ['gate', zip, '--out', out],
    ]) {
      const r = await runCli(argv, cwd);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('../evil.txt');
      expect(r.stderr).toContain(zip);
      expect(r.stderr).not.toContain('internal error');
    }
    // Nothing was extracted anywhere: the only new files are the failure report in --out.
    expect(listTree(outer)).toEqual([...before, 'out', 'out/report.html', 'out/report.json', 'out/report.md'].sort());
    expect(existsSync(path.join(outer, 'evil.txt'))).toBe(false);
    expect(readdirSync(cwd)).toEqual([]);
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.conclusion).toBe('failure');
    expect(report.archive).toBeNull();
    expect(report.errors[0]).toContain('../evil.txt');
  });

  it('a zip with two training summaries is exit 2 naming both', async () => {
    const dir = tempDir('two-summaries-');
    const summary = enc(JSON.stringify({ symbols: { BTCUSD_1Hour: { fitness_score: [0.8], profit_factor: [2], consistency: [0.9], max_drawdown: [0.05] } } }));
    const zip = path.join(dir, 'two.zip');
    writeFileSync(zip, zipSync({ 'run_a/training_summary_a.json': summary, 'run_b/training_summary_b.json': summary }));
    const out = path.join(dir, 'out');
    const r = await runCli(['validate', zip, '--data', EXAMPLE_DATA, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('run_a/training_summary_a.json');
    expect(r.stderr).toContain('run_b/training_summary_b.json');
    expect(r.stderr).toContain('exactly one');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.conclusion).toBe('failure');
    expect(report.models).toEqual([]);
    expect(report.errors[0]).toContain('run_a/training_summary_a.json');
    expect(report.errors[0]).toContain('run_b/training_summary_b.json');
  });

  it('an archive without a training summary is exit 2 saying what was expected', async () => {
    const dir = tempDir('no-summary-');
    const zip = path.join(dir, 'none.zip');
    writeFileSync(zip, zipSync({ 'models/BTCUSD_1Hour.onnx': enc('x') }));
    const r = await runCli(['gate', zip]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(zip);
    expect(r.stderr).toContain('training_summary*.json');
  });
});

describe('the real bin/policy-gate.js', () => {
  const bin = path.join(REPO, 'bin', 'policy-gate.js');
  const libCli = path.join(REPO, 'lib', 'cli.js');

  function newestMtime(dir: string): number {
    let newest = 0;
    for (const name of readdirSync(dir, { recursive: true }) as string[]) {
      const s = statSync(path.join(dir, name));
      if (s.isFile()) newest = Math.max(newest, s.mtimeMs);
    }
    return newest;
  }

  beforeAll(() => {
    const stale = (): boolean => !existsSync(libCli) || statSync(libCli).mtimeMs < newestMtime(path.join(REPO, 'src'));
    if (!stale()) return;
    try {
      execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
        cwd: REPO,
        stdio: 'pipe',
      });
    } catch (err) {
      // tsc still emits on type errors (those are `tsc --noEmit`'s business); fail only when no fresh lib/ came out.
      if (stale()) throw new Error(`npx tsc -p tsconfig.build.json did not build lib/: ${String((err as { stdout?: unknown }).stdout ?? err)}`);
    }
  }, 180_000);

  it('runs validate, gate and --version in a child process, and its exit codes reach the shell', () => {
    const cwd = tempDir('bin-');
    const out = path.join(cwd, 'report');
    const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });

    const v = run(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', out]);
    expect(v.stderr).not.toContain('internal error');
    expect(v.status).toBe(1);
    expect(v.stdout).toContain('DECISIONS');
    expect(v.stdout).toMatch(/^BTCUSD_4Hour\s+REVIEW\s+-3\.54%\s+4\/5\s+1\.86 ± 1\.50\s+MARGINAL\s+PAPER\s+PAPER\s+ok$/m);
    expect(v.stdout).toMatch(/^BTCUSD_1Hour\s+APPROVED\s+-7\.13%\s+0\/5\s+.*\sPOOR\s+DROP\s+PAPER\s+BELOW$/m);
    expect(v.stderr).toContain('policy-gate: wrote ');
    expect(listTree(out)).toEqual(['report.html', 'report.json', 'report.md']);

    const bad = run(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--days', 'abc']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--days must be a positive number, got "abc"');

    const ver = run(['--version']);
    expect(ver.status).toBe(0);
    expect(ver.stdout.trim()).toBe(VERSION);
    expect(readdirSync(cwd)).toEqual(['report']);
  });
});
