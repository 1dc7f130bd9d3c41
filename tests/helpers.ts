/**
 * Test helpers: real servers and agents on port 0, in this process or as child processes
 * (`deno run main.ts ...`) for tests that kill them.
 * @module
 */

import { runAgent } from "../src/agent/mod.ts";
import { parseRuntimeFlag } from "../src/agent/runtimes.ts";
import { Client } from "../src/cli/client.ts";
import { main } from "../src/cli/mod.ts";
import type { JobView } from "../src/protocol/mod.ts";
import { type RunningServer, type ServerConfig, startServer } from "../src/server/mod.ts";

/** Path of main.ts. */
export const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A server in this process. */
export interface TestServer extends RunningServer {
  client: Client;
  stop(): Promise<void>;
}

/** Starts a server on 127.0.0.1:0 with an in-memory (or given) database. */
export async function startTestServer(config: Partial<ServerConfig> = {}): Promise<TestServer> {
  const ac = new AbortController();
  const running = await startServer({
    listen: "127.0.0.1:0",
    db: ":memory:",
    tokens: [],
    heartbeatMs: 500,
    lostAfterMs: 3_000,
    ...config,
  }, ac.signal);
  return {
    ...running,
    client: new Client({ server: running.url, token: config.tokens?.[0] }),
    async stop() {
      ac.abort();
      await running.finished;
    },
  };
}

/** An agent in this process. */
export interface TestAgent {
  stop(): Promise<void>;
}

/** Starts an agent in this process. */
export function startTestAgent(
  server: string,
  options: {
    name?: string;
    slots?: number;
    labels?: Record<string, string>;
    token?: string;
    /** Runtimes declared as with `--runtime NAME=TEMPLATE`. */
    runtimes?: string[];
  } = {},
): TestAgent {
  const ac = new AbortController();
  const done = runAgent({
    server,
    name: options.name ?? "test-agent",
    slots: options.slots ?? 4,
    labels: options.labels ?? {},
    runtimes: (options.runtimes ?? []).map(parseRuntimeFlag),
    token: options.token,
    drainTimeoutMs: 2_000,
    log: () => {},
  }, ac.signal);
  return {
    async stop() {
      ac.abort();
      await done;
    },
  };
}

/** A jobdist child process. */
export interface ChildJobdist {
  process: Deno.ChildProcess;
  /** Lines it wrote to stderr so far. */
  stderr: string[];
  /** Resolves with the first stderr line matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Runs `deno run -A main.ts ...args` as a child process. */
export function spawnJobdist(args: string[], env: Record<string, string> = {}): ChildJobdist {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  (async () => {
    const lines = process.stderr.pipeThrough(new TextDecoderStream());
    let buf = "";
    for await (const chunk of lines) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        stderr.push(line);
        for (const w of [...waiters]) {
          const m = line.match(w.re);
          if (m) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    }
  })();
  return {
    process,
    stderr,
    waitFor(re, timeoutMs = 20_000) {
      for (const line of stderr) {
        const m = line.match(re);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re}; stderr:\n${stderr.join("\n")}`)),
          timeoutMs,
        );
        waiters.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
    async kill(signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch {
        // already gone
      }
      return await process.status;
    },
  };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitUntil<T>(
  fn: () => T | Promise<T>,
  timeoutMs = 15_000,
  what = "condition",
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until job `id` reaches a terminal state and returns it. */
export function waitForJob(client: Client, id: number, timeoutMs = 30_000): Promise<JobView> {
  const terminal = new Set(["succeeded", "failed", "timed_out", "cancelled"]);
  return waitUntil(
    async () => {
      const job = await client.job(id);
      return terminal.has(job.state) ? job : null;
    },
    timeoutMs,
    `job ${id} to finish`,
  );
}

/** The whole output of a job as text. */
export async function logText(client: Client, id: number, stream?: "stdout" | "stderr") {
  return await new Response(await client.logs(id, { stream })).text();
}

/** Runs `jobdist ...args` in this process; returns its exit code and what it printed. */
export async function runCli(
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await main(args, new AbortController().signal);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** Runs `openssl ...args` in `dir` (test certificates); throws with its stderr on failure. */
export async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}
