/**
 * Runs one command: parses its flags, prints its help, and turns errors into exit codes (0 ok,
 * 1 failure, 2 usage). Shared by the full command line (`mod.ts`) and `main.ts`'s direct path to
 * `jobdist agent`, so it imports no command.
 * @module
 */

import { loadConfigParser } from "./config_file.ts";
import { type Command, helpText, parseFlags, UsageError } from "./flags.ts";

/** Runs `cmd` with the flags and arguments `argv` (after the command's name); resolves to the exit code. */
export async function runCommand(
  cmd: Command,
  argv: string[],
  signal: AbortSignal,
): Promise<number> {
  try {
    if (takesConfigFile(cmd, argv)) await loadConfigParser();
    const args = parseFlags(cmd, argv);
    if (args.bool("help")) {
      console.log(helpText(cmd));
      return 0;
    }
    return await cmd.run(args, signal);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(
        `jobdist ${cmd.name}: ${e.message}\nRun 'jobdist ${cmd.name} --help' for usage.`,
      );
      return 2;
    }
    console.error(`jobdist ${cmd.name}: ${e instanceof Error ? e.message : e}`);
    return 1;
  }
}

/** Whether `cmd` may be handed a configuration file: `--config` in `argv`, or its env set. */
function takesConfigFile(cmd: Command, argv: string[]): boolean {
  const flag = cmd.flags.find((f) => f.name === "config");
  if (!flag) return false;
  const end = argv.indexOf("--");
  return argv.slice(0, end === -1 ? undefined : end).some((a) =>
    a === "--config" || a.startsWith("--config=")
  ) || (flag.env !== undefined && Deno.env.get(flag.env) !== undefined);
}
