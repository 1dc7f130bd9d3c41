/**
 * Flags declared once, each with its `JOBDIST_*` environment variable and default, parsed
 * strictly (`argv.ts`), and the help text generated from the same declarations. Commands
 * that take a configuration file (`--config`, see `config_file.ts`) read it here too, so the
 * precedence is decided in one place: flag > env > file > default.
 * @module
 */

import { type ArgSpec, splitArgv } from "./argv.ts";
import { type ConfigFile, readConfigFile } from "./config_file.ts";

/** One flag. */
export interface Flag {
  name: string;
  short?: string;
  type: "string" | "boolean";
  /** May be given more than once (values collect in an array). */
  multiple?: boolean;
  env?: string;
  default?: string;
  /**
   * Placeholder for the value in help, e.g. `DURATION`. It also says what a configuration file
   * may set (`DURATION`, `N`, `BYTES`, `PORT`, `K=V` are checked there), and `a|b|c` lists the only
   * values the flag takes, from any source.
   */
  value?: string;
  help: string;
}

/** A subcommand. */
export interface Command {
  name: string;
  /** One line: `jobdist logs <id> [-f]`. */
  synopsis: string;
  /** What it does, a sentence or two. */
  summary: string;
  flags: Flag[];
  /** Present when the command reads a configuration file named by its `config` flag. */
  config?: ConfigSchema;
  /** Runs the command; resolves to the process exit code. */
  run(args: ParsedArgs, signal: AbortSignal): Promise<number>;
}

/** The tables of a configuration file and what a command takes from it. */
export interface ConfigSchema {
  /** Every table the file may have, with the flags its keys may name (the whole file is checked). */
  tables: Record<string, Flag[]>;
  /** Tables this command takes values from; where two set a key, the later one wins. */
  reads: string[];
}

/**
 * Where a value came from: `flag`, `env JOBDIST_X`, `file PATH [table]`, `default`, or `unset`.
 */
export type ValueSource = string;

/** Parsed flags and positionals. */
export interface ParsedArgs {
  positionals: string[];
  /** Single-valued flags. */
  str(name: string): string | undefined;
  /** Multi-valued flags. */
  list(name: string): string[];
  bool(name: string): boolean;
  /** Where the value of flag `name` came from. */
  source(name: string): ValueSource;
  /** The configuration file read, if any. */
  configFile: ConfigFile | null;
}

/** A mistake in how the command was called; printed with a hint to `--help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Flags every client command shares. */
export const CLIENT_FLAGS: Flag[] = [
  {
    name: "server",
    type: "string",
    env: "JOBDIST_SERVER",
    default: "http://127.0.0.1:7420",
    value: "URL",
    help: "server to talk to",
  },
  { name: "token", type: "string", env: "JOBDIST_TOKEN", value: "TOKEN", help: "API token" },
  {
    name: "ca",
    type: "string",
    env: "JOBDIST_CA",
    value: "FILE",
    help: "PEM certificate(s) of the CA that signed an https:// server's (default: system roots)",
  },
];

/**
 * Parses `argv` for `cmd`, filling unset flags from `env`, then from the configuration file
 * (when `cmd` takes one), then from defaults. A file that does not parse, names unknown keys or
 * holds values a flag cannot take throws one {@linkcode UsageError} listing every mistake; so
 * does a value outside a choice flag's choices, from any source.
 */
export function parseFlags(
  cmd: Command,
  argv: string[],
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): ParsedArgs {
  const options: Record<string, ArgSpec> = { help: { type: "boolean", short: "h" } };
  for (const f of cmd.flags) {
    options[f.name] = { type: f.type, multiple: f.multiple ?? false };
    if (f.short) options[f.name].short = f.short;
  }
  let parsed;
  try {
    parsed = splitArgv(argv, options);
  } catch (e) {
    throw new UsageError(
      (e instanceof Error ? e.message : String(e)).replace(/\. To specify.*$/s, ""),
    );
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const byName = new Map(cmd.flags.map((f) => [f.name, f]));
  const fromEnv = (f: Flag | undefined) => (f?.env ? env(f.env) : undefined);
  const configFile = cmd.config
    ? loadConfig(cmd.config, values.config, fromEnv(byName.get("config")))
    : null;
  /** The file's value of `name` and its table, from the last table read that sets it. */
  const fromFile = (name: string) => {
    if (!configFile || !cmd.config) return undefined;
    for (const table of [...cmd.config.reads].reverse()) {
      const v = configFile.tables[table]?.get(name);
      if (v !== undefined) return { value: v, table };
    }
    return undefined;
  };
  const args: ParsedArgs = {
    positionals: parsed.positionals,
    configFile,
    str(name) {
      const v = values[name];
      if (typeof v === "string") return v;
      const f = byName.get(name);
      const file = fromFile(name)?.value;
      return fromEnv(f) ?? (typeof file === "string" ? file : undefined) ?? f?.default;
    },
    list(name) {
      const v = values[name];
      if (Array.isArray(v)) return v;
      const e = fromEnv(byName.get(name));
      if (e) return e.split(",").map((s) => s.trim()).filter(Boolean);
      const file = fromFile(name)?.value;
      return Array.isArray(file) ? file : [];
    },
    bool(name) {
      const v = values[name];
      if (typeof v === "boolean") return v;
      const e = fromEnv(byName.get(name));
      if (e !== undefined) return e === "1" || e === "true";
      return fromFile(name)?.value === true;
    },
    source(name) {
      const f = byName.get(name);
      const v = values[name];
      if (v !== undefined) return "flag";
      const e = fromEnv(f);
      // As list() reads it, an empty variable sets no list.
      if (e !== undefined && (e !== "" || !f?.multiple)) return `env ${f!.env}`;
      const file = fromFile(name);
      if (file) return `file ${configFile!.path} [${file.table}]`;
      return f?.default !== undefined ? "default" : "unset";
    },
  };
  for (const f of cmd.flags) checkChoice(f, args);
  return args;
}

/** Reads the configuration file named by `--config` or its env variable, if any. */
function loadConfig(
  schema: ConfigSchema,
  flag: string | boolean | string[] | undefined,
  env: string | undefined,
): ConfigFile | null {
  const path = typeof flag === "string" ? flag : env;
  if (!path) return null;
  const { file, errors } = readConfigFile(path, schema.tables);
  if (errors.length === 1) throw new UsageError(errors[0]);
  if (errors.length) throw new UsageError(`Invalid configuration:\n  ${errors.join("\n  ")}`);
  return file;
}

/** The choices of a flag whose placeholder is `a|b|c`, else `null`. */
export function choicesOf(f: Flag): string[] | null {
  return f.value?.includes("|") ? f.value.split("|") : null;
}

/** Throws when a choice flag's value (from any source) is not one of its choices. */
function checkChoice(f: Flag, args: ParsedArgs): void {
  const choices = choicesOf(f);
  if (!choices) return;
  const value = args.str(f.name);
  if (value === undefined || choices.includes(value)) return;
  const source = args.source(f.name);
  const where = source === "flag"
    ? `--${f.name}`
    : source.startsWith("env ")
    ? source.slice(4)
    : `${f.name} (${source})`;
  throw new UsageError(
    `Invalid ${where} "${value}": expected ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}`,
  );
}

/** Help text of a command. */
export function helpText(cmd: Command): string {
  const lines = [`Usage: ${cmd.synopsis}`, "", cmd.summary, ""];
  if (cmd.flags.length) lines.push("Flags:");
  const rows = cmd.flags.map((f) => {
    const names = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`;
    const extra = [
      f.multiple ? "repeatable" : "",
      f.env ? `env ${f.env}` : "",
      f.default !== undefined ? `default ${f.default}` : "",
    ].filter(Boolean).join(", ");
    return [names, f.help + (extra ? ` (${extra})` : "")];
  });
  const width = Math.max(0, ...rows.map((r) => r[0].length)) + 2;
  for (const [a, b] of rows) lines.push(`  ${a.padEnd(width)}${b}`);
  lines.push(`      --help${" ".repeat(Math.max(2, width - 6))}show this help`);
  return lines.join("\n");
}

/** Parses `k=v` pairs (labels, env). */
export function parsePairs(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf("=");
    if (i <= 0) throw new UsageError(`Invalid ${what} "${item}": expected KEY=VALUE`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** Parses a whole number flag within bounds. */
export function intFlag(text: string | undefined, name: string, min: number, max: number) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || n < min || n > max) {
    throw new UsageError(
      `Invalid --${name} "${text}": expected a whole number from ${min} to ${max}`,
    );
  }
  return n;
}
