/**
 * The unified diff `promote --dry-run` prints is a real patch: applied with `git apply` to the old
 * text it gives the new one, for new, changed, shortened and deleted files, several hunks, and a
 * missing final newline.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unifiedDiff } from '../src/util/unified-diff.js';
import { cleanupTempDirs, tempDir } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

/** Applies `patch` with git apply in a fresh folder holding `before` as `name`; returns the file after (null: deleted). */
function apply(name: string, before: string | null, patch: string): string | null {
  const dir = tempDir('diff-');
  execFileSync('git', ['init', '-q'], { cwd: dir });
  mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
  if (before !== null) writeFileSync(path.join(dir, name), before);
  writeFileSync(path.join(dir, 'change.patch'), patch);
  execFileSync('git', ['apply', '--verbose', 'change.patch'], { cwd: dir, stdio: 'pipe' });
  const file = path.join(dir, name);
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

const lines = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i) + '\n').join('');

describe('unifiedDiff', () => {
  const base = lines(40, (i) => `line ${i}`);
  const cases: [string, string | null, string | null][] = [
    ['a new file', null, '{\n  "models": {}\n}\n'],
    ['a deleted file', '{\n  "models": {}\n}\n', null],
    ['one line changed in the middle', base, base.replace('line 20\n', 'line twenty\n')],
    ['changes far apart (two hunks)', base, base.replace('line 2\n', 'two\n').replace('line 35\n', 'thirty-five\nand more\n')],
    ['changes close together (one hunk)', base, base.replace('line 10\n', 'ten\n').replace('line 14\n', '')],
    ['lines added at the end', base, base + 'extra 1\nextra 2\n'],
    ['lines removed at the start', base, base.split('\n').slice(5).join('\n')],
    ['the final newline removed', base, base.slice(0, -1)],
    ['the final newline added', base.slice(0, -1), base],
    ['everything replaced', base, lines(7, (i) => `new ${i}`)],
    ['an entry inserted into JSON', '{\n  "models": {\n    "A": 1\n  }\n}\n', '{\n  "models": {\n    "A": 1,\n    "B": 2\n  }\n}\n'],
  ];
  for (const [name, before, after] of cases) {
    it(`${name}: git apply turns the old text into the new one`, () => {
      const patch = unifiedDiff('deploy/paper.json', before, after);
      expect(patch.startsWith(`--- ${before === null ? '/dev/null' : 'a/deploy/paper.json'}\n+++ ${after === null ? '/dev/null' : 'b/deploy/paper.json'}\n@@ `)).toBe(true);
      expect(apply('deploy/paper.json', before, patch)).toBe(after);
    });
  }

  it('equal texts give no diff; a one-line change shows 3 lines of context each side', () => {
    expect(unifiedDiff('x', base, base)).toBe('');
    const patch = unifiedDiff('x', base, base.replace('line 20\n', 'line twenty\n'));
    expect(patch).toBe(['--- a/x', '+++ b/x', '@@ -18,7 +18,7 @@', ' line 17', ' line 18', ' line 19', '-line 20', '+line twenty', ' line 21', ' line 22', ' line 23', ''].join('\n'));
  });
});
