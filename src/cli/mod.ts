/**
 * The command line: `jobdist <command> [flags]`. Each command is a module with its synopsis,
 * flags and `run`; this one lists them, prints the top-level help and dispatches (`run_command.ts`
 * parses flags and turns errors into exit codes). `main.ts` runs `jobdist agent` without loading
 * this module: it imports every command, their API client and zod.
 * @module
 */

import { VERSION } from "../protocol/constants.ts";
import { agents } from "./agents.ts";
import { backup } from "./backup.ts";
import { completionsCommand } from "./completions.ts";
import { config } from "./config.ts";
import { cancel } from "./cancel.ts";
import type { Command } from "./flags.ts";
import { jobs } from "./jobs.ts";
import { logs } from "./logs.ts";
import { report } from "./report.ts";
import { dev, server } from "./roles.ts";
import { agent } from "./agent_role.ts";
import { runCommand } from "./run_command.ts";
import { run } from "./run.ts";
import { queues } from "./queues.ts";
import { schedules } from "./schedules.ts";
import { secrets } from "./secrets.ts";
import { submit } from "./submit.ts";
import { tokens } from "./tokens.ts";
import { users } from "./users.ts";

const completions = completionsCommand(() => COMMANDS);

/** Every command, in the order help lists them. */
export const COMMANDS: Command[] = [
  dev,
  server,
  agent,
  submit,
  run,
  jobs,
  logs,
  cancel,
  agents,
  queues,
  schedules,
  secrets,
  users,
  tokens,
  backup,
  report,
  config,
  completions,
];

/** Top-level help. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    `jobdist ${VERSION}: run jobs in any language on your own hosts`,
    "",
    "Usage: jobdist <command> [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Every flag also reads a JOBDIST_* environment variable (flag > env > default); server,",
    "agent and dev also read a TOML file given by --config (flag > env > file > default).",
    "Run 'jobdist <command> --help' for a command's flags.",
  ].join("\n");
}

/** Runs the command line `argv`; resolves to the exit code. */
export async function main(argv: string[], signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    console.log(`jobdist ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`jobdist: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  return await runCommand(cmd, rest, signal);
}
