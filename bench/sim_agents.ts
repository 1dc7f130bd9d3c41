/**
 * Simulated agents for the control-plane benchmarks (B2, B5), run as their own process so the
 * server's CPU is measured apart from theirs. Each opens a real WebSocket to `/ws/agent`, says
 * `hello`, heartbeats at the interval the server asks for, and answers every `assign` at once
 * with `started` and `finished {exit_code: 0}` without spawning anything.
 *
 * Usage: deno run -A bench/sim_agents.ts '<SimConfig as JSON>'
 *
 * Reports are JSON lines on stdout:
 * `{"event":"ready",...}` once every agent is welcomed, and, when `expect` is set,
 * `{"event":"done",...}` once that many results were acknowledged.
 * @module
 */

import { PROTOCOL_VERSION, type ServerMessage, VERSION } from "../src/protocol/mod.ts";
import { wallMs } from "./proc_stats.ts";

/**
 * The frames a simulated agent sends for an attempt it "runs" at once: like a real agent's for a
 * job that ends within moments of its start, one `finished` (exit 0) that carries the pid.
 */
export function runAtOnce(attempt_id: string): string[] {
  const result = {
    exit_code: 0,
    signal: null,
    duration_ms: 0,
    killed_by: null,
    error: null,
    truncated_bytes: 0,
  };
  return [JSON.stringify({ type: "finished", attempt_id, log_seq: 0, result, pid: 1 })];
}

/** What the simulated agents do. */
export interface SimConfig {
  /** Agent endpoint, `ws://host:port/ws/agent`. */
  url: string;
  agents: number;
  slots: number;
  /** Prefix of agent ids and names. */
  prefix: string;
  /** Results to see acknowledged before reporting `done` (0: never). */
  expect: number;
  /** Connections opened at once while connecting. */
  connectConcurrency?: number;
  labels?: Record<string, string>;
}

/** The `ready` report. */
export interface SimReady {
  event: "ready";
  agents: number;
  connect_ms: number;
}

/** The `done` report. Instants are wall-clock ms. */
export interface SimDone {
  event: "done";
  assigned: number;
  acked: number;
  rejected: number;
  first_assign: number;
  last_ack: number;
}

/** A `progress` report, every second while results come in. */
export interface SimProgress {
  event: "progress";
  acked: number;
  last_ack: number;
}

/** A report line. */
export type SimReport = SimReady | SimDone | SimProgress;

/** Runs the simulated agents until `signal` aborts. */
export async function runSimAgents(config: SimConfig, signal: AbortSignal): Promise<void> {
  const sockets: WebSocket[] = [];
  let assigned = 0, acked = 0, rejected = 0, firstAssign = 0, lastAck = 0;
  let reportedDone = false;
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  const emit = (r: SimReport) => console.log(JSON.stringify(r));

  const connect = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(config.url);
      sockets.push(ws);
      const id = `${config.prefix}-${i}`;
      let welcomed = false;
      ws.onopen = () => {
        ws.send(JSON.stringify({
          type: "hello",
          protocol: PROTOCOL_VERSION,
          agent_id: id,
          name: id,
          labels: config.labels ?? {},
          runtimes: [],
          slots: config.slots,
          version: VERSION,
          inventory: [],
        }));
      };
      const running = new Set<string>();
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data as string) as ServerMessage;
        switch (msg.type) {
          case "welcome": {
            welcomed = true;
            const beat = () =>
              ws.readyState === WebSocket.OPEN &&
              ws.send(JSON.stringify({ type: "heartbeat", running: [...running] }));
            // Spread the heartbeats of many agents over the interval.
            const first = setTimeout(() => {
              beat();
              timers.push(setInterval(beat, msg.heartbeat_ms));
            }, Math.random() * msg.heartbeat_ms);
            timers.push(first);
            resolve();
            return;
          }
          case "assign": {
            if (assigned++ === 0) firstAssign = wallMs();
            const attempt_id = msg.attempt_id;
            running.add(attempt_id);
            for (const frame of runAtOnce(attempt_id)) ws.send(frame);
            return;
          }
          case "ack":
            running.delete(msg.attempt_id);
            acked++;
            lastAck = wallMs();
            if (config.expect > 0 && acked >= config.expect && !reportedDone) {
              reportedDone = true;
              emit({
                event: "done",
                assigned,
                acked,
                rejected,
                first_assign: firstAssign,
                last_ack: lastAck,
              });
            }
            return;
          case "reject":
            running.delete(msg.attempt_id);
            rejected++;
            return;
          case "incompatible":
          case "error":
            console.error(`sim agent ${id}: ${JSON.stringify(msg)}`);
            return;
          default:
            return; // log_ack, cancel, drain: nothing to do for a no-op agent
        }
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        if (!welcomed) reject(new Error(`sim agent ${id} closed before welcome: ${ev.code}`));
        else if (!signal.aborted) console.error(`sim agent ${id} closed: ${ev.code} ${ev.reason}`);
      };
    });

  const t0 = performance.now();
  const concurrency = config.connectConcurrency ?? 100;
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, config.agents) }, async () => {
    while (next < config.agents && !signal.aborted) await connect(next++);
  }));
  emit({ event: "ready", agents: config.agents, connect_ms: performance.now() - t0 });
  let reported = 0;
  const progress = setInterval(() => {
    if (acked === reported || reportedDone) return;
    reported = acked;
    emit({ event: "progress", acked, last_ack: lastAck });
  }, 1_000);
  timers.push(progress);
  await new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  for (const t of timers) clearTimeout(t);
  for (const ws of sockets) ws.close(1000, "benchmark over");
}

if (import.meta.main) {
  const controller = new AbortController();
  Deno.addSignalListener("SIGTERM", () => controller.abort());
  Deno.addSignalListener("SIGINT", () => controller.abort());
  try {
    await runSimAgents(JSON.parse(Deno.args[0]) as SimConfig, controller.signal);
  } catch (e) {
    console.error(`sim agents failed: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
