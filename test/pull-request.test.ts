/** The pull-request rules the Action's shell calls (src/app/pull-request.ts), as pure functions. */
import { describe, expect, it } from 'vitest';
import { pullRequestScope, retireRemoved, unsuccessfulTrainingRun, type ChangedFile } from '../src/app/pull-request.js';
import type { Tier } from '../src/core/types.js';

const file = (filename: string, previous?: string): ChangedFile => ({ filename, status: previous ? 'renamed' : 'modified', ...(previous ? { previous_filename: previous } : {}) });
const paths = { archive: 'training/run.zip', configFile: '.github/policy-gate.yml', deploy: ['deploy/paper.json', 'deploy/live.json'], modelsDir: 'models' };

describe('pullRequestScope', () => {
  it('nothing the gate watches: no model changes, naming everything it watches', () => {
    const s = pullRequestScope([file('README.md'), file('src/train.py'), file('modelsX/a.onnx')], paths);
    expect(s).toEqual({
      relevant: [],
      modelFiles: [],
      noChanges: 'no model changes — this pull request changes none of training/run.zip, .github/policy-gate.yml, deploy/paper.json, deploy/live.json, models/, so there is nothing to validate.',
    });
  });

  it('the archive, the config, a deployment config and a deployed model changed in place are each relevant', () => {
    const s = pullRequestScope([file('deploy/live.json'), file('training/run.zip'), file('models/BTC/abc/BTC.onnx'), file('.github/policy-gate.yml'), file('docs/x.md')], paths);
    expect(s.relevant).toEqual(['.github/policy-gate.yml', 'deploy/live.json', 'models/BTC/abc/BTC.onnx', 'training/run.zip']);
    expect(s.modelFiles).toEqual(['models/BTC/abc/BTC.onnx']);
    expect(s.noChanges).toBeNull();
  });

  it('a deployed model moved out of the models folder counts by its previous name, and both names are model files', () => {
    const s = pullRequestScope([file('elsewhere/BTC.onnx', 'models/BTC/abc/BTC.onnx')], paths);
    expect(s.relevant).toEqual(['elsewhere/BTC.onnx']);
    expect(s.modelFiles).toEqual(['elsewhere/BTC.onnx', 'models/BTC/abc/BTC.onnx']);
  });

  it('no archive input: only the config, the deployment configs and the models folder are watched', () => {
    const s = pullRequestScope([file('training/run.zip')], { ...paths, archive: null });
    expect(s.noChanges).toContain('changes none of .github/policy-gate.yml, deploy/paper.json, deploy/live.json, models/,');
  });
});

describe('retireRemoved', () => {
  it('a model removed from every deployment config is requested DROP; the others keep their tier', () => {
    const tiers: Record<string, Tier> = { A: 'LIVE', B: 'PAPER', C: 'LIVE' };
    const retired = retireRemoved(
      [
        { id: 'C', to: null },
        { id: 'B', to: 'LIVE' },
        { id: 'A', to: null },
      ],
      tiers,
    );
    expect(retired).toEqual(['A', 'C']);
    expect(tiers).toEqual({ A: 'DROP', B: 'PAPER', C: 'DROP' });
  });
});

describe('unsuccessfulTrainingRun', () => {
  it('a failed or cancelled run gives nothing to validate; a successful one, or one whose conclusion is unknown, is validated', () => {
    expect(unsuccessfulTrainingRun(42, 'failure')).toBe('the training run 42 concluded failure: nothing to validate');
    expect(unsuccessfulTrainingRun(42, 'cancelled')).toBe('the training run 42 concluded cancelled: nothing to validate');
    expect(unsuccessfulTrainingRun(42, 'success')).toBeNull();
    expect(unsuccessfulTrainingRun(42, null)).toBeNull();
    expect(unsuccessfulTrainingRun(42, undefined)).toBeNull();
  });
});
