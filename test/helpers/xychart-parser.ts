/**
 * A strict parser for the subset of Mermaid's `xychart-beta` that policy-gate emits, written from the
 * grammar github.com's Mermaid uses: mermaid-js/mermaid
 * packages/mermaid/src/diagrams/xychart/parser/xychart.jison —
 *
 *   start      : XYCHART document                       ("xychart-beta", case-insensitive)
 *   statement  : title text
 *              | X_AXIS text? (bandData | NUMBER --> NUMBER)
 *              | Y_AXIS text? NUMBER --> NUMBER
 *              | BAR text? plotData | LINE text? plotData
 *   bandData   : "[" text ("," text)* "]"
 *   plotData   : "[" NUMBER ("," NUMBER)* "]"
 *   text       : STR ('"' [^"]* '"', non-empty here) | alphaNum
 *   NUMBER     : [+-]?(\d+(\.\d+)?|\.\d+)           (NUMBER_WITH_DECIMAL: no exponent, no NaN)
 *   eol        : newline | ";"    and "%%…" to the end of a line is a comment
 *
 * It accepts only quoted texts (what we write) and rejects anything else, so a test fails on any
 * block Mermaid would read differently: an exponent, a stray quote, a comment marker, a missing axis.
 */

export interface ParsedXyChart {
  title: string | null;
  xAxis: { title: string; labels: string[] } | null;
  yAxis: { title: string; min: number; max: number } | null;
  bars: number[][];
  lines: number[][];
}

const NUMBER = String.raw`[+-]?(?:\d+(?:\.\d+)?|\.\d+)`;
// Non-empty: the lexer's <string>[^"]* rule returns no token for an empty string, so `""` leaves text missing.
const STR = String.raw`"([^"]+)"`;
const NUM_LIST = new RegExp(String.raw`^\[\s*(${NUMBER}(?:\s*,\s*${NUMBER})*)\s*\]$`);
const STR_LIST = new RegExp(String.raw`^\[\s*(${STR}(?:\s*,\s*${STR})*)\s*\]$`);

export class XyChartSyntaxError extends Error {}

function fail(line: number, why: string, text: string): never {
  throw new XyChartSyntaxError(`xychart line ${line}: ${why}: ${JSON.stringify(text)}`);
}

function numbers(list: string): number[] {
  return list.split(',').map((s) => Number(s.trim()));
}

/** Parses the body of a ```mermaid block (without the fences). */
export function parseXyChart(source: string): ParsedXyChart {
  if (/%%/.test(source)) throw new XyChartSyntaxError('"%%" starts a Mermaid comment: the rest of its line would be ignored');
  if (/;/.test(source)) throw new XyChartSyntaxError('";" separates Mermaid statements: not expected inside our blocks');
  const lines = source.split('\n');
  const out: ParsedXyChart = { title: null, xAxis: null, yAxis: null, bars: [], lines: [] };
  let header = false;
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trim();
    if (line === '') return;
    if (!header) {
      if (!/^xychart-beta$/i.test(line)) fail(n, 'the first statement must be "xychart-beta"', line);
      header = true;
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^title\\s+${STR}$`).exec(line))) {
      out.title = m[1]!;
    } else if ((m = new RegExp(`^x-axis\\s+${STR}\\s+(\\[.*\\])$`).exec(line))) {
      const band = STR_LIST.exec(m[2]!);
      if (!band) fail(n, 'x-axis categories must be ["text", …]', line);
      out.xAxis = { title: m[1]!, labels: [...band[1]!.matchAll(new RegExp(STR, 'g'))].map((s) => s[1]!) };
    } else if ((m = new RegExp(`^y-axis\\s+${STR}\\s+(${NUMBER})\\s+-->\\s+(${NUMBER})$`).exec(line))) {
      out.yAxis = { title: m[1]!, min: Number(m[2]), max: Number(m[3]) };
    } else if ((m = /^(bar|line)\s+(\[.*\])$/.exec(line))) {
      const data = NUM_LIST.exec(m[2]!);
      if (!data) fail(n, `${m[1]} data must be [number, …] with numbers matching ${NUMBER}`, line);
      (m[1] === 'bar' ? out.bars : out.lines).push(numbers(data[1]!));
    } else {
      fail(n, 'not a statement of the xychart subset', line);
    }
  });
  if (!header) throw new XyChartSyntaxError('empty block: no "xychart-beta" header');
  return out;
}

/** The bodies of every ```mermaid fenced block in a markdown text, with the text before each. */
export function mermaidBlocks(markdown: string): { body: string; offset: number }[] {
  const out: { body: string; offset: number }[] = [];
  const re = /^```mermaid\n([\s\S]*?)^```$/gm;
  for (const m of markdown.matchAll(re)) out.push({ body: m[1]!, offset: m.index! });
  return out;
}
