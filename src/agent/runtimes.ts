/**
 * The runtimes an agent offers: found on PATH at start (`bash`, `sh`, `python3`, `node`,
 * `deno`, `java`, `go`) plus ones the operator declares with `--runtime NAME=TEMPLATE`, where
 * the template names the script file as `{file}` (e.g. `ruby=ruby {file}`).
 * @module
 */

import type { RuntimeInfo } from "../protocol/mod.ts";

/** How to run an inline script for one runtime. */
export interface Runtime {
  name: string;
  version: string;
  /** argv with `{file}` standing for the script's path and `{dir}` for its directory. */
  argv: string[];
  /** The script's file name inside the attempt's directory. */
  fileName: string;
}

interface Builtin {
  name: string;
  bin: string;
  versionArgs: string[];
  argv: (bin: string) => string[];
  fileName: string;
}

const BUILTINS: Builtin[] = [
  {
    name: "bash",
    bin: "bash",
    versionArgs: ["--version"],
    argv: (b) => [b, "{file}"],
    fileName: "job.sh",
  },
  { name: "sh", bin: "sh", versionArgs: [], argv: (b) => [b, "{file}"], fileName: "job.sh" },
  {
    name: "python",
    bin: "python3",
    versionArgs: ["--version"],
    argv: (b) => [b, "-u", "{file}"],
    fileName: "job.py",
  },
  {
    name: "node",
    bin: "node",
    versionArgs: ["--version"],
    argv: (b) => [b, "{file}"],
    fileName: "job.mjs",
  },
  {
    name: "deno",
    bin: "deno",
    versionArgs: ["--version"],
    argv: (b) => [b, "run", "-A", "--no-check", "{file}"],
    fileName: "job.ts",
  },
  {
    name: "java",
    bin: "java",
    versionArgs: ["-version"],
    argv: (b) => [b, "{file}"],
    fileName: "Main.java",
  },
  {
    name: "go",
    bin: "go",
    versionArgs: ["version"],
    // `go run` turns every non-zero exit into 1; build, then exec to keep the job's exit code.
    argv: (
      b,
    ) => ["/bin/sh", "-c", `"$0" build -o "$1/main" "$2" && exec "$1/main"`, b, "{dir}", "{file}"],
    fileName: "main.go",
  },
];

/** Runtimes by name. */
export type RuntimeTable = Map<string, Runtime>;

/** Finds `bin` on `path` (default: this process's PATH); returns its path or `null`. */
export async function which(
  bin: string,
  path = Deno.env.get("PATH") ?? "",
): Promise<string | null> {
  if (bin.includes("/")) return (await isExecutable(bin)) ? bin : null;
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const path = `${dir}/${bin}`;
    if (await isExecutable(path)) return path;
  }
  return null;
}

/**
 * {@linkcode which} without the thread-pool round trips of async `stat`: used on the path from
 * assignment to spawn, where each hop adds latency.
 */
export function whichSync(bin: string, path: string): string | null {
  if (bin.includes("/")) return isExecutableSync(bin) ? bin : null;
  for (const dir of path.split(":")) {
    if (dir && isExecutableSync(`${dir}/${bin}`)) return `${dir}/${bin}`;
  }
  return null;
}

/** Programs found by {@linkcode findProgram}, by PATH and name. */
const found = new Map<string, string>();
const FOUND_MAX = 1_000;

/**
 * {@linkcode whichSync} that remembers what it found: a hit costs one `stat` of the program
 * (checked still executable) instead of one per PATH entry before it. A program installed later
 * in an earlier PATH directory than the one found is not noticed until the cache is cleared.
 */
export function findProgram(bin: string, path: string): string | null {
  const key = `${path}\0${bin}`;
  const hit = found.get(key);
  if (hit !== undefined && isExecutableSync(hit)) return hit;
  const program = whichSync(bin, path);
  if (program === null) {
    found.delete(key);
    return null;
  }
  if (found.size >= FOUND_MAX) found.clear();
  found.set(key, program);
  return program;
}

function isExecutableSync(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    const st = await Deno.stat(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

async function versionOf(bin: string, args: string[]): Promise<string | null> {
  if (args.length === 0) return "";
  try {
    const out = await new Deno.Command(bin, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    if (!out.success) return null;
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n").find((l) => l.trim())?.trim().slice(0, 200) ?? "";
  } catch {
    return null;
  }
}

/** Parses `NAME=TEMPLATE` from `--runtime`. */
export function parseRuntimeFlag(text: string): Runtime {
  const m = text.match(/^([A-Za-z0-9_.-]{1,64})=(.+)$/);
  if (!m) {
    throw new Error(
      `Invalid --runtime "${text}": expected NAME=TEMPLATE such as "ruby=ruby {file}"`,
    );
  }
  const argv = m[2].trim().split(/\s+/);
  if (!argv.includes("{file}")) argv.push("{file}");
  return { name: m[1], version: "declared", argv, fileName: `job.${m[1]}` };
}

/** Options of {@linkcode detectRuntimes}. */
export interface DetectOptions {
  /** Runtimes declared by the operator; they override detected ones of the same name. */
  declared?: Runtime[];
  /** Path of a `deno` to use when none is on PATH (the running one, when not compiled). */
  denoFallback?: string | null;
}

/** Detects the built-in runtimes on this host, plus the declared ones. */
export async function detectRuntimes(options: DetectOptions = {}): Promise<RuntimeTable> {
  const found = await Promise.all(BUILTINS.map(async (b) => {
    let path = await which(b.bin);
    if (!path && b.name === "deno") path = options.denoFallback ?? null;
    if (!path) return null;
    const version = await versionOf(path, b.versionArgs);
    if (version === null) return null;
    return { name: b.name, version, argv: b.argv(path), fileName: b.fileName };
  }));
  const table: RuntimeTable = new Map();
  for (const r of found) if (r) table.set(r.name, r);
  for (const r of options.declared ?? []) table.set(r.name, r);
  return table;
}

/** What the agent advertises in `hello`. */
export function runtimeInfos(table: RuntimeTable): RuntimeInfo[] {
  return [...table.values()].map((r) => ({ name: r.name, version: r.version }));
}
