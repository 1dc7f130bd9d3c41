/**
 * `jobdist agents`: lists agents; `agents drain NAME` and `agents resume NAME` stop and restart
 * giving an agent new work.
 * @module
 */

import { Client } from "./client.ts";
import { CLIENT_FLAGS, type Command, UsageError } from "./flags.ts";
import { ago, table } from "./format.ts";

/** `jobdist agents`. */
export const agents: Command = {
  name: "agents",
  synopsis: "jobdist agents [--json] | jobdist agents drain|resume <name-or-id>",
  summary: "List agents with their status, slots and runtimes, or drain/resume one.",
  flags: [...CLIENT_FLAGS, { name: "json", type: "boolean", help: "print JSON" }],
  async run(args) {
    const client = new Client({ server: args.str("server")!, token: args.str("token") });
    const [action, target, ...rest] = args.positionals;
    if (action !== undefined) {
      if ((action !== "drain" && action !== "resume") || !target || rest.length) {
        throw new UsageError("Expected: jobdist agents drain|resume <name-or-id>");
      }
      const agent = await client.drain(target, action === "drain");
      console.log(`${agent.name} ${agent.status}`);
      return 0;
    }
    const list = await client.agents();
    if (args.bool("json")) {
      console.log(JSON.stringify(list, null, 2));
      return 0;
    }
    console.log(table(
      ["NAME", "STATUS", "SLOTS", "RUNTIMES", "LABELS", "CONNECTED", "LAST SEEN"],
      list.agents.map((a) => [
        a.name,
        a.status,
        `${a.slots_used}/${a.slots}`,
        a.runtimes.map((r) => r.name).join(","),
        Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-",
        ago(a.connected_since),
        ago(a.last_seen),
      ]),
    ));
    return 0;
  },
};
