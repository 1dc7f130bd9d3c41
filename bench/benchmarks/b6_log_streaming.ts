/**
 * B6, log streaming: one job writing 256 MiB of text lines to stdout (output cap raised), from
 * the POST until the job's result is stored after its output; against the rate at which Deno
 * alone (`bench/pipe_baseline.ts`, its own process) reads the same command's stdout pipe.
 * @module
 */

import { spawnChild } from "../child.ts";
import { startJobdistServer, startRealAgent } from "../jobdist_procs.ts";
import { waitAllFinished } from "../load.ts";
import type { Benchmark } from "../model.ts";

const mib = (quick: boolean) => (quick ? 1 : 256);
/** Past this the rate counts the output stored so far (and `b6.stored_pct` says how much). */
const limitMs = (quick: boolean) => (quick ? 15_000 : 45_000);
const LINE = "jobdist log streaming benchmark line 0123456789 abcdefghijklmnopqrstuvwxyz";

/** The shell command that writes `n` MiB of lines. */
export function writerCommand(n: number): string {
  return `yes '${LINE}' | head -c ${n * 1024 * 1024}`;
}

/** B6. */
export const b6: Benchmark = {
  name: "b6",
  title: "B6 log streaming",
  metrics: [
    { key: "b6.mib_per_s", label: "B6 one job's stdout stored", unit: "MiB/s" },
    { key: "b6.baseline", label: "B6 Deno alone reading the same pipe", unit: "MiB/s" },
    { key: "b6.stored_pct", label: "B6 share of the output stored", unit: "%" },
  ],
  describe: (quick) =>
    `one job \`${writerCommand(mib(quick))}\` with max_output_bytes raised, real agent, ` +
    "POST to stored result (or to the time limit of " + limitMs(quick) / 1000 + " s, the rate " +
    "then counting the bytes stored by then); the baseline reads the same command's stdout " +
    "in a Deno process",
  async run(ctx) {
    const n = mib(ctx.quick);
    const command = writerCommand(n);
    const base = spawnChild("pipe baseline", [
      new URL("../pipe_baseline.ts", import.meta.url).pathname,
      command,
    ], { signal: ctx.signal });
    const status = await base.status;
    await base.stop();
    if (!status.success) throw new Error(`pipe baseline failed:\n${base.tail()}`);
    const baseline = JSON.parse(base.lines("stdout").at(-1)!).mib_per_s as number;

    await using server = await startJobdistServer({
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    await using _agent = await startRealAgent(server, {
      slots: 8,
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    const t0 = performance.now();
    const job = await server.client.submit({
      shell: command,
      max_output_bytes: n * 1024 * 1024 + 1024 * 1024,
    });
    const expected = n * 1024 * 1024;
    let timedOut = false;
    await waitAllFinished(server.client, {
      signal: ctx.signal,
      pollMs: 20,
      timeoutMs: limitMs(ctx.quick),
    }).catch(() => timedOut = true);
    const ms = performance.now() - t0;
    const done = await server.client.job(job.id);
    if (timedOut) {
      ctx.log(`  time limit reached: ${done.output_bytes} of ${expected} bytes stored`);
    } else if (done.state !== "succeeded" || done.output_bytes !== expected) {
      ctx.log(
        `  OUTPUT LOST: the job ended ${done.state} with ${done.output_bytes} of ${expected} ` +
          "bytes stored",
      );
    }
    return {
      "b6.mib_per_s": done.output_bytes / 1048576 / (ms / 1000),
      "b6.baseline": baseline,
      "b6.stored_pct": (100 * done.output_bytes) / expected,
    };
  },
};
