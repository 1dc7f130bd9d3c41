/**
 * `jobdist logs`: prints a job's output; with `-f`, follows it until the job ends.
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";

/** `jobdist logs`. */
export const logs: Command = {
  name: "logs",
  synopsis: "jobdist logs <id> [-f] [--stream stdout|stderr]",
  summary: "Print a job's output; with -f, keep printing new output until the job ends.",
  flags: [
    ...CLIENT_FLAGS,
    { name: "follow", short: "f", type: "boolean", help: "follow until the job ends" },
    { name: "stream", type: "string", value: "NAME", help: "only stdout or stderr" },
  ],
  async run(args, signal) {
    const [id] = args.positionals;
    if (!id || args.positionals.length > 1) throw new UsageError("Give exactly one job id");
    const stream = args.str("stream");
    if (stream !== undefined && stream !== "stdout" && stream !== "stderr") {
      throw new UsageError(`Invalid --stream "${stream}": expected stdout or stderr`);
    }
    const client = clientFromArgs(args);
    const body = await client.logs(id, { follow: args.bool("follow"), stream, signal });
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length;) off += await Deno.stdout.write(chunk.subarray(off));
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
    return 0;
  },
};
