/**
 * Progress on stderr: a bar on an interactive terminal (a fake TTY stream here), plain log lines when
 * stderr is not a terminal, in CI, or on a dumb terminal — and the CLI wiring on the example run.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { barLine, createProgress, isCi, wantsBar } from '../src/util/progress.js';
import { EXAMPLE_DATA, EXAMPLE_ZIP, NOW, cleanupTempDirs, tempDir } from './helpers/e2e.js';

afterAll(cleanupTempDirs);

/** A stand-in for process.stderr on a terminal: records every write. */
class FakeTty {
  readonly isTTY = true;
  readonly writes: string[] = [];
  constructor(readonly columns: number) {}
  write = (text: string): boolean => {
    this.writes.push(text);
    return true;
  };
  /** What a terminal would show: \r returns to the line start, ESC[2K erases the line. */
  screen(): string[] {
    const lines: string[] = [''];
    for (const chunk of this.writes.join('').split(/(\r|\x1b\[2K|\n)/)) {
      if (chunk === '\r') continue;
      if (chunk === '\x1b[2K') lines[lines.length - 1] = '';
      else if (chunk === '\n') lines.push('');
      else lines[lines.length - 1] += chunk;
    }
    return lines;
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\r\x1b]/;

describe('the progress bar on a terminal', () => {
  it('draws models done / total and the current model, keeps log lines above it, and clears itself at the end', () => {
    const tty = new FakeTty(72);
    const p = createProgress({ write: tty.write, isTTY: tty.isTTY, columns: tty.columns, env: {} });
    expect(p.interactive).toBe(true);
    p.log('policy-gate: archive opened');
    p.update({ done: 0, total: 4, current: 'BTCUSD_1Hour' });
    expect(tty.screen().at(-1)).toBe(`policy-gate ${'░'.repeat(20)} 0/4 models · BTCUSD_1Hour`);
    p.log('policy-gate: BTCUSD_1Hour: backtest -7.16%');
    p.update({ done: 1, total: 4, current: null });
    p.update({ done: 2, total: 4, current: 'BTCUSD_2Hour' });
    expect(tty.screen()).toEqual(['policy-gate: archive opened', 'policy-gate: BTCUSD_1Hour: backtest -7.16%', `policy-gate ${'█'.repeat(10)}${'░'.repeat(10)} 2/4 models · BTCUSD_2Hour`]);
    p.end();
    p.update({ done: 3, total: 4, current: 'late' }); // after end: nothing is drawn again
    p.log('policy-gate: wrote report.json');
    expect(tty.screen()).toEqual(['policy-gate: archive opened', 'policy-gate: BTCUSD_1Hour: backtest -7.16%', 'policy-gate: wrote report.json', '']);
  });

  it('never draws a line the terminal would wrap', () => {
    const long = `MODEL_${'X'.repeat(200)}`;
    for (const columns of [20, 40, 80]) {
      const line = barLine({ done: 1, total: 3, current: long }, columns);
      expect([...line].length, String(columns)).toBeLessThanOrEqual(Math.max(10, columns - 1));
      expect(line.endsWith('…')).toBe(true);
    }
    expect(barLine({ done: 3, total: 3, current: null }, 80)).toBe(`policy-gate ${'█'.repeat(20)} 3/3 models`);
    expect(barLine({ done: 0, total: 0, current: null }, 80)).toBe(`policy-gate ${'█'.repeat(20)} 0/0 models`);
  });
});

describe('plain lines elsewhere', () => {
  it.each([
    ['not a terminal', false, {}],
    ['CI=true', true, { CI: 'true' }],
    ['CI=1', true, { CI: '1' }],
    ['TERM=dumb', true, { TERM: 'dumb' }],
  ])('%s: only the log lines, no control characters', (_what, isTTY, env) => {
    const out: string[] = [];
    const p = createProgress({ write: (t) => out.push(t), isTTY, columns: 80, env });
    expect(p.interactive).toBe(false);
    p.log('policy-gate: one');
    p.update({ done: 0, total: 2, current: 'A' });
    p.log('policy-gate: two');
    p.end();
    expect(out.join('')).toBe('policy-gate: one\npolicy-gate: two\n');
  });

  it('reads CI the way CI services set it', () => {
    expect(isCi({ CI: 'true' })).toBe(true);
    expect(isCi({ CI: 'false' })).toBe(false);
    expect(isCi({ CI: '0' })).toBe(false);
    expect(isCi({ CI: '' })).toBe(false);
    expect(isCi({})).toBe(false);
    expect(wantsBar(true, {})).toBe(true);
    expect(wantsBar(true, { CI: 'true' })).toBe(false);
  });
});

describe('policy-gate validate on a terminal', () => {
  async function run(env: NodeJS.ProcessEnv): Promise<{ code: number; tty: FakeTty; stdout: string }> {
    const tty = new FakeTty(100);
    let stdout = '';
    const code = await main(['validate', EXAMPLE_ZIP, '--data', EXAMPLE_DATA, '--out', path.join(tempDir('progress-'), 'r'), '--device', 'cpu'], {
      stdout: (t) => {
        stdout += t;
      },
      stderr: tty.write,
      now: () => NOW,
      cwd: tempDir('cwd-'),
      env,
      stderrIsTTY: true,
      columns: tty.columns,
    });
    return { code, tty, stdout };
  }

  it('shows the bar model by model (4 of the example’s 7 models are evaluated, 2 at a time), then removes it', async () => {
    const { code, tty, stdout } = await run({ ...process.env, CI: '' });
    expect(code).toBe(1);
    const text = tty.writes.join('');
    // runtime.parallel_models is 2: the first two start together, and the bar names the ones in progress.
    expect(text).toMatch(/ 0\/4 models · BTCUSD_1Hour(?!,)/);
    expect(text).toContain(' 0/4 models · BTCUSD_1Hour, BTCUSD_4Hour');
    const bars = [...text.matchAll(/ (\d)\/4 models · ([A-Za-z0-9_, ]+)/g)].map((m) => ({ done: Number(m[1]), current: m[2]!.split(', ') }));
    for (const id of ['BTCUSD_1Hour', 'BTCUSD_4Hour', 'BTCUSD_2Hour', 'BTCUSD_1Day']) {
      expect(
        bars.some((b) => b.current.includes(id)),
        id,
      ).toBe(true);
    }
    expect(Math.max(...bars.map((b) => b.current.length))).toBe(2);
    // The count only grows.
    expect(bars.map((b) => b.done)).toEqual([...bars.map((b) => b.done)].sort());
    expect(text).toContain(` 4/4 models`);
    const screen = tty.screen();
    expect(screen.at(-1)).toBe(''); // the bar is gone before the summary is printed
    expect(screen.some((l) => l.includes('models ·'))).toBe(false);
    // The log lines are whole lines, none glued to a bar: 4 evaluated models, 2 gated out.
    expect(screen.filter((l) => /^policy-gate: BTCUSD_\w+: backtest /.test(l))).toHaveLength(4);
    expect(screen.filter((l) => /^policy-gate: \w+: gating DROP — not evaluated$/.test(l))).toHaveLength(2);
    expect(stdout).toMatch(/DECISIONS\n[^\n]*verdict\n/);
    expect(stdout).not.toMatch(CONTROL);
  });

  it('writes plain lines in CI even on a terminal', async () => {
    const { code, tty } = await run({ ...process.env, CI: 'true' });
    expect(code).toBe(1);
    const text = tty.writes.join('');
    expect(text).not.toMatch(CONTROL);
    expect(text).not.toContain('models ·');
    expect(text).toContain('policy-gate: BTCUSD_1Hour: backtest ');
  });
});
