/**
 * `jobdist queues`: each queue's depth, active jobs and concurrency limit; `set NAME
 * --concurrency N` (or `--unlimited`) changes the limit.
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, intFlag, UsageError } from "./flags.ts";
import { table } from "./format.ts";

const USAGE = "jobdist queues [list] | set NAME --concurrency N | set NAME --unlimited";

/** `jobdist queues`. */
export const queues: Command = {
  name: "queues",
  synopsis: USAGE,
  summary: "Show queue depths and set a queue's concurrency limit.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "concurrency",
      type: "string",
      value: "N",
      help: "set: most jobs of the queue that run at once",
    },
    { name: "unlimited", type: "boolean", help: "set: remove the queue's limit" },
    { name: "json", type: "boolean", help: "print JSON" },
  ],
  async run(args) {
    const client = clientFromArgs(args);
    const [action = "list", name] = args.positionals;
    if (action === "list") {
      const list = await client.call("listQueues", {});
      if (args.bool("json")) console.log(JSON.stringify(list, null, 2));
      else {
        console.log(table(
          ["QUEUE", "QUEUED", "ACTIVE", "LIMIT"],
          list.queues.map((
            q,
          ) => [q.name, String(q.queued), String(q.active), String(q.limit ?? "-")]),
        ));
      }
      return 0;
    }
    if (action !== "set") throw new UsageError(`Unknown action "${action}". Usage: ${USAGE}`);
    if (!name) throw new UsageError(`Expected a queue name. Usage: ${USAGE}`);
    const limit = intFlag(args.str("concurrency"), "concurrency", 1, 1_000_000);
    const unlimited = args.bool("unlimited");
    if ((limit === undefined) === !unlimited) {
      throw new UsageError("Give --concurrency N or --unlimited");
    }
    const q = await client.call("setQueue", {
      params: { name },
      body: { concurrency: limit ?? null },
    });
    console.log(
      `Queue ${q.name}: limit ${q.limit ?? "none"}, ${q.queued} queued, ${q.active} active`,
    );
    return 0;
  },
};
