/** Small, pure formatting helpers shared by the text, markdown and HTML renderers. */

export function pct(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined) return '—';
  return `${(v * 100).toFixed(digits)}%`;
}

export function fixed(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined) return '—';
  return v.toFixed(digits);
}

/** A number as written in a summary: up to 4 significant decimals, no trailing zeros. */
export function plain(v: number | null | undefined): string {
  if (v === null || v === undefined) return '—';
  return String(Number(v.toFixed(4)));
}

export function day(iso: string): string {
  return iso.slice(0, 10);
}

export function stamp(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

/** A plain-text table with aligned columns ('l' or 'r' per column). */
export function textTable(rows: string[][], align: ('l' | 'r')[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
    });
  const line = (row: string[]): string =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - [...cell].length);
        return align[i] === 'r' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  const [head, ...body] = rows;
  if (!head) return '';
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** The fold table every renderer shows: its header and one row per fold. */
export const FOLD_HEADER = ['Fold', 'Period (UTC)', 'Bars', 'Return', 'Sharpe', 'MaxDD', 'Win rate', 'PF', 'Trades'];
export const FOLD_ALIGN: ('l' | 'r')[] = ['r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];

export function foldRow(f: {
  index: number;
  start: string;
  end: string;
  bars: number;
  metrics: { totalReturn: number | null; sharpe: number | null; maxDrawdown: number | null; winRate: number | null; profitFactor: number | null; trades: number };
}): string[] {
  return [
    String(f.index),
    `${stamp(f.start)} → ${stamp(f.end)}`,
    String(f.bars),
    pct(f.metrics.totalReturn),
    fixed(f.metrics.sharpe),
    pct(f.metrics.maxDrawdown),
    pct(f.metrics.winRate, 1),
    fixed(f.metrics.profitFactor),
    String(f.metrics.trades),
  ];
}
