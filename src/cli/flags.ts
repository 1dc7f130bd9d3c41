/**
 * Flags declared once, each with its `JOBDIST_*` environment variable and default
 * (precedence: flag > env > default), parsed with `node:util`'s `parseArgs`, and the help text
 * generated from the same declarations.
 * @module
 */

import { parseArgs } from "node:util";

/** One flag. */
export interface Flag {
  name: string;
  short?: string;
  type: "string" | "boolean";
  /** May be given more than once (values collect in an array). */
  multiple?: boolean;
  env?: string;
  default?: string;
  /** Placeholder for the value in help, e.g. `DURATION`. */
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
  /** Runs the command; resolves to the process exit code. */
  run(args: ParsedArgs, signal: AbortSignal): Promise<number>;
}

/** Parsed flags and positionals. */
export interface ParsedArgs {
  positionals: string[];
  /** Single-valued flags. */
  str(name: string): string | undefined;
  /** Multi-valued flags. */
  list(name: string): string[];
  bool(name: string): boolean;
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
];

/** Parses `argv` for `cmd`, filling unset flags from `env` and defaults. */
export function parseFlags(
  cmd: Command,
  argv: string[],
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): ParsedArgs {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const f of cmd.flags) {
    options[f.name] = { type: f.type, multiple: f.multiple ?? false };
    if (f.short) options[f.name].short = f.short;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(
      (e instanceof Error ? e.message : String(e)).replace(/\. To specify.*$/s, ""),
    );
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const byName = new Map(cmd.flags.map((f) => [f.name, f]));
  const fromEnv = (f: Flag | undefined) => (f?.env ? env(f.env) : undefined);
  return {
    positionals: parsed.positionals,
    str(name) {
      const v = values[name];
      if (typeof v === "string") return v;
      const f = byName.get(name);
      return fromEnv(f) ?? f?.default;
    },
    list(name) {
      const v = values[name];
      if (Array.isArray(v)) return v;
      const e = fromEnv(byName.get(name));
      return e ? e.split(",").map((s) => s.trim()).filter(Boolean) : [];
    },
    bool(name) {
      const v = values[name];
      if (typeof v === "boolean") return v;
      const e = fromEnv(byName.get(name));
      return e === "1" || e === "true";
    },
  };
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
