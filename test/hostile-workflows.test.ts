/**
 * Hostile case: the example workflows and action.yml follow docs/threat-model.md, beyond what
 * test/action-workflows.test.ts already holds them to (exact per-job permissions, no
 * pull_request_target, persist-credentials: false, uploads with if: always()):
 *
 * - a job triggered by a pull request never holds a write permission to the repository's contents,
 *   its actions or an OIDC token (a PR's code runs there: threats.md G6, G7);
 * - no `run:` script interpolates an untrusted event field (a PR title, body or branch, a commit
 *   message, a workflow_run's head branch): those go through `env:` (script injection, G8);
 * - a workflow_run job never checks out the triggering run's head (G1, G2);
 * - every job has a timeout, so a hung model or API never holds a (GPU) runner for the 6-hour default.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const WORKFLOWS = path.join(REPO, '.github', 'workflows');
type Obj = Record<string, any>;

const files = readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
const load = (file: string): Obj => parse(readFileSync(file, 'utf8'), { uniqueKeys: true }) as Obj;

/** Event fields an attacker writes (GitHub's script-injection guide lists these). */
const UNTRUSTED = [
  /github\.event\.pull_request\.(title|body|head\.ref|head\.label|head\.repo\.(name|description|homepage))/,
  /github\.event\.(issue|comment|review|review_comment)\.(title|body)/,
  /github\.event\.(head_commit|commits\[\d*\]|commits\.\*)\.(message|author\.(name|email))/,
  /github\.event\.workflow_run\.(head_branch|display_title|head_commit\.message)/,
  /github\.head_ref/,
];

function triggers(doc: Obj): string[] {
  const on = doc['on'];
  if (typeof on === 'string') return [on];
  if (Array.isArray(on)) return on as string[];
  return Object.keys(on ?? {});
}

describe.each(files)('%s', (name) => {
  const doc = load(path.join(WORKFLOWS, name));
  const jobs = Object.entries((doc['jobs'] ?? {}) as Obj);

  it('a job a pull request triggers holds no write access to contents, actions or id-token', () => {
    if (!triggers(doc).some((t) => t === 'pull_request' || t === 'pull_request_target')) return;
    for (const [id, job] of jobs) {
      const perms = (job['permissions'] ?? {}) as Record<string, string>;
      for (const scope of ['contents', 'actions', 'id-token', 'packages', 'deployments']) {
        expect(perms[scope] === 'write', `${name} job ${id}: ${scope}: write on a pull request`).toBe(false);
      }
    }
  });

  it('no run: script interpolates an untrusted event field', () => {
    for (const [id, job] of jobs) {
      for (const step of (job['steps'] ?? []) as Obj[]) {
        const script = String(step['run'] ?? '');
        for (const expr of script.match(/\$\{\{[^}]*\}\}/g) ?? []) {
          for (const re of UNTRUSTED) expect(re.test(expr), `${name} job ${id}: ${expr} inside run:`).toBe(false);
        }
      }
    }
  });

  it("a workflow_run job never checks out the triggering run's head", () => {
    if (!triggers(doc).includes('workflow_run')) return;
    for (const [, job] of jobs) {
      for (const step of (job['steps'] ?? []) as Obj[]) {
        if (!/actions\/checkout/.test(String(step['uses'] ?? ''))) continue;
        const ref = JSON.stringify(step['with'] ?? {});
        expect(ref).not.toMatch(/workflow_run\.(head_sha|head_branch|head_repository)/);
      }
    }
  });

  it('every job has a timeout', () => {
    for (const [id, job] of jobs) {
      const t = job['timeout-minutes'];
      expect(typeof t === 'number' && t > 0 && t <= 120, `${name} job ${id}: timeout-minutes ${String(t)}`).toBe(true);
    }
  });
});

describe('action.yml', () => {
  it('no run: script interpolates an input or an event field (they go through env:)', () => {
    const action = load(path.join(REPO, 'action.yml'));
    for (const step of action['runs']['steps'] as Obj[]) {
      const script = String(step['run'] ?? '');
      expect(script, String(step['name'])).not.toMatch(/\$\{\{\s*(inputs\.|github\.event\.)/);
    }
  });
});
