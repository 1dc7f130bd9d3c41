/**
 * `jobdist agent`, apart from the other commands: `main.ts` loads only this module (and what it
 * imports) to run an agent, so an agent process carries neither the server, the API client nor
 * zod (tests/agent/module_graph_test.ts keeps it so).
 * @module
 */

import { type AgentConfig, runAgent } from "../agent/mod.ts";
import { parseRuntimeFlag } from "../agent/runtimes.ts";
import { readCaFile } from "./ca_file.ts";
import { type Command, intFlag, type ParsedArgs, parsePairs, UsageError } from "./flags.ts";
import { CONFIG_TABLES, durationFlag, startLogging } from "./role_flags.ts";

/** The agent's configuration from its flags; throws a {@linkcode UsageError} on bad values. */
export function agentConfig(args: ParsedArgs, server: string): AgentConfig {
  const name = args.str("name") ?? Deno.hostname();
  const home = Deno.env.get("HOME");
  return {
    server,
    token: args.str("token"),
    joinToken: args.str("join-token"),
    name,
    slots: intFlag(args.str("slots"), "slots", 1, 10_000) ?? navigator.hardwareConcurrency,
    labels: parsePairs(args.list("label"), "--label"),
    runtimes: args.list("runtime").map((r) => {
      try {
        return parseRuntimeFlag(r);
      } catch (e) {
        throw new UsageError(e instanceof Error ? e.message : String(e));
      }
    }),
    stateDir: args.str("state-dir") ??
      (home ? `${home}/.local/state/jobdist/${name.replace(/[^A-Za-z0-9_.-]/g, "-")}` : undefined),
    workRoot: args.str("work-dir"),
    drainTimeoutMs: durationFlag(args, "drain-timeout"),
    outputMemoryBytes: intFlag(args.str("output-memory"), "output-memory", 0, 2 ** 40),
    maxJobs: args.bool("once") ? 1 : intFlag(args.str("max-jobs"), "max-jobs", 1, 1_000_000_000),
    idleExitMs: durationFlag(args, "idle-exit"),
    caCerts: args.str("ca") ? readCaFile(args.str("ca")!) : undefined,
    insecure: args.bool("insecure"),
    runAs: args.str("run-as"),
    allowRuntimes: args.list("allow-runtime"),
    denyShell: args.bool("deny-shell"),
    spawn: args.str("spawn") === "command" ? "command" : "auto",
  };
}

/** `jobdist agent`. */
export const agent: Command = {
  name: "agent",
  synopsis: "jobdist agent --server URL [--token TOKEN] [--slots N] [--label K=V] [--name NAME]",
  summary: "Run an agent: dial the server and run the jobs it hands out as local processes.",
  flags: CONFIG_TABLES.agent,
  config: { tables: CONFIG_TABLES, reads: ["agent"] },
  async run(args, signal) {
    startLogging(args);
    await runAgent(agentConfig(args, args.str("server")!), signal);
    return 0;
  },
};
