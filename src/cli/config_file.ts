/**
 * The configuration file (`--config FILE` or `JOBDIST_CONFIG`): TOML with one table per role
 * whose keys are that role's flag names, valued as on the command line.
 *
 * ```toml
 * [server]
 * listen = "0.0.0.0:7420"
 * token-file = "/etc/jobdist/tokens"
 * retention = "14d"
 * log-format = "json"
 *
 * [agent]
 * server = "wss://jobs.example.com"
 * slots = 8
 * label = ["zone=eu", "gpu=a100"]     # or a table: label = { zone = "eu", gpu = "a100" }
 * ```
 *
 * The whole file is checked whichever role reads it: unknown tables and keys, values of the
 * wrong type and values that cannot be what the flag's placeholder says (a `DURATION`, a
 * whole number `N`, `BYTES` or `PORT`, `K=V`, one of `a|b`) are errors that name the file and
 * the key. Numeric placeholders also take TOML integers.
 * @module
 */

import { parseDuration } from "../protocol/duration.ts";
import type { Flag } from "./flags.ts";

let toml: typeof import("smol-toml") | undefined;

/**
 * Loads the TOML parser, which this module does not import up front: most servers and agents
 * read no file, and it would take a megabyte of each. `runCommand()` calls it when a command is
 * given a configuration file; {@linkcode readConfigFile} needs it loaded.
 */
export async function loadConfigParser(): Promise<void> {
  toml ??= await import("smol-toml");
}

/** A value as the command line would give it: one string, several, or a switch. */
export type ConfigValue = string | string[] | boolean;

/** A configuration file that passed the checks. */
export interface ConfigFile {
  path: string;
  /** Values by table, then by flag name. */
  tables: Record<string, Map<string, ConfigValue>>;
}

/**
 * Reads and checks the file at `path` against `tables` (table name to the flags its keys may
 * name; a `config` flag is never a key). Returns every mistake found, each naming the file.
 */
export function readConfigFile(
  path: string,
  tables: Record<string, Flag[]>,
): { file: ConfigFile; errors: string[] } {
  if (!toml) throw new Error("readConfigFile() before loadConfigParser()");
  const file: ConfigFile = { path, tables: {} };
  let doc: Record<string, unknown>;
  try {
    doc = toml.parse(Deno.readTextFileSync(path));
  } catch (e) {
    const why = e instanceof toml.TomlError
      ? `not valid TOML: ${e.message.replace(/^Invalid TOML document: /, "").split("\n")[0]} ` +
        `(line ${e.line}, column ${e.column})`
      : e instanceof Deno.errors.NotFound
      ? "no such file"
      : `cannot be read: ${e instanceof Error ? e.message : e}`;
    return { file, errors: [`Configuration file ${path}: ${why}`] };
  }
  const errors: string[] = [];
  const names = Object.keys(tables).map((t) => `[${t}]`).join(" or ");
  for (const [key, value] of Object.entries(doc)) {
    const flags = tables[key];
    if (!flags || !isTable(value)) {
      errors.push(
        flags
          ? `${path}: ${key}: expected a table ([${key}]), got ${typeName(value)}`
          : `${path}: ${isTable(value) ? `unknown table [${key}]` : `key ${key} outside a table`}` +
            `: expected ${names}`,
      );
      continue;
    }
    const values = file.tables[key] = new Map<string, ConfigValue>();
    const byName = new Map(flags.filter((f) => f.name !== "config").map((f) => [f.name, f]));
    for (const [name, raw] of Object.entries(value)) {
      const flag = byName.get(name);
      if (!flag) {
        const near = [...byName.keys()].find((k) => editDistance(k, name) <= 2);
        errors.push(
          `${path}: [${key}] unknown key "${name}": ` +
            (near ? `did you mean "${near}"?` : `expected one of ${[...byName.keys()].join(", ")}`),
        );
        continue;
      }
      const checked = checkValue(flag, raw);
      if (typeof checked === "object" && "error" in checked) {
        errors.push(`${path}: [${key}] ${name}: ${checked.error}`);
      } else {
        values.set(name, checked);
      }
    }
  }
  return { file, errors };
}

/** `value` as `flag` takes it, or what was expected instead. */
function checkValue(flag: Flag, value: unknown): ConfigValue | { error: string } {
  if (flag.type === "boolean") {
    return typeof value === "boolean"
      ? value
      : { error: `expected true or false, got ${typeName(value)}` };
  }
  if (!flag.multiple) return checkOne(flag, value);
  if (flag.value === "K=V" && isTable(value)) {
    const pairs: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== "string") return { error: `${k}: expected a string, got ${typeName(v)}` };
      pairs.push(`${k}=${v}`);
    }
    return pairs;
  }
  const items = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const item of items) {
    const one = checkOne(flag, item);
    if (typeof one !== "string") {
      return Array.isArray(value) ? { error: `${one.error} (in the list)` } : one;
    }
    out.push(one);
  }
  return out;
}

/** One string value of `flag`, checked against its placeholder. */
function checkOne(flag: Flag, value: unknown): string | { error: string } {
  const kind = flag.value ?? "";
  const numeric = kind === "N" || kind === "BYTES" || kind === "PORT";
  if (typeof value === "number" && numeric) value = String(value);
  if (typeof value !== "string") {
    const want = numeric
      ? "a whole number"
      : kind === "DURATION"
      ? 'a duration string such as "30s"'
      : "a string";
    return { error: `expected ${want}, got ${typeName(value)}` };
  }
  const expected = kind === "DURATION" && parseDuration(value) === undefined
    ? "a duration such as 30s, 15m or 2h"
    : kind === "N" && !/^[1-9]\d*$/.test(value)
    ? "a whole number of at least 1"
    : kind === "BYTES" && !/^\d+$/.test(value)
    ? "a whole number of bytes"
    : kind === "PORT" && !(/^\d{1,5}$/.test(value) && +value >= 1 && +value <= 65535)
    ? "a port number from 1 to 65535"
    : kind === "K=V" && value.indexOf("=") <= 0
    ? "KEY=VALUE"
    : kind.includes("|") && !kind.split("|").includes(value)
    ? `one of ${kind.split("|").join(", ")}`
    : null;
  return expected ? { error: `expected ${expected}, got ${JSON.stringify(value)}` } : value;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** What a TOML value is, for error messages. */
function typeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (isTable(v)) return "a table";
  if (typeof v === "object" && v !== null) return "a date";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v === "number" ? "the number" : "the boolean"} ${String(v)}`;
}

/** Levenshtein distance of two short strings (for "did you mean"). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}
