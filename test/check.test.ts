/**
 * `policy-gate check`: binds each card to its model and runs the inference goldens, without bars,
 * and prints what every setting resolved to. Exit 0 fits, 1 an inference golden mismatches, 2 a
 * mis-set card (named). Models: the torch exports of test/fixtures/sb3 and the example archive.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { cleanupTempDirs, EXAMPLE_ZIP, REPO, runCli, tempDir } from './helpers/e2e.js';

const DIR = path.join(REPO, 'test', 'fixtures', 'sb3');
const model = (name: string): string => path.join(DIR, `${name}.onnx`);
const card = (name: string): Record<string, unknown> => JSON.parse(readFileSync(path.join(DIR, `${name}.card.json`), 'utf8'));

afterAll(async () => {
  await shutdownOrtHost();
  cleanupTempDirs();
});

function writeCard(json: unknown): string {
  const file = path.join(tempDir('check-'), 'card.json');
  writeFileSync(file, JSON.stringify(json));
  return file;
}

describe('policy-gate check', () => {
  it('prints what each setting of a RecurrentPPO card resolved to, and exits 0', async () => {
    const res = await runCli(['check', '--model', model('recurrent_ppo'), '--card', path.join(DIR, 'recurrent_ppo.card.json')]);
    expect(res.code).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines).toContain('=== BTCUSD_1Hour — OK ===');
    expect(lines).toContain('input   "obs" [batch, 6] float32 ← 1 row × 6 features, flattened time-major to [n, 6]');
    expect(lines).toContain(`state   "h_in" [1, batch, 16] float32 ← "h_out" of the previous decision; zeros at each window's first decision (batch on axis 1)`);
    expect(lines).toContain(`state   "c_in" [1, batch, 16] float32 ← "c_out" of the previous decision; zeros at each window's first decision (batch on axis 1)`);
    expect(lines).toContain(`extra   "episode_starts" [batch] float32 ← episode start: 1 at each window's first decision, 0 after`);
    expect(lines).toContain('action  "action" [batch] int64 → the action index over CLOSE, BUY, SELL; no confidence');
    expect(lines).toContain('window  1 row; warm-up 4 bars before the first decision; normalize; batched');
    expect(lines).toContain('  log_return(lag=4): reads 5 bars (warm-up 4)');
    expect(lines).toContain('golden  2/2 inference checks passed; 3 observation checks need bars (run validate or backtest)');
  });

  it("--json: SB3's recipe as is resolves to the action index, with a note, and the other outputs unused", async () => {
    const res = await runCli(['check', '--model', model('sb3_discrete'), '--card', path.join(DIR, 'sb3_discrete.card.json'), '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.ok).toBe(true);
    const m = report.models[0];
    expect(m.status).toBe('ok');
    expect(m.resolved.action).toMatchObject({ type: 'int64', shape: [1], kind: 'action_index', meanings: ['CLOSE', 'BUY', 'SELL'] });
    expect(m.resolved.unusedOutputs.map((o: { type: string }) => o.type)).toEqual(['float32', 'float32']);
    expect(m.resolved.batchable).toBe(false);
    expect(m.notes.some((n: string) => n.includes('read as the action index'))).toBe(true);
    expect(m.golden).toEqual({ inference: 2, inferencePassed: 2, observation: 3 });
  });

  it('a card that names no output of a three-output model exits 2, listing each output and the setting that reads it', async () => {
    const c = card('sb3_continuous');
    const file = writeCard({ ...c, action: { type: 'continuous' } });
    const res = await runCli(['check', '--model', model('sb3_continuous'), '--card', file]);
    expect(res.code).toBe(2);
    expect(res.stdout).toContain('=== BTCUSD_1Hour — MIS-SET CARD ===');
    expect(res.stdout).toContain('has 3 outputs and');
    expect(res.stdout).toContain('does not say which one holds the action; set action.output (and action.output_kind)');
    expect(res.stdout).toContain('  - "action" [batch, 1] float32: action.output (continuous: its first value is the target)');
    expect(res.stdout).toContain('  - "log_prob" [batch] float32');
  });

  it('an inference golden the export does not reproduce exits 1 with INFERENCE_MISMATCH', async () => {
    const c = card('sb3_logits');
    const golden = (c['golden'] as { obs: number[]; output?: number[] }[]).map((g) => (g.output ? { ...g, output: g.output.map((v, i) => (i === 1 ? v + 0.01 : v)) } : g));
    const res = await runCli(['check', '--model', model('sb3_logits'), '--card', writeCard({ ...c, golden }), '--json']);
    expect(res.code).toBe(1);
    const m = JSON.parse(res.stdout).models[0];
    expect(m.status).toBe('mismatch');
    expect(m.errors[0]).toMatch(/^INFERENCE_MISMATCH: golden\[0\] output\[1\] is /);
    expect(m.golden.inferencePassed).toBe(0);
  });

  it('min_confidence on an action index with no log-probability output is a mis-set card (exit 2)', async () => {
    const c = card('sb3_discrete');
    const file = writeCard({ ...c, action: { meanings: ['CLOSE', 'BUY', 'SELL'], min_confidence: 0.6 } });
    const res = await runCli(['check', '--model', model('sb3_discrete'), '--card', file]);
    expect(res.code).toBe(2);
    expect(res.stdout).toContain('action.min_confidence needs a confidence, but output');
    expect(res.stdout).toContain('action.log_prob_output');
  });

  it('checks every model of a training archive: a model without a card makes it exit 2, the others are reported', async () => {
    const res = await runCli(['check', EXAMPLE_ZIP, '--json']);
    expect(res.code).toBe(2);
    const report = JSON.parse(res.stdout);
    const byStatus = (s: string) => report.models.filter((m: { status: string }) => m.status === s).map((m: { id: string }) => m.id);
    expect(byStatus('card')).toEqual(['SOLUSD_1Hour']);
    expect(byStatus('ok').length).toBe(report.models.length - 1);
    expect(report.models.find((m: { id: string }) => m.id === 'SOLUSD_1Hour').errors[0]).toContain('no policy card for SOLUSD_1Hour');
  });

  it('usage errors exit 2', async () => {
    expect((await runCli(['check'])).code).toBe(2);
    expect((await runCli(['check', 'a.zip', '--model', model('sb3_logits')])).code).toBe(2);
    const res = await runCli(['check', EXAMPLE_ZIP, '--card', 'x.json']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--card goes with --model');
  });
});
