/** The Action's run rules (src/app/action-run.ts), as pure functions on plain data: no GitHub server. */
import { describe, expect, it } from 'vitest';
import {
  crashedOnPullRequest,
  deploymentName,
  fallbackHeadSha,
  mergeInputError,
  noteChangedModels,
  nothingToValidateReport,
  pullRequestArchive,
  requireArchive,
  resolveMode,
  scheduledWork,
  trainingRunNotDeployed,
  wantsNewComment,
} from '../src/app/action-run.js';
import { defaultConfig } from '../src/config/schema.js';
import type { Report } from '../src/core/report.js';

const event = (eventName: string, payload: { pullRequest?: object; workflowRun?: object } = {}) => ({
  eventName,
  pullRequest: payload.pullRequest ?? null,
  workflowRun: payload.workflowRun ?? null,
});

describe('resolveMode', () => {
  it('auto and merge follow the event; an explicit mode needs its payload', () => {
    expect(resolveMode({ mode: 'auto', runId: null }, event('pull_request', { pullRequest: {} }))).toBe('pull_request');
    expect(resolveMode({ mode: 'merge', runId: null }, event('workflow_run', { workflowRun: {} }))).toBe('workflow_run');
    expect(resolveMode({ mode: 'auto', runId: null }, event('push'))).toBe('schedule');
    expect(resolveMode({ mode: 'workflow_run', runId: 7 }, event('workflow_dispatch'))).toBe('workflow_run');
    expect(() => resolveMode({ mode: 'pull_request', runId: null }, event('push'))).toThrow('input "mode" is pull_request but the push event has no pull_request payload');
  });

  it('pull_request_target is refused, whatever the mode', () => {
    expect(() => resolveMode({ mode: 'schedule', runId: null }, event('pull_request_target', { pullRequest: {} }))).toThrow(/does not run on pull_request_target/);
  });
});

describe('what a run validates', () => {
  it('mode: merge needs the archive the shards validated, except for a training run', () => {
    expect(mergeInputError({ mode: 'merge', archive: null }, 'pull_request')?.message).toMatch(/input "archive" is required with mode: merge/);
    expect(mergeInputError({ mode: 'merge', archive: null }, 'workflow_run')).toBeNull();
    expect(mergeInputError({ mode: 'merge', archive: 'a.zip' }, 'schedule')).toBeNull();
    expect(mergeInputError({ mode: 'auto', archive: null }, 'schedule')).toBeNull();
  });

  it('a pull request without an archive input validates the changed deployment entries alone, and needs the archive when none changed', () => {
    expect(pullRequestArchive(null, 2)).toBeNull();
    expect(pullRequestArchive('a.zip', 2)).toBe('a.zip');
    expect(pullRequestArchive('a.zip', 0)).toBe('a.zip');
    expect(() => pullRequestArchive(null, 0)).toThrow('input "archive" is required in pull_request mode');
    expect(() => requireArchive(null, 'schedule')).toThrow('input "archive" is required in schedule mode');
  });

  it('a schedule validates the archive when given, else tracks the account with track, else re-validates the deployed models', () => {
    expect(scheduledWork({ archive: 'a.zip', track: 'live' })).toEqual({ kind: 'archive', archive: 'a.zip' });
    expect(scheduledWork({ archive: null, track: 'paper' })).toEqual({ kind: 'track', account: 'paper' });
    expect(scheduledWork({ archive: null, track: null })).toEqual({ kind: 'revalidate' });
  });

  it("a fork's training run is reported, never proposed for deployment", () => {
    expect(trainingRunNotDeployed(true)).toBe('not opened: the training run came from a fork');
    expect(trainingRunNotDeployed(false)).toBeNull();
    expect(trainingRunNotDeployed(undefined)).toBeNull();
  });
});

describe('the report of a run', () => {
  it('nothing to validate is an empty success with the reason', () => {
    const r = nothingToValidateReport(defaultConfig(), null, new Date('2024-01-02T00:00:00Z'), 'no model changes');
    expect(r).toMatchObject({ command: 'validate', conclusion: 'success', conclusionReasons: ['no model changes'], models: [], errors: [] });
  });

  it('each model the pull request changed is noted with why; the others are not', () => {
    const report = {
      models: [
        { id: 'A', notes: [] as string[] },
        { id: 'B', notes: ['kept'] },
      ],
    } as unknown as Report;
    noteChangedModels(report, new Map([['A', ['archive entry changed', 'card changed']]]), 12);
    expect(report.models.map((m) => m.notes)).toEqual([['changed by pull request #12: archive entry changed; card changed'], ['kept']]);
  });

  it('a new comment only when there is a model or an error to show', () => {
    expect(wantsNewComment({ models: [], errors: [] })).toBe(false);
    expect(wantsNewComment({ models: [], errors: ['x'] })).toBe(true);
    expect(wantsNewComment({ models: [{}] as Report['models'], errors: [] })).toBe(true);
  });

  it('deployment pull requests are named by what they do', () => {
    expect([deploymentName('promote'), deploymentName('track'), deploymentName('demote')]).toEqual(['promotion', 'tracking', 'demotion']);
  });
});

describe('where a crash is reported', () => {
  it('on the pull request in pull_request mode, or on a pull request event before the mode was known (never pull_request_target)', () => {
    expect(crashedOnPullRequest('pull_request', null)).toBe(true);
    expect(crashedOnPullRequest(null, event('pull_request', { pullRequest: {} }))).toBe(true);
    expect(crashedOnPullRequest(null, event('pull_request_target', { pullRequest: {} }))).toBe(false);
    expect(crashedOnPullRequest(null, event('pull_request'))).toBe(false);
    expect(crashedOnPullRequest('schedule', event('pull_request', { pullRequest: {} }))).toBe(false);
  });

  it("a check run for a run that stopped early goes on the pull request's or training run's head, else on GITHUB_SHA when it is a commit", () => {
    const sha = 'c'.repeat(40);
    expect(fallbackHeadSha({ pullRequest: { headSha: 'a'.repeat(40) }, workflowRun: { headSha: 'b'.repeat(40) }, sha })).toBe('a'.repeat(40));
    expect(fallbackHeadSha({ pullRequest: null, workflowRun: { headSha: 'b'.repeat(40) }, sha })).toBe('b'.repeat(40));
    expect(fallbackHeadSha({ pullRequest: null, workflowRun: null, sha })).toBe(sha);
    expect(fallbackHeadSha({ pullRequest: null, workflowRun: null, sha: 'refs/heads/main' })).toBeNull();
  });
});
