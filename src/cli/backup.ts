/**
 * `jobdist backup --out FILE`: asks the running server for a consistent copy of its database
 * (SQLite `VACUUM INTO`) and writes it to FILE atomically (a temporary file, then a rename).
 * Restoring is copying the file into place while the server is stopped (see the README).
 * @module
 */

import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";

/** `jobdist backup`. */
export const backup: Command = {
  name: "backup",
  synopsis: "jobdist backup --out FILE",
  summary: "Write a consistent copy of the running server's database to FILE.",
  flags: [
    ...CLIENT_FLAGS,
    { name: "out", short: "o", type: "string", value: "FILE", help: "file to write" },
  ],
  async run(args) {
    const out = args.str("out");
    if (!out) throw new UsageError("Give the file to write with --out FILE");
    if (args.positionals.length) throw new UsageError("backup takes no arguments");
    const client = clientFromArgs(args);
    const body = await client.backup();
    const tmp = `${out}.partial`;
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      await body.pipeTo(file.writable);
      await Deno.rename(tmp, out);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
    const { size } = await Deno.stat(out);
    console.error(`jobdist backup: wrote ${out} (${size} bytes)`);
    return 0;
  },
};
