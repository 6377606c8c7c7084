/**
 * A unified diff (the `diff -u` / `git diff` text format) of two texts, line by line, with 3 lines of
 * context. Used by `promote --dry-run` to show what a promotion would write. The edit script is a
 * longest common subsequence of the lines (the files it diffs are deployment configs of a few hundred
 * lines); above MAX_CELLS the whole old text is shown removed and the new one added, which is still a
 * correct diff.
 */

const CONTEXT = 3;
const MAX_CELLS = 4_000_000;

type Op = { kind: ' ' | '-' | '+'; line: string };

function splitLines(text: string | null): { lines: string[]; finalNewline: boolean } {
  if (text === null || text === '') return { lines: [], finalNewline: true };
  const finalNewline = text.endsWith('\n');
  const lines = (finalNewline ? text.slice(0, -1) : text).split('\n');
  return { lines, finalNewline };
}

function editScript(a: string[], b: string[]): Op[] {
  // common prefix and suffix first: a deploy config change touches a few entries
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ kind: ' ', line }));
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const n = midA.length;
  const m = midB.length;
  if (n * m > MAX_CELLS) {
    for (const line of midA) ops.push({ kind: '-', line });
    for (const line of midB) ops.push({ kind: '+', line });
  } else {
    // lcs[i][j] = LCS length of midA[i..] and midB[j..]
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i]![j] = midA[i] === midB[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && midA[i] === midB[j]) {
        ops.push({ kind: ' ', line: midA[i]! });
        i++;
        j++;
      } else if (j < m && (i === n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
        ops.push({ kind: '+', line: midB[j]! });
        j++;
      } else {
        ops.push({ kind: '-', line: midA[i]! });
        i++;
      }
    }
    // a run of changes reads best as removals, then additions
    for (let k = 0; k < ops.length; ) {
      if (ops[k]!.kind === ' ') {
        k++;
        continue;
      }
      let e = k;
      while (e < ops.length && ops[e]!.kind !== ' ') e++;
      const run = ops.slice(k, e);
      ops.splice(k, e - k, ...run.filter((o) => o.kind === '-'), ...run.filter((o) => o.kind === '+'));
      k = e;
    }
  }
  for (const line of a.slice(endA)) ops.push({ kind: ' ', line });
  return ops;
}

const range = (start: number, count: number): string => (count === 1 ? `${start}` : `${start},${count}`);

/**
 * The unified diff turning `before` into `after` for `path` (repository-relative); `before` null is a
 * new file, `after` null a deleted one. Empty string when the texts are equal.
 */
export function unifiedDiff(path: string, before: string | null, after: string | null): string {
  if (before === after) return '';
  const a = splitLines(before);
  const b = splitLines(after);
  const ops = editScript(a.lines, b.lines);
  // Only the final newline differs on an otherwise equal last line: that line changes.
  const last = ops[ops.length - 1];
  if (a.finalNewline !== b.finalNewline && last?.kind === ' ') ops.splice(ops.length - 1, 1, { kind: '-', line: last.line }, { kind: '+', line: last.line });
  const header = [`--- ${before === null ? '/dev/null' : `a/${path}`}`, `+++ ${after === null ? '/dev/null' : `b/${path}`}`];
  // the last line of each side, for "\ No newline at end of file"
  const lastA = a.lines.length - 1;
  const lastB = b.lines.length - 1;

  const out: string[] = [...header];
  let k = 0;
  // positions (0-based) in a and b of ops[k]
  const posA: number[] = [];
  const posB: number[] = [];
  {
    let ia = 0;
    let ib = 0;
    for (const op of ops) {
      posA.push(ia);
      posB.push(ib);
      if (op.kind !== '+') ia++;
      if (op.kind !== '-') ib++;
    }
  }
  const changed = ops.map((o) => o.kind !== ' ');
  while (k < ops.length) {
    if (!changed[k]) {
      k++;
      continue;
    }
    // a hunk: from CONTEXT lines before the first change to CONTEXT lines after the last change that is
    // no more than 2·CONTEXT unchanged lines from the next one
    const from = Math.max(0, k - CONTEXT);
    let end = k;
    while (end < ops.length) {
      let next = end + 1;
      while (next < ops.length && !changed[next]) next++;
      if (next < ops.length && next - end - 1 <= 2 * CONTEXT) end = next;
      else break;
    }
    const to = Math.min(ops.length, end + 1 + CONTEXT);
    const slice = ops.slice(from, to);
    const countA = slice.filter((o) => o.kind !== '+').length;
    const countB = slice.filter((o) => o.kind !== '-').length;
    const startA = countA === 0 ? posA[from]! : posA[from]! + 1;
    const startB = countB === 0 ? posB[from]! : posB[from]! + 1;
    out.push(`@@ -${range(startA, countA)} +${range(startB, countB)} @@`);
    for (let x = from; x < to; x++) {
      const op = ops[x]!;
      out.push(`${op.kind}${op.line}`);
      const atA = op.kind !== '+' && posA[x] === lastA && !a.finalNewline;
      const atB = op.kind !== '-' && posB[x] === lastB && !b.finalNewline;
      if (atA || atB) out.push('\\ No newline at end of file');
    }
    k = to;
  }
  return out.join('\n') + '\n';
}
