/**
 * Terminal widths: display columns (wide East Asian characters and emoji take two, combining marks
 * none), cutting a cell with an ellipsis, word-wrapping a line with a hanging indent, and a table that
 * fits a width by shrinking the columns allowed to shrink. Pure.
 */

/** Columns one code point takes on a terminal: 0, 1 or 2. */
export function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f) || cp === 0x20e3) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x1f680 && cp <= 0x1f6ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** Display columns of a string. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** `s` cut to at most `max` columns, ending in "…" when cut. */
export function truncate(s: string, max: number): string {
  if (displayWidth(s) <= max) return s;
  if (max <= 0) return '';
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > max - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/**
 * A line wrapped at spaces into lines of at most `width` columns; continuation lines are indented by
 * the line's own indent plus `hang` spaces. A word longer than a line is split (never dropped).
 */
export function wrapLine(line: string, width: number, hang = 2): string[] {
  if (displayWidth(line) <= width) return [line];
  const indent = /^ */.exec(line)![0];
  const cont = ' '.repeat(Math.min(indent.length + hang, Math.floor(width / 2)));
  // A unit ("24 %") stays with its number.
  const words = line.slice(indent.length).split(/ +(?!%)/);
  const out: string[] = [];
  let cur = indent;
  let fresh = true; // nothing but the indent on `cur`
  const push = (): void => {
    out.push(cur.trimEnd());
    cur = cont;
    fresh = true;
  };
  for (let word of words) {
    const room = (): number => width - displayWidth(cur) - (fresh ? 0 : 1);
    if (!fresh && displayWidth(word) > room()) push();
    while (displayWidth(word) > room()) {
      // Split an over-long word at the room left on a fresh line.
      let head = '';
      let w = 0;
      const r = room();
      for (const ch of word) {
        const cw = charWidth(ch.codePointAt(0)!);
        if (w + cw > r) break;
        head += ch;
        w += cw;
      }
      if (head === '') break;
      cur += (fresh ? '' : ' ') + head;
      word = word.slice(head.length);
      push();
    }
    if (word === '') continue;
    cur += (fresh ? '' : ' ') + word;
    fresh = false;
  }
  if (!fresh) out.push(cur.trimEnd());
  return out;
}

/** Every line of `text` wrapped to `width` columns (see wrapLine). */
export function wrapText(text: string, width: number, hang = 2): string {
  return text
    .split('\n')
    .flatMap((l) => wrapLine(l, width, hang))
    .join('\n');
}

export interface FitColumn {
  align: 'l' | 'r';
  /** Narrowest this column may be made; absent: never narrowed. */
  min?: number;
  /** A narrowed cell continues on the next lines (broken after "," or " ") instead of being cut with "…". */
  wrap?: boolean;
}

/** `cell` in lines of at most `width` columns, broken after a comma or a space where possible. */
function wrapCell(cell: string, width: number): string[] {
  const out: string[] = [];
  let rest = cell;
  while (displayWidth(rest) > width) {
    const chars = [...rest];
    let w = 0;
    let cut = 0;
    let soft = -1;
    for (let i = 0; i < chars.length; i++) {
      const cw = charWidth(chars[i]!.codePointAt(0)!);
      if (w + cw > width) break;
      w += cw;
      cut = i + 1;
      if (chars[i] === ',' || chars[i] === ' ') soft = i + 1;
    }
    const at = soft > 0 ? soft : Math.max(1, cut);
    out.push(chars.slice(0, at).join('').trimEnd());
    rest = chars.slice(at).join('').trimStart();
  }
  out.push(rest);
  return out;
}

/**
 * A plain-text table (header, a rule of dashes, the rows) of at most `width` columns: when it is wider,
 * the columns with a `min` give up width, widest first, their cells cut with "…".
 */
export function fitTable(rows: string[][], cols: FitColumn[], width: number, gap = 2): string {
  const widths = cols.map((_, i) => Math.max(0, ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const total = (): number => widths.reduce((a, b) => a + b, 0) + gap * (cols.length - 1);
  while (total() > width) {
    let pick = -1;
    cols.forEach((c, i) => {
      if (c.min !== undefined && widths[i]! > c.min && (pick < 0 || widths[i]! > widths[pick]!)) pick = i;
    });
    if (pick < 0) break;
    widths[pick]! -= 1;
  }
  const line = (row: string[]): string =>
    row
      .map((cell, i) => {
        const c = truncate(cell, widths[i]!);
        const pad = ' '.repeat(Math.max(0, widths[i]! - displayWidth(c)));
        return cols[i]!.align === 'r' ? pad + c : c + pad;
      })
      .join(' '.repeat(gap))
      .trimEnd();
  // A row whose wrapping cells are too wide goes on over several lines; its other cells on the first.
  const lines = (row: string[]): string[] => {
    const parts = row.map((cell, i) => (cols[i]?.wrap ? wrapCell(cell, widths[i]!) : [cell]));
    const n = Math.max(...parts.map((p) => p.length));
    return Array.from({ length: n }, (_, k) => line(parts.map((p) => p[k] ?? '')));
  };
  const [head, ...body] = rows;
  if (!head) return '';
  return [line(head), widths.map((w) => '-'.repeat(w)).join(' '.repeat(gap)), ...body.flatMap(lines)].join('\n');
}
