/**
 * `jobdist agents`: lists agents and manages them: drain/resume, disable/enable (no new work,
 * kept across restarts), rename, relabel (a server-side override of the agent's own labels),
 * forget a lost agent, and show uptime.
 * @module
 */

import type { AgentUptimeView } from "../protocol/mod.ts";
import type { Client } from "./client.ts";
import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, parsePairs, UsageError } from "./flags.ts";
import { ago, table } from "./format.ts";

const USAGE = [
  "jobdist agents [--json]",
  "jobdist agents drain|resume|disable|enable|forget <name-or-id>",
  "jobdist agents rename <name-or-id> <new-name>",
  "jobdist agents label <name-or-id> K=V... | --reset",
  "jobdist agents uptime <name-or-id> [--json]",
];

/** `jobdist agents`. */
export const agents: Command = {
  name: "agents",
  synopsis: USAGE.join("\n       "),
  summary: "List agents with their status, slots and runtimes, or manage one.",
  flags: [
    ...CLIENT_FLAGS,
    { name: "json", type: "boolean", help: "print JSON" },
    { name: "reset", type: "boolean", help: "with label: go back to the agent's own labels" },
  ],
  async run(args) {
    const client = clientFromArgs(args);
    const [action, target, ...rest] = args.positionals;
    if (action === undefined) return await list(client, args.bool("json"));
    const usage = () => new UsageError(`Expected one of:\n  ${USAGE.join("\n  ")}`);
    if (!target) throw usage();
    switch (action) {
      case "drain":
      case "resume":
      case "disable":
      case "enable":
      case "forget": {
        if (rest.length) throw usage();
        if (action === "forget") {
          await client.forgetAgent(target);
          console.log(`${target} forgotten`);
          return 0;
        }
        const agent = action === "drain" || action === "resume"
          ? await client.drain(target, action === "drain")
          : await client.updateAgent(target, { disabled: action === "disable" });
        console.log(`${agent.name} ${agent.status}${agent.disabled ? " (disabled)" : ""}`);
        return 0;
      }
      case "rename": {
        if (rest.length !== 1) throw usage();
        const agent = await client.updateAgent(target, { name: rest[0] });
        console.log(`${target} is now ${agent.name}`);
        return 0;
      }
      case "label": {
        const reset = args.bool("reset");
        if (reset === (rest.length > 0)) throw usage();
        const labels = reset ? null : parsePairs(rest, "label");
        const agent = await client.updateAgent(target, { labels });
        console.log(`${agent.name} ${formatLabels(agent.labels)}`);
        return 0;
      }
      case "uptime": {
        if (rest.length) throw usage();
        const up = await client.agentUptime(target);
        if (args.bool("json")) console.log(JSON.stringify(up, null, 2));
        else console.log(formatUptime(up, Date.now()));
        return 0;
      }
      default:
        throw usage();
    }
  },
};

async function list(client: Client, json: boolean): Promise<number> {
  const list = await client.agents();
  if (json) {
    console.log(JSON.stringify(list, null, 2));
    return 0;
  }
  console.log(table(
    ["NAME", "STATUS", "SLOTS", "RUNTIMES", "LABELS", "CONNECTED", "LAST SEEN"],
    list.agents.map((a) => [
      a.name,
      a.disabled ? `${a.status},disabled` : a.status,
      `${a.slots_used}/${a.slots}`,
      a.runtimes.map((r) => r.name).join(","),
      formatLabels(a.labels),
      ago(a.connected_since),
      ago(a.last_seen),
    ]),
  ));
  return 0;
}

function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",") || "-";
}

/** Uptime as a table of windows and a 24-hour timeline (one character per 30 minutes). */
export function formatUptime(up: AgentUptimeView, now: number): string {
  const rows = (["24h", "7d", "30d"] as const).map((k) => {
    const w = up.windows[k];
    return [
      k,
      w.percent === null ? "-" : `${w.percent.toFixed(2)}%`,
      hours(w.up_ms),
      hours(w.known_ms),
    ];
  });
  const slots = 48;
  const slotMs = 86_400_000 / slots;
  const from = now - 86_400_000;
  const first = up.first_seen ? Date.parse(up.first_seen) : Infinity;
  let line = "";
  for (let i = 0; i < slots; i++) {
    const a = from + i * slotMs;
    const b = a + slotMs;
    const covered = up.windows["24h"].intervals.reduce((sum, iv) => {
      const s = Math.max(a, Date.parse(iv.start));
      const e = Math.min(b, Date.parse(iv.end));
      return sum + Math.max(0, e - s);
    }, 0);
    line += b <= first ? " " : covered >= slotMs * 0.999 ? "█" : covered > 0 ? "▄" : "_";
  }
  return [
    `${up.name} (${up.agent_id})`,
    table(["WINDOW", "UPTIME", "CONNECTED", "KNOWN"], rows),
    "",
    `last 24h |${line}| now   (█ up, ▄ partly, _ down)`,
  ].join("\n");
}

function hours(ms: number): string {
  return ms >= 86_400_000 ? `${(ms / 86_400_000).toFixed(1)}d` : `${(ms / 3_600_000).toFixed(1)}h`;
}
