/**
 * Per-command help (`policy-gate <command> --help`, `policy-gate help <command>`) and the "did you
 * mean" suggestion for a mistyped flag or command. cli-args.ts owns the flag table; this module owns the
 * words, and a test checks that every flag a command accepts is described here.
 */

interface FlagHelp {
  /** Flag name without the dashes. */
  name: string;
  /** Its argument, e.g. "<dir>"; absent for a switch. */
  arg?: string;
  text: string;
}

interface CommandHelp {
  usage: string;
  summary: string;
  flags: FlagHelp[];
}

const F = {
  data: { name: 'data', arg: '<dir>|alpaca', text: "bars: a folder of <SYMBOL>_<TIMEFRAME>.csv files, or alpaca (default: the config's data)" },
  config: { name: 'config', arg: '<file>', text: 'the config file (default: .github/policy-gate.yml when present)' },
  out: { name: 'out', arg: '<dir>', text: 'write report.json, report.md and report.html there (also when the run stops)' },
  equityOut: { name: 'equity-out', arg: '<dir>', text: 'write one full-precision equity CSV per backtest and fold there' },
  tradesOut: { name: 'trades-out', arg: '<dir>', text: 'write one CSV of every trade per backtest and fold there' },
  device: { name: 'device', arg: 'auto|cpu|cuda', text: 'where onnxruntime runs the models (default auto: CUDA when available)' },
  json: { name: 'json', text: 'print report.json on stdout instead of the tables' },
  end: { name: 'end', arg: '<ISO>', text: 'evaluate up to this time (UTC): a reproducible window (default: the last bar)' },
  capital: { name: 'capital', arg: '<n>', text: 'initial capital of each backtest and fold (default 100000)' },
  walkForward: { name: 'walk-forward', arg: '<K>', text: 'number of walk-forward folds (default 5)' },
  backtestDays: { name: 'backtest-days', arg: '<n>', text: 'days of the reported backtest (default 30)' },
  paper: { name: 'paper', arg: '<file>', text: 'the paper deployment config (default: deploy/paper.json)' },
  live: { name: 'live', arg: '<file>', text: 'the live deployment config (default: deploy/live.json)' },
  help: { name: 'help', text: 'this help' },
} satisfies Record<string, FlagHelp>;

/** The flags validate and revalidate share: the data, the windows, the outputs. */
const EVALUATION_FLAGS: FlagHelp[] = [
  F.data,
  { name: 'days', arg: '<n>', text: 'days of the walk-forward window (default 180)' },
  F.walkForward,
  F.backtestDays,
  F.capital,
  F.end,
  F.config,
  F.out,
  F.equityOut,
  F.tradesOut,
  F.device,
  F.json,
];

export const COMMAND_HELP: Record<string, CommandHelp> = {
  validate: {
    usage: 'policy-gate validate <archive.zip|dir> [flags]',
    summary: 'The whole pipeline: gating, then for every APPROVED/REVIEW candidate a backtest and a walk-forward,\nthen the decision (LIVE / PAPER / RETRAIN / DROP) with the rule that fired.',
    flags: [...EVALUATION_FLAGS, { name: 'shard', arg: '<i>/<n>', text: 'evaluate the i-th of n shares of the models (a partial report: merge)' }, F.help],
  },
  gate: {
    usage: 'policy-gate gate <archive.zip|dir> [flags]',
    summary: 'Open the archive safely and print the gating table (training metrics, APPROVED / REVIEW / DROP,\nflags, recommended checkpoint). No backtest.',
    flags: [F.config, F.out, F.json, F.help],
  },
  backtest: {
    usage: 'policy-gate backtest --model <file.onnx> [flags]',
    summary: 'Backtest one model and its card, like run_backtest.py; with --walk-forward, the per-fold\nanalysis too.',
    flags: [
      { name: 'model', arg: '<file.onnx>', text: 'the ONNX policy (required)' },
      { name: 'card', arg: '<file>', text: 'its policy card (default: <name>.card.json beside the model)' },
      F.data,
      { name: 'days', arg: '<n>', text: 'days of the backtest (default 30; with --walk-forward, the whole window)' },
      F.walkForward,
      F.capital,
      F.end,
      F.config,
      F.out,
      F.equityOut,
      F.tradesOut,
      F.device,
      F.json,
      F.help,
    ],
  },
  promote: {
    usage: 'policy-gate promote --report <report.json> [flags]',
    summary: 'Apply a validation report to the deployment configs: LIVE → live, PAPER → paper; copy each promoted\nmodel and card (sha256 checked against the report). Idempotent; every write atomic.',
    flags: [
      { name: 'report', arg: '<report.json>', text: 'the report policy-gate validate --out wrote (required)' },
      F.paper,
      F.live,
      { name: 'archive', arg: '<zip|dir>', text: 'the archive the report validated (default: the one it names)' },
      { name: 'models-dir', arg: '<dir>', text: 'where promoted models and cards are copied (default: models)' },
      { name: 'dry-run', text: 'print what would change as a unified diff of the files; write nothing' },
      F.config,
      { name: 'json', text: 'print the plan (changes, unchanged, skipped, written) as JSON' },
      F.help,
    ],
  },
  revalidate: {
    usage: 'policy-gate revalidate [flags]',
    summary: 'Re-validate every deployed model from its own files on the latest window; demote the ones below\ntheir tier (live → paper, paper → out).',
    flags: [F.paper, F.live, ...EVALUATION_FLAGS, F.help],
  },
  track: {
    usage: 'policy-gate track [flags]',
    summary:
      'Each model deployed on the account (PAPER for --account paper, LIVE for --account live): its\n' +
      'fills since promoted_at beside the backtest of the same file over the same bars (decisions\n' +
      'matched/missed/extra, lag, shortfall, tracking error), the walk-forward on the latest data, and\n' +
      'the verdict: eligible for LIVE, hold, demote or no record. Reads the account only\n' +
      '(APCA_API_BASE_URL, default the paper endpoint); writes no deployment config.',
    flags: [
      F.paper,
      F.live,
      { name: 'account', arg: 'paper|live', text: 'which account and tier to track (default paper)' },
      F.data,
      { name: 'days', arg: '<n>', text: 'days of the walk-forward window (default 180)' },
      F.walkForward,
      F.backtestDays,
      F.capital,
      F.end,
      F.config,
      F.out,
      F.device,
      F.json,
      F.help,
    ],
  },
  check: {
    usage: 'policy-gate check <archive.zip|dir> | --model <file.onnx> [--card <file>] [flags]',
    summary:
      'Bind every card to its model and run the inference goldens, with no bars: what each setting resolved to\n(inputs, outputs, which output is the action and how it is read, window and warm-up per feature).\nExit 0 every card fits, 1 a golden mismatches, 2 a mis-set card.',
    flags: [
      { name: 'model', arg: '<file.onnx>', text: 'check one model instead of an archive' },
      { name: 'card', arg: '<file>', text: 'its policy card (default: <model stem>.card.json beside it)' },
      F.config,
      { name: 'json', text: 'print the resolved bindings as JSON' },
      F.help,
    ],
  },
  merge: {
    usage: 'policy-gate merge <partial report.json|dir>... [flags]',
    summary: 'Combine the partial reports of validate --shard i/n into the report one validate writes.',
    flags: [F.out, F.json, F.help],
  },
};

/** The usage text of `policy-gate --help`: every command and its flags at a glance. */
export function usage(version: string): string {
  return `policy-gate ${version} — gate, backtest and walk-forward-validate RL trading policies (ONNX)

Usage:
  policy-gate validate <archive.zip|dir> [--data <dir>|alpaca] [--days 180] [--walk-forward 5]
                       [--backtest-days 30] [--capital 100000] [--end <ISO>] [--config <file>]
                       [--out <dir>] [--equity-out <dir>] [--trades-out <dir>] [--device auto|cpu|cuda] [--json]
                       [--shard <i>/<n>]   evaluate the i-th of n shards: a partial report
  policy-gate merge <partial report.json|dir>... [--out <dir>] [--json]
  policy-gate check <archive.zip|dir> | --model <file.onnx> [--card <file>]  [--config <file>] [--json]
                       bind each card to its model and run the inference goldens (no bars):
                       exit 0 fits, 1 a golden mismatches, 2 a mis-set card
  policy-gate gate <archive.zip|dir> [--config <file>] [--out <dir>] [--json]
  policy-gate backtest --model <file.onnx> [--card <file>] [--data <dir>|alpaca] [--days 30]
                       [--capital 100000] [--walk-forward <K>] [--end <ISO>] [--config <file>]
                       [--out <dir>] [--equity-out <dir>] [--trades-out <dir>] [--device auto|cpu|cuda] [--json]
  policy-gate promote --report <report.json> [--paper <file>] [--live <file>] [--archive <zip|dir>]
                      [--models-dir <dir>] [--config <file>] [--dry-run] [--json]
  policy-gate revalidate [--paper <file>] [--live <file>] [--data <dir>|alpaca] [--end <ISO>]
                         [--days 180] [--walk-forward 5] [--backtest-days 30] [--config <file>]
                         [--out <dir>] [--equity-out <dir>] [--trades-out <dir>] [--device auto|cpu|cuda] [--json]
  policy-gate track [--paper <file>] [--live <file>] [--account paper|live] [--data <dir>|alpaca]
                    [--end <ISO>] [--config <file>] [--out <dir>] [--json]
                       each deployed model's record on its Alpaca account beside its backtest

Each command's flags: policy-gate <command> --help (or policy-gate help <command>).
Exit codes: 0 success, 1 a model fell short, 2 bad input or usage, 3 data provider or API unreachable,
128 + the signal when interrupted (130 SIGINT, 143 SIGTERM, 129 SIGHUP; the report is still written).
Progress goes to stderr; --json prints report.json on stdout. Docs: README.md, docs/.`;
}

/** The help text of one command: usage, what it does, and every flag it takes. */
export function commandHelp(command: string, version: string): string {
  const h = COMMAND_HELP[command];
  if (!h) throw new Error(`no help for command ${command}`);
  const labels = h.flags.map((f) => `--${f.name}${f.arg ? ` ${f.arg}` : ''}`);
  const width = Math.max(...labels.map((l) => l.length));
  const lines = [
    `policy-gate ${version} — ${command}`,
    '',
    `Usage: ${h.usage}`,
    '',
    h.summary,
    '',
    'Flags:',
    ...h.flags.flatMap((f, i) => wrap(f.text, WIDTH - width - 4).map((t, k) => `  ${(k === 0 ? labels[i]! : '').padEnd(width)}  ${t}`)),
    '',
    'Exit codes: 0 success, 1 a model fell short, 2 bad input or usage,',
    '            3 data provider or API unreachable.',
    'All commands: policy-gate --help. Docs: README.md, docs/.',
  ];
  return lines.join('\n');
}

/** Help lines fit this many columns. */
const WIDTH = 100;

/** Words of `text` in lines of at most `columns` (a longer word gets a line of its own). */
function wrap(text: string, columns: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > columns) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  out.push(line);
  return out;
}

/** Levenshtein distance (insert, delete, substitute, and an adjacent swap counts as one edit). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The closest candidate to `word`, when it is close enough to be a typo: at most 2 edits, and at most
 * a third of the longer word (so "--ed" does not suggest "--end" for every short flag). Ties go to the
 * first candidate. Case and the dashes/underscores people mix up are ignored.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const norm = (s: string): string => s.toLowerCase().replace(/_/g, '-');
  const w = norm(word);
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const n = norm(c);
    const distance = n === w ? 0 : n.replace(/-/g, '') === w.replace(/-/g, '') ? 1 : editDistance(w, n);
    if (distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  if (best === null) return null;
  const limit = Math.min(2, Math.floor(Math.max(w.length, best.length) / 3));
  return bestDistance <= Math.max(1, limit) ? best : null;
}
