/**
 * `jobdist cancel`: cancels jobs; a running one is killed with its whole process group.
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";

/** `jobdist cancel`. */
export const cancel: Command = {
  name: "cancel",
  synopsis: "jobdist cancel <id> [<id>...]",
  summary: "Cancel jobs. A running job's process group gets TERM, then KILL after its grace.",
  flags: [...CLIENT_FLAGS],
  async run(args) {
    if (args.positionals.length === 0) throw new UsageError("Give at least one job id");
    const client = clientFromArgs(args);
    let code = 0;
    for (const id of args.positionals) {
      try {
        const job = await client.cancel(id);
        console.log(`${job.id} ${job.state}`);
      } catch (e) {
        console.error(`jobdist: ${e instanceof Error ? e.message : e}`);
        code = 1;
      }
    }
    return code;
  },
};
