/**
 * Masks a job's secrets in its output before the output leaves the job runner, so neither the
 * frames sent to the server, nor the agent's spool files, nor the stored or streamed logs ever
 * hold them. Output arrives in arbitrary pieces (pipe reads, line caps), so a secret may be split
 * across pieces: the masker holds back the shortest tail that could still become a secret and
 * emits it with the next piece (or at the end of the stream). It also masks the base64 and
 * base64url forms of each value (at all three byte alignments, so a value inside a longer base64
 * text is caught) and each line of a multi-line value.
 * @module
 */

/** What a masked run of output is replaced with. */
export const MASK = "***";

/** Derived forms shorter than this are not masked (they would match ordinary output). */
const MIN_DERIVED_CHARS = 4;

/** Every string to mask for `values`: the values, their lines and their base64 forms. */
export function maskPatterns(values: readonly string[]): string[] {
  const out = new Set<string>();
  const derived = (p: string) => {
    if (p.length >= MIN_DERIVED_CHARS) out.add(p);
  };
  for (const value of values) {
    if (!value) continue;
    out.add(value);
    for (const line of value.split(/\r?\n/)) derived(line.trim());
    const bytes = new TextEncoder().encode(value);
    for (let shift = 0; shift < 3; shift++) {
      // Encode behind `shift` filler bytes and keep only the characters that depend on the
      // value's bytes alone: the same characters appear wherever the value sits in a base64
      // text at that alignment.
      const padded = new Uint8Array(shift + bytes.length);
      padded.set(bytes, shift);
      const b64 = base64(padded);
      const from = Math.ceil((shift * 8) / 6);
      const to = Math.floor(((shift + bytes.length) * 8) / 6);
      const part = b64.slice(from, to);
      derived(part);
      derived(part.replaceAll("+", "-").replaceAll("/", "_"));
    }
  }
  return [...out];
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** One string to find, with its KMP failure table. */
class Pattern {
  readonly text: string;
  readonly #fail: Int32Array;

  constructor(text: string) {
    this.text = text;
    this.#fail = new Int32Array(text.length);
    for (let i = 1, k = 0; i < text.length; i++) {
      while (k > 0 && text.charCodeAt(i) !== text.charCodeAt(k)) k = this.#fail[k - 1];
      if (text.charCodeAt(i) === text.charCodeAt(k)) k++;
      this.#fail[i] = k;
    }
  }

  /** Length of the longest proper prefix of the pattern that `buf` ends with. */
  tail(buf: string): number {
    const p = this.text;
    let k = 0;
    for (let i = Math.max(0, buf.length - (p.length - 1)); i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      while (k > 0 && c !== p.charCodeAt(k)) k = this.#fail[k - 1];
      if (c === p.charCodeAt(k)) k++;
      if (k === p.length) k = this.#fail[k - 1];
    }
    return k;
  }
}

/** A streaming masker for one output stream. */
export class Masker {
  readonly #patterns: Pattern[];
  /** Text held back: it ends with what may be the start of a secret. */
  #pending = "";
  /** Leading characters of `#pending` already known to be part of a secret (masked). */
  #covered = 0;
  /** The last character emitted was part of a mask (so a continuing run adds no second mask). */
  #inMask = false;

  /** A masker for the secret `values`. */
  constructor(values: readonly string[]) {
    this.#patterns = maskPatterns(values).map((p) => new Pattern(p));
  }

  /** Whether there is anything to mask. */
  get active(): boolean {
    return this.#patterns.length > 0;
  }

  /** Takes the next piece of output; returns what may be passed on now, masked. */
  feed(text: string): string {
    return this.#process(this.#pending + text, false);
  }

  /** The stream ended: returns the rest held back, masked. */
  end(): string {
    return this.#process(this.#pending, true);
  }

  #process(buf: string, final: boolean): string {
    // Hold back from the earliest point where the text could still turn into a secret.
    let hold = buf.length;
    if (!final) {
      for (const p of this.#patterns) hold = Math.min(hold, buf.length - p.tail(buf));
    }
    const spans: Array<[number, number]> = this.#covered ? [[0, this.#covered]] : [];
    for (const { text } of this.#patterns) {
      for (let i = buf.indexOf(text); i !== -1 && i < hold; i = buf.indexOf(text, i + 1)) {
        spans.push([i, i + text.length]);
      }
    }
    spans.sort((a, b) => a[0] - b[0]);
    let out = "";
    let pos = 0;
    for (const [start, end] of spans) {
      if (start > pos) {
        out += buf.slice(pos, start);
        this.#inMask = false;
      }
      if (!this.#inMask) out += MASK;
      this.#inMask = true;
      pos = Math.max(pos, end);
    }
    if (pos < hold) {
      out += buf.slice(pos, hold);
      this.#inMask = false;
    }
    // A secret that started before the hold point may reach into the held text: remember how
    // far, so that part is never emitted in clear.
    this.#covered = Math.max(0, pos - hold);
    this.#pending = buf.slice(hold);
    return out;
  }
}
