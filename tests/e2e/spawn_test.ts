/**
 * `jobdist agent --spawn`: `auto` starts jobs with glibc's `posix_spawn` (whose output pipes the
 * agent enlarges to 1 MiB), `command` with `Deno.Command` (the kernel's default 64 KiB pipes).
 * The job reports the size of its stdout pipe, which tells the two apart from outside.
 */

import assert from "node:assert/strict";
import { logText, spawnJobdist, startTestServer, waitForJob } from "../helpers.ts";

/** F_GETPIPE_SZ of the job's stdout. */
const PIPE_SIZE = { command: ["python3", "-c", "import fcntl; print(fcntl.fcntl(1, 1032))"] };

for (const [mode, size] of [["auto", 1 << 20], ["command", 1 << 16]] as const) {
  Deno.test(`jobdist agent --spawn ${mode} starts jobs that way`, async () => {
    const server = await startTestServer();
    const stateDir = await Deno.makeTempDir();
    const name = `spawn-${mode}`;
    const child = spawnJobdist([
      "agent",
      "--server",
      server.url,
      "--name",
      name,
      "--state-dir",
      stateDir,
      "--spawn",
      mode,
    ]);
    try {
      await child.waitFor(new RegExp(`connected as ${name}`));
      const job = await server.client.submit(PIPE_SIZE);
      const done = await waitForJob(server.client, job.id);
      assert.equal(done.state, "succeeded", done.reason ?? "");
      assert.equal((await logText(server.client, job.id)).trim(), String(size));
    } finally {
      await child.kill("SIGTERM");
      await server.stop();
      await Deno.remove(stateDir, { recursive: true });
    }
  });
}

Deno.test("jobdist agent --spawn refuses anything but auto or command", async () => {
  const child = spawnJobdist(["agent", "--server", "http://127.0.0.1:9", "--spawn", "fork"]);
  const [line] = await child.waitFor(/.*--spawn "fork".*/);
  assert.match(line, /auto|command/, "the error says what is allowed");
  assert.equal((await child.process.status).code, 2);
});
