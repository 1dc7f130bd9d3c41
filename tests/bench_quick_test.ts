/**
 * Keeps the benchmark harness from rotting: `deno task bench --quick` runs every benchmark at a
 * tiny size once and must complete and print its table. Speed is not asserted.
 * @module
 */

import assert from "node:assert/strict";

Deno.test({
  name: "deno task bench --quick completes and prints the table",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const run = new URL("../bench/run.ts", import.meta.url).pathname;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", run, "--quick"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `bench --quick failed:\n${stdout}\n${stderr}`);
    for (const row of ["B1 ", "B2 ", "B3 ", "B4 ", "B5 ", "B6 ", "B7 ", "B8 "]) {
      assert.match(stdout, new RegExp(`^${row}`, "m"), `no ${row.trim()} row in:\n${stdout}`);
    }
    assert.match(stdout, /median/);
    assert.match(stdout, /target \(medians, same run\)/);
  },
});
