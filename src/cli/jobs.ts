/**
 * `jobdist jobs`: lists jobs, newest first, as a table or JSON.
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, intFlag } from "./flags.ts";
import { ago, clip, table } from "./format.ts";
import type { JobView } from "../protocol/mod.ts";

/** What a job runs, in a few words. */
export function describeJob(job: JobView): string {
  const s = job.spec;
  if (s.command) return s.command.join(" ");
  if (s.shell !== undefined) return s.shell;
  return `${s.script?.runtime} script`;
}

/** `jobdist jobs`. */
export const jobs: Command = {
  name: "jobs",
  synopsis: "jobdist jobs [--state STATE] [--queue QUEUE] [--limit N] [--json]",
  summary: "List jobs, newest first. A waiting job shows why it waits.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "state",
      short: "s",
      type: "string",
      value: "STATE[,STATE]",
      help: "only jobs in these states",
    },
    { name: "queue", short: "q", type: "string", value: "QUEUE", help: "only jobs of this queue" },
    { name: "limit", short: "n", type: "string", value: "N", help: "at most N jobs (default 50)" },
    { name: "json", type: "boolean", help: "print JSON" },
  ],
  async run(args) {
    const client = clientFromArgs(args);
    const list = await client.listJobs({
      state: args.str("state"),
      queue: args.str("queue"),
      limit: intFlag(args.str("limit"), "limit", 1, 1000),
    });
    if (args.bool("json")) {
      console.log(JSON.stringify(list, null, 2));
      return 0;
    }
    console.log(table(
      ["ID", "STATE", "QUEUE", "NAME", "WHAT", "CREATED", "EXIT", "REASON"],
      list.jobs.map((j) => [
        String(j.id),
        j.state,
        j.queue,
        clip(j.name ?? "-", 20),
        clip(describeJob(j), 40),
        ago(j.created_at),
        j.exit_code === null ? (j.signal ?? "-") : String(j.exit_code),
        clip(j.reason ?? "", 60),
      ]),
    ));
    return 0;
  },
};
