/**
 * The pure parts of the dashboard: ANSI parsing, the log tail's line assembly, and the submit
 * form's argv splitting.
 * @module
 */

import assert from "node:assert/strict";
import { parseAnsi } from "../../src/ui/lib/ansi.ts";
import { parseEnvLines, splitArgs } from "../../src/ui/lib/argv.ts";
import { addChunks, initialLog } from "../../src/ui/log_tail.tsx";

Deno.test("parseAnsi() styles runs, carries style across pieces and drops other escapes", () => {
  const { runs, style } = parseAnsi("a\x1b[1;31mb\x1b[0mc\x1b[2Kd\x1b]0;title\x07e\x1b[38;5;196mf");
  assert.deepEqual(runs.map((r) => r.text), ["a", "b", "c", "d", "e", "f"]);
  assert.deepEqual(runs[1].style, { bold: true, fg: 1 });
  assert.deepEqual(runs[2].style, {});
  assert.equal(style.fg, "rgb(255,0,0)");
  assert.deepEqual(parseAnsi("g", style).runs[0].style.fg, "rgb(255,0,0)");
});

Deno.test("addChunks() assembles each stream's lines and skips repeated chunks", () => {
  let log = initialLog({ chunks: [], from: 0, to: 0 });
  log = addChunks(log, [
    { offset: 0, stream: "stdout", data: "hi" },
    { offset: 2, stream: "stderr", data: "err" },
    { offset: 5, stream: "stdout", data: "\n" },
  ]);
  log = addChunks(log, [
    { offset: 5, stream: "stdout", data: "\n" },
    { offset: 6, stream: "stderr", data: "\nmore" },
  ]);
  const text = log.lines.map((l) => `${l.stream}:${l.runs.map((r) => r.text).join("")}`);
  assert.deepEqual(text, ["stdout:hi", "stderr:err"]);
  assert.equal(log.pending.stderr, "more");
  assert.equal(log.end, 11);
});

Deno.test("splitArgs() splits like a shell without expanding anything", () => {
  assert.deepEqual(splitArgs(`python3 -c "print('a b')" 'x y' \\$HOME ""`), [
    "python3",
    "-c",
    "print('a b')",
    "x y",
    "$HOME",
    "",
  ]);
  assert.throws(() => splitArgs(`echo "open`), /Unclosed double quote/);
  assert.deepEqual(parseEnvLines("A=1\n# note\n\nB = two=2"), { A: "1", B: " two=2" });
});
