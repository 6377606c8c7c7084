/**
 * Progress on stderr. On an interactive terminal (stderr is a TTY, CI is not set, TERM is not "dumb")
 * a one-line bar — models done / total and the model being evaluated — stays at the bottom, and log
 * lines are printed above it; everywhere else (CI logs, files, pipes) only the plain log lines are
 * written, exactly as without a bar, so logs stay greppable and free of control characters.
 */

export interface ProgressState {
  done: number;
  total: number;
  /** The model being evaluated, or null when none is (between models, at the end). */
  current: string | null;
}

export interface Progress {
  /** True when a bar is drawn (a terminal), false for plain lines. */
  readonly interactive: boolean;
  /** One line of log (without its newline). */
  log(line: string): void;
  update(state: ProgressState): void;
  /** Removes the bar (before the final output); later logs are plain lines. */
  end(): void;
}

export interface ProgressOptions {
  write: (text: string) => void;
  /** Whether the stream is a terminal (process.stderr.isTTY). */
  isTTY: boolean;
  /** The terminal's width; default 80. */
  columns?: number;
  env: NodeJS.ProcessEnv;
  /** Bar label, e.g. "policy-gate". */
  label?: string;
}

/** CI is set by GitHub Actions, GitLab, CircleCI, Travis, Buildkite…; "false" or "0" means not CI. */
export function isCi(env: NodeJS.ProcessEnv): boolean {
  const v = env['CI'];
  return v !== undefined && v !== '' && v !== 'false' && v !== '0';
}

export function wantsBar(isTTY: boolean, env: NodeJS.ProcessEnv): boolean {
  return isTTY && !isCi(env) && env['TERM'] !== 'dumb';
}

const CLEAR = '\r\x1b[2K';
const WIDTH = 20;

/** The bar line for `state`, at most `columns` − 1 characters (so the terminal never wraps it). */
export function barLine(state: ProgressState, columns: number, label = 'policy-gate'): string {
  const total = Math.max(0, state.total);
  const done = Math.min(Math.max(0, state.done), total);
  const filled = total === 0 ? WIDTH : Math.round((done / total) * WIDTH);
  const bar = '█'.repeat(filled) + '░'.repeat(WIDTH - filled);
  const text = `${label} ${bar} ${done}/${total} models${state.current ? ` · ${state.current}` : ''}`;
  const max = Math.max(10, columns - 1);
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

export function createProgress(o: ProgressOptions): Progress {
  const interactive = wantsBar(o.isTTY, o.env);
  const columns = o.columns && o.columns > 0 ? o.columns : 80;
  let shown: ProgressState | null = null;
  let ended = false;
  const draw = (): void => {
    if (shown) o.write(`${CLEAR}${barLine(shown, columns, o.label)}`);
  };
  return {
    interactive,
    log(line) {
      if (interactive && shown) {
        o.write(`${CLEAR}${line}\n`);
        draw();
      } else {
        o.write(`${line}\n`);
      }
    },
    update(state) {
      if (!interactive || ended) return;
      shown = { ...state };
      draw();
    },
    end() {
      if (interactive && shown) o.write(CLEAR);
      shown = null;
      ended = true;
    },
  };
}
