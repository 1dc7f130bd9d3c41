import assert from "node:assert/strict";
import { findProgram } from "../../src/agent/runtimes.ts";

Deno.test("findProgram() finds a program on PATH and notices when it is gone", async () => {
  const first = await Deno.makeTempDir();
  const second = await Deno.makeTempDir();
  try {
    const path = `${first}:${second}`;
    assert.equal(findProgram("jobdist-probe", path), null);
    Deno.writeTextFileSync(`${second}/jobdist-probe`, "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(findProgram("jobdist-probe", path), `${second}/jobdist-probe`);
    // Remembered: a hit is rechecked, and a program that went away is looked up again.
    assert.equal(findProgram("jobdist-probe", path), `${second}/jobdist-probe`);
    Deno.writeTextFileSync(`${first}/jobdist-probe`, "#!/bin/sh\n", { mode: 0o755 });
    Deno.removeSync(`${second}/jobdist-probe`);
    assert.equal(findProgram("jobdist-probe", path), `${first}/jobdist-probe`);
    Deno.chmodSync(`${first}/jobdist-probe`, 0o644);
    assert.equal(findProgram("jobdist-probe", path), null, "not executable: not a program");
    assert.equal(findProgram(`${first}/jobdist-probe`, path), null);
  } finally {
    await Deno.remove(first, { recursive: true });
    await Deno.remove(second, { recursive: true });
  }
});
