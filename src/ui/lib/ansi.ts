/**
 * A small ANSI SGR parser for the log tail: turns text with colour escapes into styled runs.
 * Other escape sequences (cursor movement, OSC titles) are dropped. The runs hold plain text;
 * the page renders them as text nodes, so output is never interpreted as HTML.
 * @module
 */

/** The style of a run of text. */
export interface AnsiStyle {
  /** Palette index 0–15, or a CSS colour for 256-colour and true-colour codes. */
  fg?: number | string;
  bg?: number | string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

/** A run of text in one style. */
export interface AnsiRun {
  text: string;
  style: AnsiStyle;
}

// CSI sequences (ESC [ ... final byte), OSC sequences (ESC ] ... BEL or ESC \), other escapes.
// deno-lint-ignore no-control-regex -- matching escape sequences is the point
const ESCAPE = /\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;

/**
 * Splits `text` into styled runs, starting from `style` (the style in force at the end of the
 * previous piece of the same stream). Returns the runs and the style in force at the end.
 */
export function parseAnsi(
  text: string,
  style: AnsiStyle = {},
): { runs: AnsiRun[]; style: AnsiStyle } {
  const runs: AnsiRun[] = [];
  let current = { ...style };
  let last = 0;
  for (const m of text.matchAll(ESCAPE)) {
    if (m.index > last) runs.push({ text: text.slice(last, m.index), style: current });
    last = m.index + m[0].length;
    if (m[2] === "m") current = applySgr(current, m[1]);
  }
  if (last < text.length) runs.push({ text: text.slice(last), style: current });
  return { runs, style: current };
}

/** Applies the parameters of one `ESC [ ... m` sequence. */
function applySgr(style: AnsiStyle, params: string): AnsiStyle {
  const s = { ...style };
  const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => Number(p) || 0);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) { for (const k of Object.keys(s)) delete s[k as keyof AnsiStyle]; }
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 49) delete s.bg;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5 && i + 2 < codes.length) {
      const n = codes[i + 2] & 255;
      const colour = n < 16 ? n : xterm256(n);
      if (c === 38) s.fg = colour;
      else s.bg = colour;
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2 && i + 4 < codes.length) {
      const [r, g, b] = codes.slice(i + 2, i + 5).map((v) => v & 255);
      if (c === 38) s.fg = `rgb(${r},${g},${b})`;
      else s.bg = `rgb(${r},${g},${b})`;
      i += 4;
    }
  }
  return s;
}

/** The CSS colour of xterm palette entry 16–255. */
function xterm256(n: number): string {
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const level = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}
