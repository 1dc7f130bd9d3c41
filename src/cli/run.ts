/**
 * `jobdist run`: submits a job, streams its stdout and stderr live, and exits with the job's
 * exit code (124 when it timed out, 130 when cancelled, 1 when it failed without one).
 * @module
 */

import type { JobView } from "../protocol/mod.ts";
import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command } from "./flags.ts";
import { SPEC_FLAGS, specFromArgs } from "./spec_flags.ts";

/** The exit code `jobdist run` uses for a finished job. */
export function exitCodeOf(job: JobView): number {
  switch (job.state) {
    case "succeeded":
      return 0;
    case "timed_out":
      return 124;
    case "cancelled":
      return 130;
    default:
      return job.exit_code !== null && job.exit_code !== 0 ? job.exit_code : 1;
  }
}

/** `jobdist run`. */
export const run: Command = {
  name: "run",
  synopsis:
    "jobdist run [flags] (--shell SCRIPT | --runtime NAME --file PATH | -- COMMAND ARGS...)",
  summary: "Submit a job, stream its output live, and exit with its exit code.",
  flags: [...CLIENT_FLAGS, ...SPEC_FLAGS],
  async run(args, signal) {
    const client = clientFromArgs(args);
    const job = await client.submit(await specFromArgs(args));
    const onAbort = () => client.cancel(job.id).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    await Promise.all([
      pipe(await client.logs(job.id, { follow: true, stream: "stdout" }), Deno.stdout),
      pipe(await client.logs(job.id, { follow: true, stream: "stderr" }), Deno.stderr),
    ]);
    signal.removeEventListener("abort", onAbort);
    const done = await client.job(job.id);
    if (done.state !== "succeeded" && done.reason) {
      console.error(`jobdist: job ${done.id} ${done.state.replace("_", " ")}: ${done.reason}`);
    }
    return exitCodeOf(done);
  },
};

async function pipe(
  from: ReadableStream<Uint8Array>,
  to: { write(p: Uint8Array): Promise<number> },
) {
  for await (const chunk of from) {
    for (let off = 0; off < chunk.length;) off += await to.write(chunk.subarray(off));
  }
}
