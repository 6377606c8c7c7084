/**
 * Hostile case: untrusted strings (threats.md G8; docs/threat-model.md). A model id (a training
 * summary key), a policy card's symbol and a pull request's title and branch carry workflow commands
 * (`::error::`, `%0A::set-output`, `::add-mask::`, `::stop-commands::`, the same after NBSP, U+2003,
 * U+3000 and other Unicode white space, and the legacy `##[set-output …]` in mid-line), HTML
 * (`<script>`, an `<img>` with an event handler, an attribute-breaking quote), markdown links and
 * images, `|` table breakers, `@user` / `@org/team` mentions, and right-to-left overrides and
 * zero-width characters. None may become a workflow command on stdout or stderr — judged by a port of
 * the runner's own parser (test/helpers/runner-commands.ts) — an output in GITHUB_OUTPUT, a live
 * mention, live markdown / HTML in the job summary, the check run, the PR comment, report.md or
 * report.html, or an invisible character in any of them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { neutralize } from '../src/action/log.js';
import { logLine, neutralizeCommands, printable } from '../src/util/terminal.js';
import { visibleText } from '../src/util/visible.js';
import { ANY_NAME, parseRunnerLine, runnerCommands, runnerLines } from './helpers/runner-commands.js';
import { shutdownOrtHost } from '../src/adapters/onnx/host.js';
import { expectNoViolations, type FakeGitHub, startFakeGitHub } from './helpers/fake-github.js';
import { buildBundle, cleanupHarness, NAME, OWNER, parseOutputs, pullRequestPayload, runAction, workspace, type Bundle } from './helpers/action-harness.js';
import { cleanupTempDirs, dec, enc, EXAMPLE_DATA, runCli, tempDir } from './helpers/e2e.js';
import { exampleWith, MODELS, SUMMARY, writeZip } from './helpers/hostile.js';

// Every request to the loopback GitHub must be one GitHub's REST description allows.
afterEach(() => expectNoViolations());

const TOKEN = 'ghs_injectionToken0123456789abcdefABCDE';
/** Everything at once; "PWN" marks the hostile text so the checks can find it. */
const PAYLOAD =
  'PWN\n::error::PWN injected%0A::set-output name=pwned::1\r::add-mask::PWN\n::stop-commands::PWN' +
  '\n\u00a0::error::PWN nbsp\n\u2003::set-output name=pwned::2\n\u3000\t::add-mask::PWN\r\u0085::warning::PWN\nx ##[set-output name=pwned]3 ##[error]PWN' +
  '<script>alert(1)</script><img src=x onerror="alert(2)">" onmouseover="alert(3)' +
  '[link](https://evil.example/l)![img](https://evil.example/i.png)|PWN col|' +
  ' cc @octo-org/admins and @quant-dev BTCUSD\u202e_yaDh1\u200b\u2066x\ufeff';
const HOSTILE_ID = `${PAYLOAD}_1Hour`;
const HOSTILE_SYMBOL = `PWN|<b>bold</b>[x](https://evil.example)`;

/** The example archive plus a summary entry keyed by the hostile id, and a hostile card symbol. */
function hostileArchive(file: string): string {
  const files = exampleWith((f) => {
    const doc = JSON.parse(dec(f[SUMMARY]!));
    doc.symbols[HOSTILE_ID] = {
      model: 'models/rl_symbols/BTCUSD_1Day.onnx',
      metrics: { fitness_score: [0.1, 0.1, 0.1], profit_factor: [0.9, 0.9, 0.9], consistency: [0.3, 0.3, 0.3], max_drawdown: [0.5, 0.5, 0.5] },
    };
    f[SUMMARY] = enc(JSON.stringify(doc, null, 2));
    const card = JSON.parse(dec(f[`${MODELS}/BTCUSD_4Hour.card.json`]!));
    card.symbol = HOSTILE_SYMBOL;
    f[`${MODELS}/BTCUSD_4Hour.card.json`] = enc(JSON.stringify(card, null, 2));
  });
  return writeZip(file, files);
}

/**
 * Commands the runner would execute from a step's output (its own parser, ported), other than the ones
 * policy-gate issues itself: `::add-mask::` carrying a registered secret, groups, and annotations
 * (whose hostile text is command DATA, escaped by @actions/core). The legacy `##[` form is never ours.
 */
function foreignCommands(output: string, secrets: readonly string[] = []): string[] {
  const ours = new Set(['group', 'endgroup', 'warning', 'error', 'debug', 'notice']);
  return runnerCommands(output, ANY_NAME)
    .filter((c) => !(c.form === 'v2' && (ours.has(c.name) || (c.name === 'add-mask' && secrets.includes(c.data)))))
    .map((c) => `${c.form} ${c.name}: ${c.data.slice(0, 40)}`);
}

/** A port of GitHub's mention filter (html-pipeline MentionFilter): `@name` or `@org/team` after a non-word character. */
function liveMentions(text: string): string[] {
  return [...text.matchAll(/(?:^|[^\p{L}\p{N}_`])@([a-z0-9][a-z0-9-]*)(\/[a-z0-9][a-z0-9_-]*)?/giu)].map((m) => m[0].trim());
}

/** Bidirectional controls and zero-width characters: never raw in a document (markdown's own word joiner after `@` aside). */
function invisibles(text: string): string[] {
  return [...text.matchAll(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g)].map((m) => `U+${m[0].charCodeAt(0).toString(16)}`);
}

/** Live markup the hostile strings could have produced in a markdown document: each must be escaped. */
function liveMarkdown(text: string): string[] {
  const found: string[] = [];
  const checks: [string, RegExp][] = [
    ['<script>', /(?<![\\])<script/i],
    ['<img>', /(?<![\\])<img/i],
    ['<b>', /(?<![\\])<b>bold/i],
    ['a link', /(?<![\\])\]\(https:\/\/evil\.example/],
    ['an image', /(?<![\\])!\[img/],
    ['a table-breaking |', /(?<![\\])\|PWN col/],
    ['a line starting with ::', /^::(error|set-output|add-mask|stop-commands)/m],
  ];
  for (const [what, re] of checks) if (re.test(text)) found.push(what);
  return found;
}

/** The same for HTML: no hostile tag, handler or broken-out attribute survives unescaped. */
function liveHtml(text: string): string[] {
  const found: string[] = [];
  const checks: [string, RegExp][] = [
    ['<script>alert', /<script>alert\(1\)/i],
    ['<img onerror>', /<img src=x/i],
    ['<b>', /<b>bold/i],
    ['an attribute break-out', /" onmouseover="alert/],
    ['a javascript or evil href', /href=["']?(javascript:|https:\/\/evil)/i],
  ];
  for (const [what, re] of checks) if (re.test(text)) found.push(what);
  return found;
}

afterAll(async () => {
  await shutdownOrtHost();
  cleanupHarness();
  cleanupTempDirs();
});

describe('the output filters (property, fast-check)', () => {
  // Every character .NET's String.TrimStart() drops (the runner trims before it looks for `::`), and more.
  const spaces = ['\u00a0', '\u1680', '\u2000', '\u2005', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000', '\u0085', '\u000b', '\f', '\ufeff', '\u200b'];
  const hostile = fc
    .array(
      fc.oneof(
        fc.constantFrom('::', '##[', ']', '\n', '\r', '\r\n', ' ', '\t', 'error::', 'set-output name=x::', 'add-mask', '%0A', '\u001b]0;', '\u0007', 'a', '#', ':', '[', ...spaces),
        fc.string({ maxLength: 4 }),
      ),
      { maxLength: 14 },
    )
    .map((p) => p.join(''));
  const lines = (t: string): string[] => t.split(/\r\n|\r|\n/);

  it("no line of any text, once filtered, starts a workflow command; the CLI's stdout has no control characters", () => {
    fc.assert(
      fc.property(hostile, (text) => {
        for (const out of [neutralizeCommands(text), neutralizeCommands(printable(text)), neutralize(text)]) {
          for (const l of lines(out)) expect(/^\s*(::|##\[)/.test(l), JSON.stringify(l)).toBe(false);
          // The runner's own parser (ported), with every name registered, finds no command in any line.
          for (const l of runnerLines(out)) expect(parseRunnerLine(l, ANY_NAME), JSON.stringify(l)).toBeNull();
        }
        expect(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(printable(text))).toBe(false);
        expect(lines(logLine(text))).toHaveLength(1);
        // Nothing else changes: removing the zero-width spaces gives the text back.
        expect(neutralizeCommands(text).replaceAll('\u200b', '')).toBe(text.replaceAll('\u200b', ''));
      }),
      { seed: 20240911, numRuns: 2000 },
    );
  });
});

describe('the runner parser port (test/helpers/runner-commands.ts)', () => {
  it('finds what the runner executes: :: after any Unicode white space, ##[ anywhere in a line', () => {
    expect(parseRunnerLine('\u00a0::set-output name=x::1')).toMatchObject({ form: 'v2', name: 'set-output', data: '1' });
    expect(parseRunnerLine('\u3000\u2003\u0085::add-mask::s')).toMatchObject({ form: 'v2', name: 'add-mask', data: 's' });
    expect(parseRunnerLine('model x ##[error]boom')).toMatchObject({ form: 'legacy', name: 'error', data: 'boom' });
    expect(parseRunnerLine(':\u200b:error::x')).toBeNull();
    expect(parseRunnerLine('##\u200b[error]x')).toBeNull();
    // Each of these got through the earlier filter, which only knew spaces and tabs at a line start.
    for (const attack of ['\u00a0::error::x', 'a ##[warning]x', '\u2028::stop-commands::t']) {
      expect(parseRunnerLine(neutralizeCommands(attack)), attack).toBeNull();
      expect(parseRunnerLine(neutralize(attack)), attack).toBeNull();
    }
  });
});

describe('CLI: report.md, report.html, stdout', () => {
  it('a hostile model id and card symbol are shown as text, never as markup', async () => {
    const ws = tempDir('inject-');
    hostileArchive(path.join(ws, 'archive.zip'));
    const run = await runCli(['validate', 'archive.zip', '--data', EXAMPLE_DATA, '--out', 'out', '--end', '2024-09-10T00:00:00Z'], ws);
    expect(run.code).toBe(1);
    const report = JSON.parse(readFileSync(path.join(ws, 'out', 'report.json'), 'utf8'));
    // The text is kept exactly in report.json (data, not markup) ...
    // (control, bidirectional and zero-width characters shown as visible escapes)
    expect(report.models.some((m: { id: string }) => m.id.startsWith(visibleText(PAYLOAD)))).toBe(true);
    expect(JSON.stringify(report)).toContain('BTCUSD\\\\u202e_yaDh1\\\\u200b\\\\u2066x\\\\ufeff');
    expect(report.models.find((m: { id: string }) => m.id === 'BTCUSD_4Hour').errors.join(' ')).toContain('PWN|<b>bold</b>');
    // ... and it reached the documents: they mention it, escaped.
    const md = readFileSync(path.join(ws, 'out', 'report.md'), 'utf8');
    const html = readFileSync(path.join(ws, 'out', 'report.html'), 'utf8');
    expect(md).toContain('PWN');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(liveMarkdown(md)).toEqual([]);
    expect(liveHtml(html)).toEqual([]);
    expect(liveMentions(md)).toEqual([]);
    expect(md).toContain('@\u2060octo-org/admins');
    for (const [where, text] of [
      ['report.json', JSON.stringify(report)],
      ['report.md', md],
      ['report.html', html],
      ['stdout', run.stdout],
      ['stderr', run.stderr],
    ]) {
      expect(invisibles(text.replaceAll('\u200b', '')), where).toEqual([]);
      expect(/[\u202a-\u202e\u2066-\u2069\ufeff]/.test(text), where).toBe(false);
    }
    expect(md).toContain('\\u202e');
    expect(html).toContain('\\u202e');
    expect(run.stdout).toContain('\\u202e');
    expect(runnerCommands(run.stdout + '\n' + run.stderr, ANY_NAME)).toEqual([]);
  });
});

describe('Action: stdout commands, GITHUB_OUTPUT, summary, check run, comment', () => {
  let bundle: Bundle;
  let fake: FakeGitHub;
  beforeAll(async () => {
    bundle = await buildBundle();
    fake = await startFakeGitHub({ owner: OWNER, repo: NAME, token: TOKEN });
  }, 60_000);
  afterAll(async () => {
    await fake.close();
  });

  it('a hostile PR title and branch, a hostile model id and card symbol: nothing is executed or rendered', async () => {
    const ws = workspace((dir) => hostileArchive(path.join(dir, 'examples', 'hostile.zip')));
    fake.state.pullFiles.set(7, [{ filename: 'examples/hostile.zip', status: 'modified' }]);
    const run = await runAction(bundle, fake, {
      event: 'pull_request',
      payload: pullRequestPayload({ number: 7, title: PAYLOAD, headRef: 'PWN%0A::set-output name=pwned::1', body: PAYLOAD }),
      inputs: { archive: 'examples/hostile.zip', data: 'examples/data' },
      token: TOKEN,
      ws,
    });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    // The pipeline did see the hostile id (it is logged), yet no line became a command.
    expect(run.stdout).toContain('PWN');
    expect(foreignCommands(run.stdout, [TOKEN])).toEqual([]);
    expect(foreignCommands(run.stderr)).toEqual([]);
    // GITHUB_OUTPUT holds exactly the documented outputs.
    const outputs = parseOutputs(readFileSync(run.outputFile, 'utf8'));
    expect(Object.keys(outputs).sort()).toEqual(['conclusion', 'decisions', 'report-path']);
    expect(JSON.parse(outputs['decisions']!).some((d: { id: string }) => d.id.startsWith(visibleText(PAYLOAD)))).toBe(true);
    // Markdown surfaces.
    const check = fake.state.checkRuns[0]!;
    const comment = fake.state.comments.get(7)!.find((c) => c.user.type === 'Bot')!;
    for (const [where, text] of [
      ['summary', run.summary],
      ['check run title', check.output!.title!],
      ['check run summary', check.output!.summary!],
      ['comment', comment.body],
      ['report.md', readFileSync(path.join(ws.dir, 'policy-gate-report', 'report.md'), 'utf8')],
    ] as const) {
      if (where !== 'check run title') expect(text, where).toContain('PWN'); // the hostile text reached it, escaped
      expect(liveMarkdown(text), where).toEqual([]);
      expect(liveMentions(text), where).toEqual([]);
      expect(invisibles(text), where).toEqual([]);
      if (where !== 'check run title') expect(text, where).toContain('\\u202e');
    }
    expect(liveHtml(readFileSync(path.join(ws.dir, 'policy-gate-report', 'report.html'), 'utf8'))).toEqual([]);
  }, 60_000);
});
