/**
 * Git LFS pointers where an archive, a model or a bars file is expected: a checkout without `git lfs
 * pull` (actions/checkout's default is lfs: false) leaves ~130-byte text stubs in their place. Each is
 * refused with the one thing to do, instead of "not a zip" / "not a valid ONNX model" / "no timestamp
 * column". The pointers are written exactly as git-lfs writes them (docs/spec.md of git-lfs: the
 * version line, then oid and size, sorted, each ending in a newline) for the real files' bytes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LFS_ADVICE, parseLfsPointer } from '../src/core/lfs.js';
import { sha256 } from '../src/util/hash.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, MODELS_DIR, cleanupTempDirs, exampleFiles, exampleFolder, runCli, tempDir, writeTree } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

/** The pointer git-lfs commits in place of `bytes`. */
const pointerFor = (bytes: Uint8Array): string => `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(Buffer.from(bytes))}\nsize ${bytes.length}\n`;

const ADVICE = 'this is a Git LFS pointer: run git lfs pull (or set lfs: true in actions/checkout)';

describe('parseLfsPointer', () => {
  it('reads the oid and size of a pointer, as text or bytes, CRLF too', () => {
    const zip = new Uint8Array(readFileSync(EXAMPLE_ZIP));
    const text = pointerFor(zip);
    const want = { oid: `sha256:${sha256(Buffer.from(zip))}`, size: zip.length };
    expect(parseLfsPointer(text)).toEqual(want);
    expect(parseLfsPointer(new TextEncoder().encode(text))).toEqual(want);
    expect(parseLfsPointer(text.replace(/\n/g, '\r\n'))).toEqual(want);
    expect(LFS_ADVICE).toBe(ADVICE);
  });

  it('is null for real files and for look-alikes', () => {
    expect(parseLfsPointer(new Uint8Array(readFileSync(EXAMPLE_ZIP)))).toBeNull();
    expect(parseLfsPointer(readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Day.csv'), 'utf8'))).toBeNull();
    expect(parseLfsPointer('version https://git-lfs.github.com/spec/v10\noid sha256:00\nsize 1\n')).toBeNull();
    expect(parseLfsPointer(`version https://git-lfs.github.com/spec/v1\n${'x'.repeat(1100)}`)).toBeNull(); // over the 1024-byte cap
    expect(parseLfsPointer('')).toBeNull();
  });
});

describe('a Git LFS pointer in place of', () => {
  const files = exampleFiles();
  const onnx = files[`${MODELS_DIR}/BTCUSD_1Hour.onnx`]!;
  const card = files[`${MODELS_DIR}/BTCUSD_1Hour.card.json`]!;
  let realModel: string;
  beforeAll(() => {
    realModel = path.join(writeTree(tempDir('model-'), { 'BTCUSD_1Hour.onnx': onnx, 'BTCUSD_1Hour.card.json': card }), 'BTCUSD_1Hour.onnx');
  });

  it('the archive: exit 2 naming it, with the advice; the report still says why', async () => {
    const zip = path.join(tempDir('lfs-zip-'), 'Alpaca_trading_trained.zip');
    const bytes = new Uint8Array(readFileSync(EXAMPLE_ZIP));
    writeFileSync(zip, pointerFor(bytes));
    const out = path.join(tempDir('lfs-out-'), 'report');
    const r = await runCli(['validate', zip, '--data', EXAMPLE_DATA, '--out', out]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${zip}: ${ADVICE}`);
    expect(r.stderr).toContain(`${bytes.length} bytes`);
    expect(r.stderr).not.toContain('internal error');
    const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.errors[0]).toContain(ADVICE);
  });

  it('the model given to backtest: exit 2 naming the file, with the advice', async () => {
    const dir = writeTree(tempDir('lfs-model-'), { 'BTCUSD_1Hour.onnx': pointerFor(onnx), 'BTCUSD_1Hour.card.json': card });
    const model = path.join(dir, 'BTCUSD_1Hour.onnx');
    const r = await runCli(['backtest', '--model', model, '--data', EXAMPLE_DATA]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${model}: ${ADVICE}`);
    expect(r.stderr).not.toMatch(/not a valid ONNX model/);
  });

  it("a bars file: the model's error names the CSV, with the advice (not a missing column)", async () => {
    const data = writeTree(tempDir('lfs-bars-'), { 'BTCUSD_1Hour.csv': pointerFor(readFileSync(path.join(EXAMPLE_DATA, 'BTCUSD_1Hour.csv'))) });
    const r = await runCli(['backtest', '--model', realModel, '--data', data, '--json']);
    expect(r.code, r.stderr).not.toBe(0);
    const m = JSON.parse(r.stdout).models[0];
    expect(m.errors[0]).toContain(`${path.join(data, 'BTCUSD_1Hour.csv')}: ${ADVICE}`);
    expect(m.errors[0]).not.toMatch(/column/);
    expect(m.backtest).toBeNull();
  });

  it("a model inside a folder archive: that model's error says it, the others are evaluated", async () => {
    const dir = exampleFolder((f) => {
      delete f['Alpaca_trading/manifest.json'];
      f[`${MODELS_DIR}/BTCUSD_4Hour.onnx`] = new TextEncoder().encode(pointerFor(f[`${MODELS_DIR}/BTCUSD_4Hour.onnx`]!));
    });
    const r = await runCli(['validate', dir, '--data', EXAMPLE_DATA, '--json']);
    const report = JSON.parse(r.stdout);
    const byId = Object.fromEntries(report.models.map((m: any) => [m.id, m]));
    expect(byId.BTCUSD_4Hour.errors).toHaveLength(1);
    expect(byId.BTCUSD_4Hour.errors[0]).toContain(`BTCUSD_4Hour.onnx: ${ADVICE}`);
    expect(byId.BTCUSD_4Hour.backtest).toBeNull();
    expect(byId.BTCUSD_2Hour.errors).toEqual([]);
    expect(byId.BTCUSD_2Hour.walkForward.folds).toHaveLength(5);
  });
});
