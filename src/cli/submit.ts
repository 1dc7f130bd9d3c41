/**
 * `jobdist submit`: sends a job and prints its id (or the whole job with `--json`).
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command } from "./flags.ts";
import { SPEC_FLAGS, specFromArgs } from "./spec_flags.ts";

/** `jobdist submit`. */
export const submit: Command = {
  name: "submit",
  synopsis:
    "jobdist submit [flags] (--shell SCRIPT | --runtime NAME --file PATH | -- COMMAND ARGS...)",
  summary: "Submit a job and print its id.",
  flags: [...CLIENT_FLAGS, ...SPEC_FLAGS, {
    name: "json",
    type: "boolean",
    help: "print the job as JSON",
  }],
  async run(args) {
    const client = clientFromArgs(args);
    const job = await client.submit(await specFromArgs(args));
    console.log(args.bool("json") ? JSON.stringify(job, null, 2) : String(job.id));
    return 0;
  },
};
