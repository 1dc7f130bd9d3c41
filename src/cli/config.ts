/**
 * `jobdist config check [--config FILE]`: checks a configuration file the way `server` and
 * `agent` read it, then prints the configuration each would run with (flags aside) as TOML,
 * each value with where it comes from (env, file or default) and tokens redacted.
 * @module
 */

import { type Command, type Flag, type ParsedArgs, parseFlags, UsageError } from "./flags.ts";
import { agent, agentConfig, CONFIG_TABLES, server, serverConfig } from "./roles.ts";

/** `jobdist config`. */
export const config: Command = {
  name: "config",
  synopsis: "jobdist config check [--config FILE]",
  summary:
    "Check a configuration file and print the effective configuration of the server and the " +
    "agent, with the source of each value (exit code 2 on errors).",
  flags: [
    {
      name: "config",
      type: "string",
      env: "JOBDIST_CONFIG",
      value: "FILE",
      help: "TOML file to check (without one: the configuration from env and defaults)",
    },
  ],
  async run(args) {
    const [sub, ...extra] = args.positionals;
    if (sub !== "check" || extra.length) {
      throw new UsageError(`Expected "check", got "${args.positionals.join(" ")}"`);
    }
    const path = args.str("config");
    const argv = path ? ["--config", path] : [];
    // Throws a UsageError listing every mistake in the file (exit code 2).
    const roles = [
      { name: "server", cmd: server, args: parseFlags(server, argv) },
      { name: "agent", cmd: agent, args: parseFlags(agent, argv) },
    ];
    // Values each role would still refuse (short tokens, unreadable token files, ranges).
    const errors: string[] = [];
    for (const role of roles) {
      try {
        if (role.name === "server") await serverConfig(role.args);
        else agentConfig(role.args, role.args.str("server")!);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        errors.push(`[${role.name}] ${e.message}`);
      }
    }
    if (errors.length) {
      console.error(`jobdist config: ${errors.join("\njobdist config: ")}`);
      return 2;
    }
    const lines = [
      path
        ? `# ${path}: valid`
        : "# no configuration file (--config FILE or JOBDIST_CONFIG): env and defaults only",
    ];
    for (const role of roles) {
      lines.push("", `[${role.name}]`);
      const flags = CONFIG_TABLES[role.name as keyof typeof CONFIG_TABLES];
      const rows = flags.filter((f) => f.name !== "config").map((f) => entry(f, role.args));
      const width = Math.min(48, Math.max(...rows.map(([setting]) => setting.length)));
      for (const [setting, source] of rows) {
        lines.push(source ? `${setting.padEnd(width)}  # ${source}` : setting);
      }
    }
    console.log(lines.join("\n"));
    return 0;
  },
};

/** `[key = value, source]`, or `[comment]` for a flag nobody set. */
function entry(f: Flag, args: ParsedArgs): [string, string?] {
  const source = args.source(f.name);
  if (source === "unset") return [`# ${f.name}: not set`];
  const secret = f.value === "TOKEN" || (/password|secret/.test(f.name) && f.value !== "PATH");
  const shown = (v: string) => JSON.stringify(secret ? "<redacted>" : v);
  const value = f.type === "boolean"
    ? String(args.bool(f.name))
    : f.multiple
    ? `[${args.list(f.name).map(shown).join(", ")}]`
    : shown(args.str(f.name)!);
  return [`${f.name} = ${value}`, source];
}
