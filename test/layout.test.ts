import { describe, expect, it } from 'vitest';
import { findManifest, findSummary, locateModel, manifestTarget, parseManifest, resolvePath, unreferencedModels } from '../src/core/layout.js';
import type { ArchiveFile } from '../src/core/types.js';

const files = (...paths: string[]): ArchiveFile[] => paths.map((path) => ({ path, size: 1 }));

describe('finding files in an archive by name, at any depth', () => {
  it('finds exactly one training summary', () => {
    expect(findSummary(files('Alpaca_trading/training_summary_20240101_000000.json', 'a.onnx'), 'x.zip')).toBe('Alpaca_trading/training_summary_20240101_000000.json');
    expect(findSummary(files('run/summary.json'), 'x.zip')).toBe('run/summary.json');
  });
  it('refuses none or several, naming them', () => {
    expect(() => findSummary(files('a.onnx'), 'x.zip')).toThrow(/x\.zip: no training summary found/);
    expect(() => findSummary(files('a/training_summary_1.json', 'b/summary.json'), 'x.zip')).toThrow(
      'x.zip: 2 training summaries found (a/training_summary_1.json, b/summary.json); an archive must hold exactly one',
    );
  });
  it('finds at most one manifest', () => {
    expect(findManifest(files('a/manifest.json'), 'x')).toBe('a/manifest.json');
    expect(findManifest(files('a.onnx'), 'x')).toBeNull();
    expect(() => findManifest(files('a/manifest.json', 'manifest.json'), 'x')).toThrow(/2 manifest\.json files/);
  });
  it('resolves a summary path exactly, then as a suffix under a prefix folder, then by file name', () => {
    const f = files('Alpaca_trading/models/rl_symbols/UNIUSD_1Hour.onnx', 'other/GOOGL_1Hour.onnx');
    expect(resolvePath(f, 'Alpaca_trading/models/rl_symbols/UNIUSD_1Hour.onnx').path).toBe('Alpaca_trading/models/rl_symbols/UNIUSD_1Hour.onnx');
    expect(resolvePath(f, 'models/rl_symbols/UNIUSD_1Hour.onnx').path).toBe('Alpaca_trading/models/rl_symbols/UNIUSD_1Hour.onnx');
    expect(resolvePath(f, './models/GOOGL_1Hour.onnx').path).toBe('other/GOOGL_1Hour.onnx');
    expect(resolvePath(files('a/X.onnx', 'b/X.onnx'), 'X.onnx')).toEqual({ path: null, ambiguous: ['a/X.onnx', 'b/X.onnx'] });
  });
  it('locates a model with its card beside it, by id when the summary names none', () => {
    const f = files('m/BTCUSD_1Hour.onnx', 'm/BTCUSD_1Hour.card.json');
    expect(locateModel(f, null, 'BTCUSD_1Hour')).toEqual({ onnx: 'm/BTCUSD_1Hour.onnx', pytorch: null, cardFile: 'm/BTCUSD_1Hour.card.json', problem: null });
  });
  it('reports a PyTorch file with the export advice, and a missing model clearly', () => {
    const pt = locateModel(files('m/UNIUSD_1Hour.pt'), 'models/UNIUSD_1Hour.pt', 'UNIUSD_1Hour');
    expect(pt.pytorch).toBe('m/UNIUSD_1Hour.pt');
    expect(pt.problem).toBe('m/UNIUSD_1Hour.pt: PyTorch checkpoint: export it to ONNX (torch.onnx.export) — see docs/archive-format.md#exporting-to-onnx');
    expect(locateModel(files('x.json'), 'models/A_1Hour.onnx', 'A_1Hour').problem).toBe('model file not found in the archive: expected models/A_1Hour.onnx or A_1Hour.onnx');
  });
  it('lists model files nobody refers to', () => {
    expect(unreferencedModels(files('a.onnx', 'b.pt', 'c.json'), new Set(['a.onnx']))).toEqual(['b.pt']);
  });
  it('validates the manifest and resolves its paths against its own folder', () => {
    const h = 'a'.repeat(64);
    expect([...parseManifest({ files: { 'models/x.onnx': h.toUpperCase() } }, 'm.json')]).toEqual([['models/x.onnx', h]]);
    expect(() => parseManifest({ files: { x: 'abc' } }, 'm.json')).toThrow(/files\["x"\] must be a 64-digit sha256 hex string/);
    expect(() => parseManifest([], 'm.json')).toThrow(/a manifest must be/);
    expect(manifestTarget(files('root/models/x.onnx'), 'root/manifest.json', 'models/x.onnx')).toBe('root/models/x.onnx');
    expect(manifestTarget(files('models/x.onnx'), 'root/manifest.json', 'models/x.onnx')).toBe('models/x.onnx');
    expect(manifestTarget(files('y'), 'manifest.json', 'models/x.onnx')).toBeNull();
  });
});
