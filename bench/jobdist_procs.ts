/**
 * The real jobdist processes a benchmark runs: a server (`main.ts server` on port 0 with a fresh
 * database in a temp directory) and real agents (`main.ts agent`). Each is disposable: leaving
 * its `await using` scope stops the process and removes its files.
 * @module
 */

import { Client } from "../src/cli/client.ts";
import { type Child, spawnChild } from "./child.ts";

/** Path of jobdist's main.ts. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SERVER_ENTRY = new URL("./server_entry.ts", import.meta.url).pathname;

/** Options of {@linkcode startJobdistServer}. */
export interface ServerOptions {
  /** SQLite `synchronous` mode (default FULL, jobdist's default). */
  synchronous?: "FULL" | "NORMAL";
  /** Extra `deno run` flags, e.g. `--cpu-prof`. */
  denoFlags?: string[];
  /**
   * Whether `main.ts server` takes `--synchronous` (see {@linkcode mainTakesSynchronous});
   * when it does not, a NORMAL server runs from `bench/server_entry.ts`.
   */
  cliHasSynchronous?: boolean;
  /** Serve the database in this directory (a restart) and keep it when disposed. */
  dir?: string;
  signal?: AbortSignal;
}

/** A server child process. */
export interface BenchServer extends AsyncDisposable {
  child: Child;
  url: string;
  client: Client;
  /** Directory of its database. */
  dir: string;
  /** Milliseconds from spawn to the "listening" line. */
  readyMs: number;
}

/** Whether `main.ts server` takes `--synchronous` (its help lists the flag). */
export async function mainTakesSynchronous(): Promise<boolean> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "server", "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return text.includes("--synchronous");
}

/** Starts a server on 127.0.0.1:0 and waits until it listens. */
export async function startJobdistServer(options: ServerOptions = {}): Promise<BenchServer> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "jobdist-bench-" });
  const sync = options.synchronous ?? "FULL";
  const common = ["--listen", "127.0.0.1:0", "--db", `${dir}/jobdist.db`];
  let args: string[];
  if (sync === "FULL") {
    args = [MAIN, "server", ...common];
  } else if (options.cliHasSynchronous) {
    args = [MAIN, "server", ...common, "--synchronous", sync];
  } else {
    args = [SERVER_ENTRY, ...common, "--synchronous", sync];
  }
  const t0 = performance.now();
  const child = spawnChild("server", [...(options.denoFlags ?? []), ...args], {
    signal: options.signal,
  });
  const line = await child.waitForLine("stderr", (l) => l.includes("listening on"), 60_000);
  const readyMs = performance.now() - t0;
  const url = line.slice(line.indexOf("http"));
  return {
    child,
    url,
    dir,
    readyMs,
    client: new Client({ server: url }),
    async [Symbol.asyncDispose]() {
      await child.stop("SIGTERM", 10_000);
      if (!options.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** A real agent child process. */
export interface BenchAgent extends AsyncDisposable {
  child: Child;
  name: string;
}

/** Starts `main.ts agent` against `server` and waits until the server lists it as idle. */
export async function startRealAgent(
  server: BenchServer,
  options: { slots: number; name?: string; signal?: AbortSignal; denoFlags?: string[] },
): Promise<BenchAgent> {
  const name = options.name ?? `bench-agent-${crypto.randomUUID().slice(0, 6)}`;
  const stateDir = await Deno.makeTempDir({ prefix: "jobdist-bench-agent-" });
  const child = spawnChild("agent", [
    ...(options.denoFlags ?? []),
    MAIN,
    "agent",
    "--server",
    server.url,
    "--slots",
    String(options.slots),
    "--name",
    name,
    "--state-dir",
    stateDir,
    "--work-dir",
    stateDir,
    "--drain-timeout",
    "2s",
  ], { signal: options.signal });
  const end = performance.now() + 60_000;
  for (;;) {
    const { agents } = await server.client.agents();
    if (agents.some((a) => a.name === name && a.status === "idle")) break;
    if (child.exited) throw new Error(`The agent exited before connecting:\n${child.tail()}`);
    if (performance.now() > end) throw new Error(`The agent did not connect:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    name,
    async [Symbol.asyncDispose]() {
      await child.stop("SIGTERM", 5_000);
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    },
  };
}
