/**
 * action.yml and the example workflows, parsed as YAML and held to their contract: least-privilege
 * permissions (threats.md G6), a concurrency group, no path filters on the required PR gate (G9), no
 * pull_request_target (G1), `if: always()` on any upload, every input passed to the program, and the
 * native runtime installed at run time, never committed.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseShardSpec } from '../src/core/shard.js';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const WORKFLOWS = path.join(REPO, '.github', 'workflows');

type Obj = Record<string, any>;
const load = (file: string): { raw: string; doc: Obj } => {
  const raw = readFileSync(file, 'utf8');
  return { raw, doc: parse(raw, { uniqueKeys: true }) as Obj };
};

/** The permissions each workflow's jobs may hold, exactly. */
const ALLOWED: Record<string, Record<string, string>> = {
  'policy-gate.yml': { contents: 'read', checks: 'write', 'pull-requests': 'write' },
  // These two commit a promotion/demotion branch and open its pull request (docs/promotion.md).
  'on-training-archive.yml': { contents: 'write', actions: 'read', checks: 'write', 'pull-requests': 'write' },
  'revalidate.yml': { contents: 'write', checks: 'write', 'pull-requests': 'write' },
  // commits the tracking branch and opens its pull request (docs/promotion.md)
  'track.yml': { contents: 'write', checks: 'write', 'pull-requests': 'write' },
};

/** Workflows whose jobs need different permissions: exactly these, per job id. */
const PER_JOB: Record<string, Record<string, Record<string, string>>> = {
  // docs/sharding.md: the shards only read the checkout; the merge reads the run's artifacts and posts the check.
  'sharded.yml': {
    window: {},
    shard: { contents: 'read' },
    merge: { contents: 'read', actions: 'read', checks: 'write' },
  },
};

function steps(doc: Obj): Obj[] {
  if (doc['runs']) return doc['runs']['steps'] as Obj[];
  return Object.values(doc['jobs'] as Obj).flatMap((j: Obj) => (j['steps'] as Obj[]) ?? []);
}

describe('example workflows', () => {
  it('include the documented ones', () => {
    expect(readdirSync(WORKFLOWS)).toEqual(expect.arrayContaining([...Object.keys(ALLOWED), ...Object.keys(PER_JOB)]));
  });

  for (const name of [...Object.keys(ALLOWED), ...Object.keys(PER_JOB)]) {
    describe(name, () => {
      const { raw, doc } = load(path.join(WORKFLOWS, name));
      const allowedFor = (id: string): Record<string, string> | undefined => PER_JOB[name]?.[id] ?? ALLOWED[name];

      it('grants nothing at the top and exactly the documented permissions per job', () => {
        expect(doc['permissions']).toEqual({});
        for (const [id, job] of Object.entries(doc['jobs'] as Obj)) {
          expect(allowedFor(id), `${name} job ${id} is not documented`).toBeDefined();
          expect(job['permissions'], `${name} job ${id}`).toEqual(allowedFor(id));
        }
        expect(raw).not.toMatch(/write-all|read-all/);
        const jobs = Object.keys(doc['jobs'] as Obj);
        if (jobs.every((id) => allowedFor(id)!['contents'] !== 'write')) expect(raw).not.toMatch(/contents:\s*write/);
      });

      it('has a concurrency group', () => {
        expect(typeof doc['concurrency']?.['group']).toBe('string');
        expect(doc['concurrency']['group']).toMatch(/policy-gate/);
      });

      it('never runs on pull_request_target and never persists the checkout token', () => {
        expect(Object.keys(doc['on'])).not.toContain('pull_request_target');
        for (const s of steps(doc).filter((x) => String(x['uses'] ?? '').startsWith('actions/checkout@'))) {
          expect(s['with']?.['persist-credentials']).toBe(false);
        }
      });

      it("runs this repository's action with uses: ./ and says what to change for <owner>/policy-gate@v1", () => {
        expect(steps(doc).some((s) => s['uses'] === './')).toBe(true);
        expect(raw).toContain('uses: <owner>/policy-gate@v1');
      });

      it('uploads only with if: always()', () => {
        for (const s of steps(doc).filter((x) => /upload-artifact/.test(String(x['uses'] ?? '')))) expect(String(s['if'])).toContain('always()');
      });

      it('names no job "policy-gate" (that is the check run the action posts)', () => {
        for (const [id, job] of Object.entries(doc['jobs'] as Obj)) {
          expect(id).not.toBe('policy-gate');
          expect(job['name']).not.toBe('policy-gate');
        }
      });
    });
  }

  it('the pull-request gate has no path filters and cancels superseded runs of the same PR', () => {
    const { doc } = load(path.join(WORKFLOWS, 'policy-gate.yml'));
    const on = doc['on'] as Obj;
    expect(Object.keys(on)).toEqual(['pull_request']);
    const pr = on['pull_request'] ?? {};
    for (const key of ['paths', 'paths-ignore', 'branches', 'branches-ignore']) expect(pr[key], key).toBeUndefined();
    expect(doc['concurrency']).toEqual({ group: 'policy-gate-pr-${{ github.event.pull_request.number }}', 'cancel-in-progress': true });
  });

  it("the training-archive workflow listens to workflow_run and never checks out the run's head", () => {
    const { doc } = load(path.join(WORKFLOWS, 'on-training-archive.yml'));
    expect(doc['on']['workflow_run']['types']).toEqual(['completed']);
    for (const s of steps(doc)) expect(JSON.stringify(s['with'] ?? {})).not.toMatch(/head_sha|head_branch|\.ref\b/);
  });

  describe('sharded.yml: a matrix of shards and one merge job (docs/sharding.md)', () => {
    const { doc } = load(path.join(WORKFLOWS, 'sharded.yml'));
    const jobs = doc['jobs'] as Obj;
    const gateStep = (job: Obj): Obj => (job['steps'] as Obj[]).find((s) => s['uses'] === './')!;

    it('the matrix covers shards 1/n … n/n once each and does not fail fast', () => {
      const strategy = jobs['shard']['strategy'];
      expect(strategy['fail-fast']).toBe(false);
      const specs = (strategy['matrix']['shard'] as string[]).map((s) => parseShardSpec(String(s)));
      for (const s of specs) expect('error' in s, JSON.stringify(s)).toBe(false);
      const n = specs.length;
      expect(specs).toEqual(Array.from({ length: n }, (_, i) => ({ index: i + 1, count: n })));
      expect(gateStep(jobs['shard'])['with']['shard']).toBe('${{ matrix.shard }}');
    });

    it('the merge job needs the shards, always runs, and gets the same inputs as the shards', () => {
      const merge = jobs['merge'];
      expect(merge['needs']).toContain('shard');
      expect(merge['if']).toBe('always()');
      const m = gateStep(merge)['with'];
      const s = gateStep(jobs['shard'])['with'];
      expect(m['mode']).toBe('merge');
      expect(m['shard']).toBeUndefined();
      for (const key of ['archive', 'data', 'end']) expect(m[key], key).toBe(s[key]);
      expect(s['end']).toBe('${{ needs.window.outputs.end }}');
    });

    it("shares Alpaca bars through actions/cache keyed by the shard's symbols and the range; CSV needs none", () => {
      const cache = (jobs['shard']['steps'] as Obj[]).find((x) => String(x['uses'] ?? '').startsWith('actions/cache@'))!;
      expect(cache['if']).toBe("env.DATA == 'alpaca'");
      expect(cache['with']['path']).toBe('.policy-gate/cache');
      expect(cache['with']['key']).toContain("hashFiles(env.ARCHIVE, '.github/policy-gate.yml')");
      expect(cache['with']['key']).toContain('${{ matrix.shard }}');
      expect(cache['with']['key']).toContain('${{ needs.window.outputs.end }}');
      expect(cache['with']['restore-keys']).toBeDefined();
    });
  });

  it('the re-validation runs on a schedule and on demand', () => {
    const { doc } = load(path.join(WORKFLOWS, 'revalidate.yml'));
    expect(Object.keys(doc['on']).sort()).toEqual(['schedule', 'workflow_dispatch']);
  });
});

describe('action.yml', () => {
  const { doc } = load(path.join(REPO, 'action.yml'));
  const runSteps = steps(doc);
  const gate = runSteps.find((s) => s['id'] === 'gate')!;

  it('is a composite action whose program is the committed bundle', () => {
    expect(doc['runs']['using']).toBe('composite');
    expect(gate['run']).toBe('exec node "$GITHUB_ACTION_PATH/dist/index.js"');
    expect(existsSync(path.join(REPO, 'dist', 'index.js'))).toBe(true);
  });

  it('documents every input and passes each one explicitly as INPUT_* (composite steps get none)', () => {
    const inputs = doc['inputs'] as Obj;
    for (const name of ['archive', 'artifact-name', 'run-id', 'config', 'data', 'days', 'folds', 'backtest-days', 'capital', 'device', 'github-token', 'fail-on-rejection', 'mode']) {
      expect(inputs[name], name).toBeDefined();
    }
    for (const [name, spec] of Object.entries(inputs)) {
      expect(String(spec['description'] ?? '').length, name).toBeGreaterThan(10);
      const env = `INPUT_${name.toUpperCase().replace(/-/g, '_')}`;
      expect(gate['env'][env], env).toBe(`\${{ inputs.${name} }}`);
    }
    const inputEnv = Object.keys(gate['env']).filter((k) => k.startsWith('INPUT_'));
    expect(inputEnv).toHaveLength(Object.keys(inputs).length);
    expect(inputs['github-token']['default']).toBe('${{ github.token }}');
    expect(inputs['fail-on-rejection']['default']).toBe('true');
    expect(inputs['mode']['default']).toBe('auto');
  });

  it('exposes conclusion, report-path and decisions from the program step (conclusion also from a failed setup)', () => {
    const outputs = doc['outputs'] as Obj;
    expect(Object.keys(outputs).sort()).toEqual(['conclusion', 'decisions', 'pull-request-url', 'report-path']);
    for (const [name, spec] of Object.entries(outputs)) {
      expect(spec['value']).toBe(name === 'conclusion' ? '${{ steps.gate.outputs.conclusion || steps.setup-failed.outputs.conclusion }}' : `\${{ steps.gate.outputs.${name} }}`);
    }
  });

  it('installs onnxruntime-node at run time, at the exact version package.json pins, into dist/runtime on NODE_PATH', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    expect(pkg.dependencies['onnxruntime-node']).toMatch(/^\d+\.\d+\.\d+$/);
    const resolve = runSteps.find((s) => s['id'] === 'ort')!;
    expect(resolve['run']).toContain('dependencies["onnxruntime-node"]');
    expect(resolve['run']).toContain('dir=$GITHUB_ACTION_PATH/dist/runtime');
    const install = runSteps.find((s) => String(s['run'] ?? '').includes('npm install'))!;
    expect(install['if']).toBe("steps.cache.outputs.cache-hit != 'true'");
    expect(install['run']).toMatch(/npm install --no-save .*--ignore-scripts --prefix "\$RUNTIME_DIR" "onnxruntime-node@\$ORT_VERSION"/);
    expect(install['run']).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
    expect(install['run']).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    const cache = runSteps.find((s) => String(s['uses'] ?? '').startsWith('actions/cache/restore@'))!;
    expect(cache['with']['path']).toBe('${{ steps.ort.outputs.dir }}/node_modules');
    expect(cache['with']['key']).toContain('${{ steps.ort.outputs.version }}');
    // Saved right after the install, before the gate runs: actions/cache's post step saves only when the job
    // succeeds, and a rejected gate fails the job, so every run after a rejection would install again.
    expect(runSteps.some((s) => /^actions\/cache@/.test(String(s['uses'] ?? '')))).toBe(false);
    const save = runSteps.find((s) => String(s['uses'] ?? '').startsWith('actions/cache/save@'))!;
    expect(runSteps.indexOf(save)).toBe(runSteps.indexOf(install) + 1);
    expect(runSteps.indexOf(save)).toBeLessThan(runSteps.indexOf(gate));
    expect(save['if']).toBe("steps.cache.outputs.cache-hit != 'true'");
    expect(save['with']['path']).toBe(cache['with']['path']);
    expect(save['with']['key']).toBe('${{ steps.cache.outputs.cache-primary-key }}');
    expect(gate['env']['NODE_PATH']).toBe('${{ steps.ort.outputs.dir }}/node_modules');
    // Never committed: the install folder is ignored, and dist holds only the bundle.
    expect(readFileSync(path.join(REPO, 'dist', '.gitignore'), 'utf8').trim()).toBe('runtime/');
    expect(
      readdirSync(path.join(REPO, 'dist'))
        .filter((f) => f !== 'runtime')
        .sort(),
    ).toEqual(['.gitignore', 'index.js']);
    expect(readFileSync(path.join(REPO, '.gitattributes'), 'utf8')).toMatch(/^dist\/\*\* -diff linguist-generated=true$/m);
  });

  it("sets up Node.js without setup-node's package-manager cache (a workspace packageManager: pnpm|yarn would break it)", () => {
    const setup = runSteps.find((s) => String(s['uses'] ?? '').startsWith('actions/setup-node@'))!;
    expect(setup['with']['package-manager-cache']).toBe(false);
  });

  it('uploads the report with if: always(), unless the program already did', () => {
    const upload = runSteps.find((s) => String(s['uses'] ?? '').startsWith('actions/upload-artifact@'))!;
    expect(upload['if']).toMatch(/^always\(\) && /);
    expect(upload['if']).toContain("steps.gate.outputs.report-artifact-id == ''");
    expect(upload['with']['path']).toBe('${{ steps.gate.outputs.report-path }}');
  });
});

describe('third-party actions', () => {
  const files = [
    'action.yml',
    ...readdirSync(WORKFLOWS)
      .filter((f) => f.endsWith('.yml'))
      .map((f) => path.join('.github', 'workflows', f)),
  ];
  const uses = files.flatMap((f) =>
    readFileSync(path.join(REPO, f), 'utf8')
      .split('\n')
      .map((line) => /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && !m[1]!.startsWith('./') && !m[1]!.startsWith('<owner>/'))
      .map((m) => ({ file: f, ref: m[1]!, rest: m[2]! })),
  );

  it('are pinned by commit SHA with the tag in a comment', () => {
    expect(uses.length).toBeGreaterThan(5);
    for (const u of uses) expect(`${u.ref}${u.rest}`, u.file).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/);
  });

  it('use one version of each repository across action.yml and the workflows', () => {
    const byRepo = new Map<string, Set<string>>();
    for (const u of uses) {
      const repo = u.ref.split('@')[0]!.split('/').slice(0, 2).join('/');
      byRepo.set(repo, (byRepo.get(repo) ?? new Set()).add(`${u.ref.split('@')[1]}${u.rest}`));
    }
    for (const [repo, versions] of byRepo) expect([...versions], repo).toHaveLength(1);
  });
});
