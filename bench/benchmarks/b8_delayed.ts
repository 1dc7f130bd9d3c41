/**
 * B8, delayed jobs: a server holding 1M delayed jobs (due a day from now) is restarted; the
 * benchmark measures its resident memory, the scheduler's rebuild (`Scheduler.recover()` on the
 * same database file, in this process) against a plain `SELECT` of every scheduled row, and the
 * firing lateness of a few thousand jobs due in the next seconds (from `run_at` to the moment an
 * agent holds the `assign` frame) against bare `setTimeout` timers for the same instants,
 * measured in this process in the same run.
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import {
  type JobSpecInput,
  PROTOCOL_VERSION,
  type ServerMessage,
  VERSION,
} from "../../src/protocol/mod.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore } from "../../src/server/store.ts";
import { spawnChild } from "../child.ts";
import { type BenchServer, startJobdistServer } from "../jobdist_procs.ts";
import { type Benchmark, percentile, sleep } from "../model.ts";
import { memory, wallMs } from "../proc_stats.ts";
import { runAtOnce } from "../sim_agents.ts";
import { type BaselineConfig, instants } from "../timeout_baseline.ts";

const sizes = (quick: boolean) =>
  quick
    ? { stored: 2_000, due: 200, leadMs: 1_500, spanMs: 1_000 }
    : { stored: 1_000_000, due: 3_000, leadMs: 3_000, spanMs: 3_000 };
const BATCH = 1_000;
const BASELINE = new URL("../timeout_baseline.ts", import.meta.url).pathname;
const DAY_MS = 86_400_000;

/** B8. */
export const b8: Benchmark = {
  name: "b8",
  title: "B8 delayed jobs",
  metrics: [
    { key: "b8.rss_mb", label: "B8 server RSS with the delayed jobs stored", unit: "MB" },
    { key: "b8.ready_ms", label: "B8 restart with them: spawn -> listening", unit: "ms" },
    { key: "b8.rebuild_ms", label: "B8 Scheduler.recover() (one window)", unit: "ms" },
    { key: "b8.select_ms", label: "B8 plain SELECT of every scheduled row", unit: "ms" },
    { key: "b8.p50", label: "B8 run_at -> agent has the job, p50", unit: "ms", digits: 2 },
    { key: "b8.p99", label: "B8 run_at -> agent has the job, p99", unit: "ms", digits: 2 },
    { key: "b8.timeout_p50", label: "B8 bare setTimeout lateness, p50", unit: "ms", digits: 2 },
    { key: "b8.timeout_p99", label: "B8 bare setTimeout lateness, p99", unit: "ms", digits: 2 },
  ],
  describe(quick) {
    const s = sizes(quick);
    return `${s.stored} \`{"command":["true"]}\` jobs with \`run_at\` spread over the day after ` +
      `tomorrow, submitted in batches of ${BATCH}; the server is restarted; RSS (VmRSS) 1 s ` +
      "after it listens; rebuild = `Scheduler.recover()` over the same file in the harness " +
      "process vs `SELECT id, run_at FROM jobs WHERE state = 'scheduled'` (second of two tries " +
      `each, warm page cache); lateness: ${s.due} jobs due ${s.leadMs / 1000}-` +
      `${(s.leadMs + s.spanMs) / 1000} s after submission, to a simulated agent with 50 slots in ` +
      "the harness process (time it receives `assign` minus `run_at`), against `setTimeout` " +
      "timers for the same instants, set at the same time in a process of their own " +
      "(bench/timeout_baseline.ts)";
  },
  async run(ctx) {
    const s = sizes(ctx.quick);
    const dir = await Deno.makeTempDir({ prefix: "jobdist-bench-b8-" });
    try {
      {
        await using server = await startJobdistServer({ dir, signal: ctx.signal });
        const start = Date.now() + 2 * DAY_MS;
        for (let i = 0; i < s.stored; i += BATCH) {
          ctx.signal.throwIfAborted();
          const n = Math.min(BATCH, s.stored - i);
          await server.client.submitBatch(Array.from({ length: n }, (_, j) => ({
            command: ["true"],
            run_at: new Date(start + Math.floor((i + j) * DAY_MS / s.stored)).toISOString(),
          })));
        }
      }
      const { rebuildMs, selectMs } = measureRebuild(`${dir}/jobdist.db`, s.stored);

      await using server = await startJobdistServer({
        dir,
        signal: ctx.signal,
        denoFlags: ctx.denoFlags,
      });
      await sleep(1_000, ctx.signal);
      const rssMb = memory(server.child.pid).rss / 1e6;
      // The baseline runs at the same time as the jobs, so both see the same machine noise.
      const due = { start: Date.now() + s.leadMs, n: s.due, span_ms: s.spanMs };
      const baseline = spawnChild("setTimeout baseline", [BASELINE, JSON.stringify(due)], {
        signal: ctx.signal,
      });
      const jobdist = await jobdistLateness(server, due, ctx.signal);
      const line = await baseline.waitForLine("stdout", (l) => l.startsWith("["), 30_000);
      await baseline.stop();
      const timeout: number[] = JSON.parse(line);
      return {
        "b8.rss_mb": rssMb,
        "b8.ready_ms": server.readyMs,
        "b8.rebuild_ms": rebuildMs,
        "b8.select_ms": selectMs,
        "b8.p50": percentile(jobdist, 0.5),
        "b8.p99": percentile(jobdist, 0.99),
        "b8.timeout_p50": percentile(timeout, 0.5),
        "b8.timeout_p99": percentile(timeout, 0.99),
      };
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
};

/** The scheduler's rebuild and a plain SELECT of every scheduled row, on the stopped server's file. */
function measureRebuild(path: string, stored: number): { rebuildMs: number; selectMs: number } {
  let rebuildMs = NaN, selectMs = NaN;
  for (let round = 0; round < 2; round++) {
    const db = new DatabaseSync(path, { readOnly: true });
    let t0 = performance.now();
    const rows = db.prepare("SELECT id, run_at FROM jobs WHERE state = 'scheduled'").all();
    selectMs = performance.now() - t0;
    db.close();
    if (rows.length !== stored) {
      throw new Error(`${rows.length} scheduled rows, ${stored} expected`);
    }

    const store = openStore(path);
    const events = new EventBus();
    const scheduler = new Scheduler({
      store,
      events,
      agents: new AgentRegistry({ store, events }),
    });
    t0 = performance.now();
    scheduler.recover();
    rebuildMs = performance.now() - t0;
    const held = scheduler.timers.size;
    scheduler.stop();
    store.close();
    if (held === 0 || held > stored) throw new Error(`${held} timers after recover()`);
  }
  return { rebuildMs, selectMs };
}

/**
 * Lateness of delayed jobs due at `due`'s instants: a simulated agent in this process (a real WebSocket speaking the
 * agent protocol) notes when each `assign` arrives and finishes the job at once. Sorted.
 */
async function jobdistLateness(
  server: BenchServer,
  due: BaselineConfig,
  signal: AbortSignal,
): Promise<number[]> {
  const { n } = due;
  const assignedAt = new Map<number, number>();
  let allAssigned!: () => void;
  const done = new Promise<void>((resolve) => (allAssigned = resolve));
  const ws = new WebSocket(`${server.url.replace(/^http/, "ws")}/ws/agent`);
  let beat: ReturnType<typeof setInterval> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      ws.onerror = () => reject(new Error("B8 agent socket failed"));
      ws.onopen = () =>
        ws.send(JSON.stringify({
          type: "hello",
          protocol: PROTOCOL_VERSION,
          agent_id: "b8-agent",
          name: "b8-agent",
          labels: {},
          runtimes: [],
          slots: 50,
          version: VERSION,
          inventory: [],
        }));
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data as string) as ServerMessage;
        if (msg.type === "welcome") {
          beat = setInterval(
            () => ws.send(JSON.stringify({ type: "heartbeat", running: [] })),
            msg.heartbeat_ms,
          );
          resolve();
        } else if (msg.type === "assign") {
          assignedAt.set(msg.job_id, wallMs());
          const attempt_id = msg.attempt_id;
          for (const frame of runAtOnce(attempt_id)) ws.send(frame);
          if (assignedAt.size === n) allAssigned();
        } else if (msg.type === "incompatible" || msg.type === "error") {
          reject(new Error(`B8 agent: ${JSON.stringify(msg)}`));
        }
      };
    });
    const times = instants(due);
    const runAt = new Map<number, number>();
    for (let i = 0; i < n; i += BATCH) {
      const specs: JobSpecInput[] = times.slice(i, i + BATCH).map((at) => ({
        command: ["true"],
        run_at: new Date(at).toISOString(),
      }));
      const { jobs } = await server.client.submitBatch(specs);
      for (const job of jobs) runAt.set(job.id, Date.parse(job.run_at!));
    }
    const limit = due.start + due.span_ms + 30_000 - Date.now();
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${assignedAt.size} of ${n} delayed jobs assigned within ${limit} ms`));
      }, limit);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    await Promise.race([done, timedOut]);
    return [...runAt].map(([id, at]) => assignedAt.get(id)! - at).sort((a, b) => a - b);
  } finally {
    clearInterval(beat);
    clearTimeout(timer);
    ws.close();
  }
}
