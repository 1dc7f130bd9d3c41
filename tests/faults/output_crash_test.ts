/**
 * The server killed with SIGKILL again and again while a job streams output into its file: the
 * agent resends what was not acknowledged, the server keeps what it stored once, and the job's
 * log (and file) ends up whole and in order, with nothing past its indexed end.
 */

import assert from "node:assert/strict";
import { logText } from "../helpers.ts";
import {
  checkDatabase,
  checkJobs,
  Fixture,
  freePort,
  type ServerChild,
  sleep,
  uniqueSeconds,
  waitUntil,
} from "./fault_helpers.ts";

const LINE = "of the output, padded to be a good deal longer than a short line";

Deno.test("faults: the server killed -9 five times while a job streams output: its log is whole and in order", async () => {
  const f = await Fixture.create();
  const port = freePort();
  const opts = { port, heartbeat: "300ms", lostAfter: "10s" };
  let srv: ServerChild = await f.server(opts);
  try {
    await f.agent(srv.url, "streamer", 2);
    const release = `${f.dir}/release`;
    const tick = uniqueSeconds(0.02);
    f.markers.add(tick);
    // Bursts of 2,000 numbered lines (160 KB) until released, then "end"; no output cap.
    const job = await srv.client.submit({
      shell: `i=1; while [ ! -e ${release} ]; do seq -f "line %.0f ${LINE}" $i $((i+1999)); ` +
        `i=$((i+2000)); sleep ${tick}; done; echo end`,
      max_output_bytes: 1024 * 1024 * 1024,
    });
    const stored = async () => (await srv.client.job(job.id)).output_bytes;
    for (let round = 1; round <= 5; round++) {
      const target = (await stored()) + 2_000_000;
      await waitUntil(
        async () => (await stored()) >= target,
        30_000,
        `output before kill ${round}`,
      );
      await sleep(Math.random() * 100); // land the kill anywhere between writes and commits
      await srv.child.kill("SIGKILL");
      srv = await f.server(opts);
    }
    const target = (await stored()) + 2_000_000;
    await waitUntil(async () => (await stored()) >= target, 30_000, "output after the last kill");
    await Deno.writeTextFile(release, "");

    const [done] = await checkJobs(srv.client, [job.id], 60_000);
    assert.equal(done.state, "succeeded");
    assert.equal(done.attempt_count, 1, "the job ran once, across every kill");
    const log = await logText(srv.client, job.id);
    const lines = log.split("\n");
    assert.equal(lines.pop(), "", "the log ends with a newline");
    assert.equal(lines.pop(), "end");
    assert.ok(lines.length > 400, `${lines.length} lines`);
    lines.forEach((l, i) => {
      if (l !== `line ${i + 1} ${LINE}`) assert.fail(`line ${i + 1} is ${JSON.stringify(l)}`);
    });
    assert.equal(done.output_bytes, new TextEncoder().encode(log).length);
    await srv.child.kill("SIGTERM");
    checkDatabase(f.db);
    // The file holds exactly the output: bytes a kill left past the index were cut.
    assert.equal(await Deno.readTextFile(`${f.db}.logs/${job.id}.log`), log);
  } finally {
    await f.cleanup();
  }
});
