/**
 * What a job may see and do on its agent: the user it runs as (`--run-as`), the environment it
 * starts from (never the agent's token or `JOBDIST_*` settings), and which kinds of job the
 * agent accepts at all (`--allow-runtime`, `--deny-shell`).
 * @module
 */

import type { JobSpec } from "../protocol/mod.ts";
import type { RuntimeTable } from "./runtimes.ts";

/** The unprivileged user jobs run as (`--run-as`). */
export interface RunAs {
  user: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Looks up `user` (a name or a numeric id) with `getent passwd`. Throws when it is unknown, is
 * root, or the agent cannot switch users (it is not root itself).
 */
export async function lookupUser(user: string): Promise<RunAs> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("getent", { args: ["passwd", user], stdout: "piped" }).output();
  } catch (e) {
    throw new Error(
      `Cannot look up --run-as ${user}: getent: ${e instanceof Error ? e.message : e}`,
    );
  }
  const fields = new TextDecoder().decode(out.stdout).split("\n")[0].split(":");
  if (!out.success || fields.length < 7) throw new Error(`Unknown --run-as user "${user}"`);
  const runAs = {
    user: fields[0],
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    home: fields[5],
    shell: fields[6],
  };
  if (runAs.uid === 0) {
    throw new Error(`Refusing --run-as ${user}: jobs would run as root; name an unprivileged user`);
  }
  const self = Deno.uid();
  if (self !== 0 && self !== runAs.uid) {
    throw new Error(`--run-as ${user} needs the agent to run as root (it runs as uid ${self})`);
  }
  return runAs;
}

/** Variables a `--run-as` job inherits from the agent; the rest describe the agent's own user. */
const RUN_AS_INHERITED = new Set(["PATH", "LANG", "LANGUAGE", "TZ", "TERM"]);

/**
 * The environment every job of this agent starts from. Without `runAs`: the agent's own,
 * without its `JOBDIST_*` settings. With `runAs`: only locale, `PATH`, `TZ` and `TERM`, plus the
 * user's `HOME`, `USER`, `LOGNAME` and `SHELL`. Either way nothing that holds the agent's token.
 */
export function jobBaseEnv(
  agentEnv: Record<string, string>,
  options: { runAs?: RunAs; token?: string } = {},
): Record<string, string> {
  const { runAs, token } = options;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(agentEnv)) {
    if (k.startsWith("JOBDIST_") || (token && v.includes(token))) continue;
    if (runAs && !RUN_AS_INHERITED.has(k) && !k.startsWith("LC_")) continue;
    env[k] = v;
  }
  if (runAs) {
    Object.assign(env, {
      HOME: runAs.home,
      USER: runAs.user,
      LOGNAME: runAs.user,
      SHELL: runAs.shell,
    });
  }
  return env;
}

/** Programs that are shells, refused as commands under `--deny-shell`. */
const SHELLS = new Set([
  "sh",
  "bash",
  "dash",
  "zsh",
  "ksh",
  "mksh",
  "ash",
  "fish",
  "csh",
  "tcsh",
  "busybox",
]);

/** The programs of the built-in runtimes (declared runtimes: their template's program). */
const RUNTIME_PROGRAMS: Record<string, RegExp> = {
  bash: /^bash$/,
  sh: /^(sh|dash)$/,
  python: /^python[0-9.]*$/,
  node: /^(node|nodejs)$/,
  deno: /^deno$/,
  java: /^java$/,
  go: /^go$/,
};

/** Options of {@linkcode JobPolicy}. */
export interface PolicyOptions {
  /** Script runtimes jobs may use (`--allow-runtime`); absent: all the agent has. */
  allowRuntimes?: string[];
  /** Refuse shell jobs, the `bash`/`sh` runtimes and commands that start a shell. */
  denyShell?: boolean;
}

/**
 * Which jobs an agent accepts. The runtimes it does not allow are not advertised, so the server
 * never sends scripts for them (they wait for another agent, and say so); shell jobs and
 * commands that start a shell or a disallowed runtime's program are refused when they arrive:
 * the attempt fails without starting a process, with the reason. A guard against mistakes and
 * casual misuse, not a sandbox: a command job can start any program on the agent's PATH.
 */
export class JobPolicy {
  /** The runtimes the agent offers. */
  readonly runtimes: RuntimeTable;
  readonly #denied: Array<{ name: string; program: RegExp | string; flag: string }> = [];
  readonly #options: PolicyOptions;

  constructor(detected: RuntimeTable, options: PolicyOptions = {}) {
    this.#options = options;
    this.runtimes = new Map();
    const allow = options.allowRuntimes?.length ? new Set(options.allowRuntimes) : null;
    for (const [name, runtime] of detected) {
      const shell = name === "bash" || name === "sh";
      const flag = shell && options.denyShell
        ? "--deny-shell"
        : allow && !allow.has(name)
        ? `--allow-runtime ${[...allow].join(",")}`
        : null;
      if (flag) {
        const program = RUNTIME_PROGRAMS[name] ?? basename(runtime.argv[0] ?? "");
        this.#denied.push({ name, program, flag });
      } else {
        this.runtimes.set(name, runtime);
      }
    }
  }

  /** Why this agent will not run `spec`, or `null` if it will. */
  refusal(spec: JobSpec): string | null {
    const { denyShell } = this.#options;
    if (spec.shell !== undefined && denyShell) {
      return "shell jobs are not allowed on this agent (--deny-shell)";
    }
    const script = spec.script && this.#denied.find((d) => d.name === spec.script!.runtime);
    if (script) return `runtime ${script.name} is not allowed on this agent (${script.flag})`;
    if (spec.command) {
      const program = basename(spec.command[0]);
      if (denyShell && SHELLS.has(program)) {
        return `command ${program} is a shell, not allowed on this agent (--deny-shell)`;
      }
      const runtime = this.#denied.find((d) =>
        typeof d.program === "string" ? d.program === program : d.program.test(program)
      );
      if (runtime) {
        return `command ${program} runs runtime ${runtime.name}, not allowed on this agent (${runtime.flag})`;
      }
    }
    return null;
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
