/**
 * scripts/release.mjs end to end on a clone of this repository with a local bare repository as its
 * remote: the checks it makes (CHANGELOG section, clean tree, current dist, package contents), the dry
 * run, the tags it pushes and the moving major tag.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, REPO, tempDir } from './helpers/e2e.js';

afterAll(() => cleanupTempDirs());

const git = (cwd: string, ...a: string[]): string => execFileSync('git', ['-c', 'user.name=Release Test', '-c', 'user.email=release@example.invalid', ...a], { cwd, encoding: 'utf8' }).trim();
const release = (cwd: string, ...a: string[]) => spawnSync(process.execPath, [path.join(cwd, 'scripts', 'release.mjs'), ...a], { cwd, encoding: 'utf8', timeout: 300_000 });

function bump(clone: string, version: string): void {
  const pkgFile = path.join(clone, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
  pkg.version = version;
  writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
  const cl = path.join(clone, 'CHANGELOG.md');
  writeFileSync(cl, readFileSync(cl, 'utf8').replace('## [Unreleased]', `## [Unreleased]\n\n## [${version}]\n\n- release ${version}`));
  // The version is in the bundle: a bump rebuilds dist/.
  execFileSync(process.execPath, [path.join(clone, 'scripts', 'build-dist.mjs')], { cwd: clone, stdio: 'pipe' });
  git(clone, 'commit', '-qam', `release ${version}`);
}

describe('scripts/release.mjs', () => {
  it('checks, dry-runs, tags v<version> and moves the major tag on the remote; refuses a stale dist, a dirty tree and an existing tag', () => {
    const base = tempDir('release-');
    const bare = path.join(base, 'remote.git');
    const clone = path.join(base, 'clone');
    git(base, 'init', '-q', '--bare', bare);
    git(base, 'clone', '-q', REPO, clone);
    git(clone, 'remote', 'set-url', 'origin', bare);
    symlinkSync(path.join(REPO, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
    execFileSync(process.execPath, [path.join(clone, 'scripts', 'build-host.mjs')], { cwd: clone, stdio: 'pipe' });
    execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: clone, stdio: 'pipe' });

    // No CHANGELOG section for the version yet.
    const noSection = release(clone);
    expect(noSection.status).toBe(1);
    expect(noSection.stderr).toMatch(/CHANGELOG\.md has no "## \[\d+\.\d+\.\d+\]" section/);

    bump(clone, '1.0.0');
    const dry = release(clone);
    expect(dry.stderr).toBe('');
    expect(dry.status).toBe(0);
    const head = git(clone, 'rev-parse', 'HEAD');
    expect(dry.stdout).toContain(`tag v1.0.0 (annotated) at ${head}`);
    expect(dry.stdout).toContain('dry run: nothing was changed');
    expect(git(clone, 'tag', '--list')).toBe('');

    const pushed = release(clone, '--push');
    expect(pushed.status, pushed.stderr).toBe(0);
    expect(git(bare, 'rev-parse', 'v1.0.0^{commit}')).toBe(head);
    expect(git(bare, 'rev-parse', 'v1^{commit}')).toBe(head);

    // The same version again: refused.
    const again = release(clone);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('tag v1.0.0 exists');

    // A source change committed without rebuilding dist/: refused.
    bump(clone, '1.0.1');
    const decide = path.join(clone, 'src', 'core', 'decide.ts');
    writeFileSync(decide, readFileSync(decide, 'utf8').replace("rule: 'rule 5: inconsistent walk-forward'", "rule: 'rule 5: an inconsistent walk-forward'"));
    git(clone, 'commit', '-qam', 'change a source, not dist');
    const stale = release(clone);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('dist/index.js is not the build of the sources');

    // Rebuilt: the next release moves v1 and keeps v1.0.0.
    execFileSync(process.execPath, [path.join(clone, 'scripts', 'build-dist.mjs')], { cwd: clone, stdio: 'pipe' });
    writeFileSync(path.join(clone, 'untracked.txt'), 'x');
    const dirty = release(clone);
    expect(dirty.status).toBe(1);
    expect(dirty.stderr).toContain('uncommitted changes');
    git(clone, 'add', '-A');
    git(clone, 'commit', '-qm', 'rebuild dist');
    const next = release(clone, '--push');
    expect(next.status, next.stderr).toBe(0);
    const head2 = git(clone, 'rev-parse', 'HEAD');
    expect(git(bare, 'rev-parse', 'v1^{commit}')).toBe(head2);
    expect(git(bare, 'rev-parse', 'v1.0.1^{commit}')).toBe(head2);
    expect(git(bare, 'rev-parse', 'v1.0.0^{commit}')).toBe(head);
  }, 600_000);
});
