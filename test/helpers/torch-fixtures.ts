/**
 * Fixtures written by a committed torch script: where Debian's python3-torch is installed, the script
 * is rerun into a temporary folder and must reproduce the committed files byte for byte (CI has no
 * torch and uses the committed files as they are).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { REPO, tempDir } from './e2e.js';

export const PYTHON = '/usr/bin/python3';
export const hasTorch = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;

/** Runs scripts/export/<script> with `outVar` naming a temporary folder, and compares it with `fixtureDir`. */
export function expectScriptRegenerates(script: string, outVar: string, fixtureDir: string): void {
  const out = tempDir('torch-gen-');
  const run = spawnSync(PYTHON, [path.join(REPO, 'scripts', 'export', script)], { env: { ...process.env, [outVar]: out }, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const committed = readdirSync(fixtureDir)
    .filter((f) => f !== 'PROVENANCE.md')
    .sort();
  expect(readdirSync(out).sort()).toEqual(committed);
  for (const f of committed) expect(Buffer.compare(readFileSync(path.join(out, f)), readFileSync(path.join(fixtureDir, f))), f).toBe(0);
}
