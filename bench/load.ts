/**
 * Load on a server: submitting jobs in batches over the HTTP API, waiting until every job has a
 * stored result, and driving the simulated agents' child process.
 * @module
 */

import type { Client } from "../src/cli/client.ts";
import type { JobSpecInput } from "../src/protocol/mod.ts";
import { type Child, spawnChild } from "./child.ts";
import type { SimConfig, SimDone, SimProgress, SimReady, SimReport } from "./sim_agents.ts";

/** Submits `n` copies of `spec` in batches of `batchSize` over `POST /api/v1/jobs:batch`. */
export async function submitInBatches(
  client: Client,
  n: number,
  spec: JobSpecInput,
  options: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const size = options.batchSize ?? 1_000;
  for (let i = 0; i < n; i += size) {
    options.signal?.throwIfAborted();
    const count = Math.min(size, n - i);
    await client.submitBatch(Array.from({ length: count }, () => spec));
  }
}

const UNFINISHED = "scheduled,queued,assigned,running";

/** Polls until no job is scheduled, queued, assigned or running. */
export async function waitAllFinished(
  client: Client,
  options: { signal?: AbortSignal; timeoutMs?: number; pollMs?: number } = {},
): Promise<void> {
  const end = performance.now() + (options.timeoutMs ?? 600_000);
  for (;;) {
    options.signal?.throwIfAborted();
    const { jobs } = await client.listJobs({ state: UNFINISHED, limit: 1 });
    if (jobs.length === 0) return;
    if (performance.now() > end) {
      throw new Error(`Jobs still unfinished after the time limit, e.g. job ${jobs[0].id}`);
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 25));
  }
}

/** Throws if any job ended otherwise than `succeeded`. */
export async function assertAllSucceeded(client: Client): Promise<void> {
  const { jobs } = await client.listJobs({ state: "failed,timed_out,cancelled", limit: 1 });
  if (jobs.length > 0) {
    throw new Error(`Job ${jobs[0].id} ended ${jobs[0].state}: ${jobs[0].reason ?? ""}`);
  }
}

/** The simulated agents' child process. */
export interface SimAgents extends AsyncDisposable {
  child: Child;
  ready: SimReady;
  /** Resolves with the `done` report (when `expect` was set). */
  done(timeoutMs?: number): Promise<SimDone>;
  /** The latest `progress` report, if any. */
  progress(): SimProgress | undefined;
}

/** Starts the simulated agents and waits until all are welcomed. */
export async function startSimAgents(
  config: SimConfig,
  options: { signal?: AbortSignal; connectTimeoutMs?: number } = {},
): Promise<SimAgents> {
  const entry = new URL("./sim_agents.ts", import.meta.url).pathname;
  const child = spawnChild("sim agents", [entry, JSON.stringify(config)], {
    signal: options.signal,
  });
  const parse = (line: string): SimReport | undefined => {
    try {
      return JSON.parse(line);
    } catch {
      return undefined;
    }
  };
  const disposable = {
    async [Symbol.asyncDispose]() {
      await child.stop("SIGTERM", 5_000);
    },
  };
  try {
    const line = await child.waitForLine(
      "stdout",
      (l) => parse(l)?.event === "ready",
      options.connectTimeoutMs ?? 120_000,
    );
    return {
      ...disposable,
      child,
      ready: parse(line) as SimReady,
      async done(timeoutMs = 600_000) {
        const done = await child.waitForLine(
          "stdout",
          (l) => parse(l)?.event === "done",
          timeoutMs,
        );
        return parse(done) as SimDone;
      },
      progress() {
        const lines = child.lines("stdout");
        for (let i = lines.length - 1; i >= 0; i--) {
          const r = parse(lines[i]);
          if (r?.event === "progress") return r;
        }
        return undefined;
      },
    };
  } catch (e) {
    await disposable[Symbol.asyncDispose]();
    throw e;
  }
}
