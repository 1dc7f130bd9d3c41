/**
 * End to end: a real server and two real agents on port 0 run a job in every runtime the
 * machine has, and the output and exit codes come back intact.
 */

import assert from "node:assert/strict";
import { which } from "../../src/agent/runtimes.ts";
import { logText, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

const RUNTIME_BINS: Record<string, string> = {
  bash: "bash",
  python: "python3",
  node: "node",
  deno: "deno",
  java: "java",
  go: "go",
};

const SCRIPTS: Record<string, string> = {
  bash: 'echo "hello from bash $JOBDIST_JOB_ID"\necho "to stderr" >&2\nexit 3\n',
  python:
    'import os, sys\nprint("hello from python", os.environ["JOBDIST_JOB_ID"])\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n',
  node:
    'console.log("hello from node", process.env.JOBDIST_JOB_ID);\nconsole.error("to stderr");\nprocess.exit(3);\n',
  deno:
    'console.log("hello from deno", Deno.env.get("JOBDIST_JOB_ID"));\nconsole.error("to stderr");\nDeno.exit(3);\n',
  java:
    'public class Main { public static void main(String[] a) { System.out.println("hello from java " + System.getenv("JOBDIST_JOB_ID")); System.err.println("to stderr"); System.exit(3); } }\n',
  go:
    'package main\nimport ("fmt"; "os")\nfunc main() { fmt.Println("hello from go", os.Getenv("JOBDIST_JOB_ID")); fmt.Fprintln(os.Stderr, "to stderr"); os.Exit(3) }\n',
};

Deno.test("e2e: a job in each runtime returns its stdout, stderr and exit code", async (t) => {
  const server = await startTestServer();
  const agents = [
    startTestAgent(server.url, { name: "a1", slots: 4 }),
    startTestAgent(server.url, { name: "a2", slots: 4 }),
  ];
  try {
    const available: string[] = [];
    for (const [name, bin] of Object.entries(RUNTIME_BINS)) {
      // deno is always there: the agent falls back to the running deno.
      if (name === "deno" || await which(bin)) available.push(name);
      else console.log(`skipping runtime ${name}: ${bin} is not on PATH`);
    }
    const submitted = await Promise.all(
      available.map(async (runtime) => ({
        runtime,
        job: await server.client.submit({ script: { runtime, source: SCRIPTS[runtime] } }),
      })),
    );
    for (const { runtime, job } of submitted) {
      await t.step(runtime, async () => {
        const done = await waitForJob(server.client, job.id, 90_000);
        assert.equal(done.state, "failed", `${runtime}: ${done.reason}`);
        assert.equal(done.exit_code, 3);
        assert.equal(done.reason, "exit code 3");
        assert.equal(
          await logText(server.client, job.id, "stdout"),
          `hello from ${runtime} ${job.id}\n`,
        );
        assert.equal(await logText(server.client, job.id, "stderr"), "to stderr\n");
      });
    }
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
    await server.stop();
  }
});

Deno.test("e2e: argv and shell jobs, large ordered output, unicode", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { name: "a1", slots: 4 });
  try {
    const argv = await server.client.submit({ command: ["printf", "%s|", "a b", "$HOME", "'q'"] });
    const shell = await server.client.submit({ shell: "echo $((6 * 7)) | tr 4 X" });
    // About 6.9 MB over many chunks: every line must arrive once and in order.
    const big = await server.client.submit({ command: ["seq", "1", "1000000"] });
    const text = "héllo wörld ✓ 日本語 🎉 \u{1F600}";
    const uni = await server.client.submit({
      script: { runtime: "python", source: `print(${JSON.stringify(text)} * 3000)` },
    });
    const ok = await waitForJob(server.client, argv.id);
    assert.equal(ok.state, "succeeded");
    assert.equal(await logText(server.client, argv.id), "a b|$HOME|'q'|");
    assert.equal((await waitForJob(server.client, shell.id)).state, "succeeded");
    assert.equal(await logText(server.client, shell.id), "X2\n");
    const bigDone = await waitForJob(server.client, big.id, 60_000);
    assert.equal(bigDone.state, "succeeded");
    const out = await logText(server.client, big.id);
    const expected = Array.from({ length: 1_000_000 }, (_, i) => String(i + 1)).join("\n") + "\n";
    assert.equal(out.length, expected.length);
    assert.ok(out === expected, "large output arrived complete and in order");
    assert.equal(bigDone.output_bytes, expected.length);
    if (await which("python3")) {
      assert.equal((await waitForJob(server.client, uni.id)).state, "succeeded");
      assert.equal(await logText(server.client, uni.id), text.repeat(3000) + "\n");
    }
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("e2e: a job needing what no agent has waits with a visible reason", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { name: "a1", labels: { zone: "eu" } });
  try {
    const cobol = await server.client.submit({ script: { runtime: "cobol", source: "x" } });
    const us = await server.client.submit({ shell: "true", requires: { labels: { zone: "us" } } });
    const eu = await server.client.submit({ shell: "true", requires: { labels: { zone: "eu" } } });
    assert.equal((await waitForJob(server.client, eu.id)).state, "succeeded");
    const c = await server.client.job(cobol.id);
    assert.equal(c.state, "queued");
    assert.equal(c.reason, "no connected agent has runtime cobol");
    const u = await server.client.job(us.id);
    assert.equal(u.reason, "no connected agent has label zone=us");
    const listed = await server.client.listJobs({ state: "queued" });
    assert.deepEqual(listed.jobs.map((j) => j.id).sort(), [cobol.id, us.id].sort());
    assert.ok(listed.jobs.every((j) => j.reason?.startsWith("no connected agent")));
  } finally {
    await agent.stop();
    await server.stop();
  }
});
