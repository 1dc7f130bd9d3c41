/**
 * The agent's side of the protocol: takes assignments into its slots, runs each with a
 * {@linkcode JobRunner}, streams numbered output, and keeps every piece of output and every
 * result until the server acknowledges it, so a dropped connection loses nothing: on reconnect
 * the inventory goes out in `hello` and the server answers keep, kill or ack for each attempt.
 * @module
 */

import type {
  AgentMessage,
  Assignment,
  AttemptResult,
  InventoryItem,
  ServerMessage,
} from "../protocol/mod.ts";
// Frame handling from the zod-free module (see there).
import {
  assertNever,
  encodeLogFrame,
  type LogFrame,
  parseServerMessage,
  PROTOCOL_VERSION,
} from "../protocol/agent_frames.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { VERSION } from "../protocol/constants.ts";
import { FatalError } from "./connection.ts";
import { DiskProbe, hostFacts, tempDir } from "./host_facts.ts";
import { jobBaseEnv, type JobPolicy, type RunAs } from "./isolation.ts";
import { JobRunner, type StopReason } from "./job_runner.ts";
import { MemoryBudget, RetainedOutput } from "./retained.ts";
import { type PosixSpawner, posixSpawner } from "./posix_spawn.ts";
import { findSetsid, killMarked } from "./process.ts";
import { runtimeInfos, type RuntimeTable } from "./runtimes.ts";
import { WorkDirs } from "./work_dirs.ts";

/** What a worker needs. */
export interface WorkerOptions {
  id: string;
  name: string;
  token?: string;
  slots: number;
  labels: Record<string, string>;
  runtimes: RuntimeTable;
  /** Parent of per-attempt directories (default: system temp dir). */
  workRoot?: string;
  /** Log a line about what the agent does. */
  log?: (line: string) => void;
  /** Take at most this many jobs, then drain (ephemeral agents; default: no limit). */
  maxJobs?: number;
  /** Memory for unacknowledged output before it spills to disk (default 64 MiB). */
  outputMemoryBytes?: number;
  /** Run jobs as this user (`--run-as`). */
  runAs?: RunAs;
  /** Which jobs the agent accepts (`--allow-runtime`, `--deny-shell`). */
  policy?: JobPolicy;
  /** How long `started` is held back (default {@linkcode START_REPORT_DELAY_MS}). */
  startReportDelayMs?: number;
  /**
   * How jobs start: `auto` (the default) uses glibc's `posix_spawn` where it can (one exec per
   * job), `command` always `Deno.Command` through `setsid(1)`.
   */
  spawn?: "auto" | "command";
}

interface Held {
  runner: JobRunner;
  nextSeq: number;
  /** Output frames not yet acknowledged as durable (in memory, spilling to disk). */
  retained: RetainedOutput;
  result: AttemptResult | null;
  /** The server said this attempt is not ours any more: kill it, report nothing. */
  stale: boolean;
  /** The pid of a start not reported yet, and the timer that will report it. */
  unreported: { pid: number; timer: ReturnType<typeof setTimeout> } | null;
}

/** Memory all attempts' unacknowledged output may take before it spills to disk. */
const RETAINED_MEMORY_BYTES = 64 * 1024 * 1024;

/** Most attempt directories made ahead of need. */
const MAX_READY_DIRS = 16;

/**
 * How long `started` is held back: a job that ends (or prints) sooner reports its start with
 * that frame, which spares a frame and its answer each way for the many jobs that take a few
 * milliseconds.
 */
export const START_REPORT_DELAY_MS = 10;

/** Longest a job's output waits for memory before it spills to disk (see `#room`). */
const ROOM_WAIT_MS = 250;

/** Bytes queued on the socket above which job output waits. */
const SEND_HIGH_WATER = 4 * 1024 * 1024;

/** The agent's job slots and their protocol state. */
export class Worker {
  readonly #o: WorkerOptions;
  readonly #held = new Map<string, Held>();
  readonly #baseEnv: Record<string, string>;
  readonly #budget: MemoryBudget;
  readonly #setsid = findSetsid();
  readonly #native: PosixSpawner | null;
  readonly #dirs: WorkDirs;
  readonly #disk: DiskProbe;
  #socket: WebSocket | null = null;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #draining = false;
  /** Draining because the agent itself is stopping (the server cannot lift it). */
  #selfDraining = false;
  #idleWaiters: Array<() => void> = [];
  /** Jobs run to completion since start. */
  completed = 0;
  /** Jobs accepted since start (counted against `maxJobs`). */
  accepted = 0;
  /** Wall-clock ms when the worker last became idle (or started). */
  idleSince = Date.now();

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#budget = new MemoryBudget(options.outputMemoryBytes ?? RETAINED_MEMORY_BYTES);
    this.#dirs = new WorkDirs(options.workRoot, Math.min(options.slots, MAX_READY_DIRS));
    this.#disk = new DiskProbe(options.workRoot ?? tempDir());
    this.#native = options.spawn === "command" ? null : posixSpawner();
    this.#baseEnv = jobBaseEnv(Deno.env.toObject(), {
      runAs: options.runAs,
      token: options.token,
    });
  }

  /** Number of attempts held (running or awaiting acknowledgement). */
  get busy(): number {
    return this.#held.size;
  }

  /** The hello frame, with the inventory of everything held. */
  hello(): AgentMessage {
    const inventory: InventoryItem[] = [...this.#held.entries()]
      .filter(([, h]) => !h.stale)
      .map(([id, h]) => ({
        attempt_id: id,
        job_id: h.runner.assignment.job_id,
        pid: h.runner.pid,
        log_seq: h.nextSeq,
        result: h.result,
      }));
    return {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      agent_id: this.#o.id,
      name: this.#o.name,
      token: this.#o.token,
      labels: this.#o.labels,
      runtimes: runtimeInfos(this.#o.runtimes),
      slots: this.#o.slots,
      version: VERSION,
      hostname: Deno.hostname(),
      inventory,
    };
  }

  /** Whether the server welcomed the current (or last) connection. */
  welcomed = false;

  /** The socket opened: say hello. Frames flow once the server welcomes us. */
  opened(socket: WebSocket): void {
    this.welcomed = false;
    socket.send(JSON.stringify(this.hello()));
  }

  /** The socket closed: keep running jobs, buffer their output until the next session. */
  closed(): void {
    this.#socket = null;
    clearInterval(this.#heartbeat);
  }

  /** Handles a frame from the server. */
  receive(text: string, socket: WebSocket): void {
    let msg: ServerMessage;
    try {
      msg = parseServerMessage(text);
    } catch (e) {
      this.#o.log?.(
        `ignoring a bad frame from the server: ${e instanceof ProtocolError ? e.message : e}`,
      );
      return;
    }
    switch (msg.type) {
      case "welcome":
        return this.#welcome(msg, socket);
      case "incompatible":
        throw new FatalError(`Server refused this agent: ${msg.reason}`);
      case "assign":
        return this.#assign(msg);
      case "cancel":
        this.#held.get(msg.attempt_id)?.runner.stop(msg.reason);
        return;
      case "reject":
        return this.#markStale(msg.attempt_id);
      case "log_ack": {
        this.#held.get(msg.attempt_id)?.retained.ack(msg.log_seq);
        return;
      }
      case "started_ack":
        return;
      case "ack":
        this.#forget(msg.attempt_id);
        return;
      case "drain":
        this.#draining = msg.enabled || this.#selfDraining;
        this.#o.log?.(msg.enabled ? "draining: taking no new work" : "drain lifted");
        return;
      case "error":
        this.#o.log?.(`server says: ${msg.code}: ${msg.message}`);
        return;
      default:
        assertNever(msg);
    }
  }

  #welcome(msg: Extract<ServerMessage, { type: "welcome" }>, socket: WebSocket): void {
    this.#socket = socket;
    this.welcomed = true;
    for (const r of msg.reconcile) {
      const h = this.#held.get(r.attempt_id);
      if (!h) continue;
      if (r.action === "ack") {
        this.#forget(r.attempt_id);
      } else if (r.action === "kill") {
        this.#markStale(r.attempt_id);
      } else {
        // A start the last connection never carried goes first (an ended job's `finished` says it).
        if (!h.result) this.#reportStart(r.attempt_id, h);
        for (const f of h.retained.from(r.log_seq)) this.#sendBytes(encodeLogFrame(f));
        if (h.result) this.#sendFinished(r.attempt_id, h);
      }
    }
    this.#notifyIdle();
    if (this.#selfDraining) this.#send({ type: "draining", enabled: true });
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), msg.heartbeat_ms);
    this.#o.log?.(`connected as ${this.#o.name} (${this.#o.id})`);
  }

  #assign(a: Assignment): void {
    const running = [...this.#held.values()].filter((h) => !h.result).length;
    if (this.#draining || running >= this.#o.slots || this.#held.has(a.attempt_id)) {
      const reason = this.#draining ? "agent is draining" : "no free slot";
      this.#send({ type: "refuse", attempt_id: a.attempt_id, reason });
      return;
    }
    const spool = `${this.#o.workRoot ?? tempDir()}/jobdist-spool-${this.#o.id}-${a.attempt_id}`;
    const held: Held = {
      runner: null!,
      nextSeq: 0,
      retained: new RetainedOutput(this.#budget, spool),
      result: null,
      stale: false,
      unreported: null,
    };
    held.runner = new JobRunner(a, {
      runtimes: this.#o.runtimes,
      baseEnv: this.#baseEnv,
      marker: `${this.#o.id}/${Deno.pid}/${a.attempt_id}`,
      dirs: this.#dirs,
      setsid: this.#setsid,
      native: this.#native,
      runAs: this.#o.runAs,
      policy: this.#o.policy,
    }, {
      onStart: (pid) => {
        const delay = this.#o.startReportDelayMs ?? START_REPORT_DELAY_MS;
        const timer = setTimeout(() => this.#reportStart(a.attempt_id, held), delay);
        held.unreported = { pid, timer };
      },
      onOutput: (stream, data) => this.#output(a.attempt_id, held, stream, data),
    });
    this.#held.set(a.attempt_id, held);
    this.accepted++;
    if (this.#o.maxJobs !== undefined && this.accepted >= this.#o.maxJobs) {
      // The last job of an ephemeral agent: take no more, say so, exit once it is acknowledged.
      this.#draining = this.#selfDraining = true;
      this.#send({ type: "draining", enabled: true });
      this.#o.log?.(`took ${this.accepted} job(s) (--max-jobs): taking no more`);
    }
    held.runner.run().then((result) => {
      this.completed++;
      if (held.stale) return this.#forget(a.attempt_id);
      held.result = result;
      this.#sendFinished(a.attempt_id, held);
    });
  }

  #output(
    id: string,
    h: Held,
    stream: "stdout" | "stderr",
    data: Uint8Array,
  ): void | Promise<void> {
    if (h.stale) return;
    if (this.#socket && !h.retained.spilled && !this.#budget.fits(data.byteLength)) {
      return this.#room(h, data.byteLength).then(() => this.#frame(id, h, stream, data));
    }
    return this.#frame(id, h, stream, data);
  }

  /**
   * Waits, while connected, up to `ROOM_WAIT_MS` for acknowledgements to free memory for `bytes`
   * of output. A server that stores output more slowly than a job prints it then slows the job
   * down, as a full pipe would, instead of the agent writing everything after the first overflow
   * to its spool file and the server too; a server that does not answer (a cut the socket has
   * not noticed yet) has the output spill to disk as before.
   */
  async #room(h: Held, bytes: number): Promise<void> {
    const until = performance.now() + ROOM_WAIT_MS;
    while (
      this.#socket?.readyState === WebSocket.OPEN && !h.stale && !this.#budget.fits(bytes) &&
      performance.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  #frame(
    id: string,
    h: Held,
    stream: "stdout" | "stderr",
    data: Uint8Array,
  ): void | Promise<void> {
    if (h.stale) return;
    this.#reportStart(id, h);
    const frame: LogFrame = { type: "log", attempt_id: id, seq: h.nextSeq++, stream, data };
    h.retained.add(frame);
    this.#sendBytes(encodeLogFrame(frame));
    const socket = this.#socket;
    // While disconnected, output stays retained: in memory up to a budget, then on disk.
    if (socket && socket.bufferedAmount > SEND_HIGH_WATER) return this.#drained(socket);
  }

  /**
   * Resolves when the socket's send buffer has drained to half the high water. (A WebSocket
   * tells of no drain, so it is looked at each millisecond: the half left keeps the server busy
   * meanwhile. Waiting for a quarter in 5 ms steps left a job writing 256 MiB stalled a quarter
   * of its time.)
   */
  async #drained(socket: WebSocket): Promise<void> {
    while (socket.readyState === WebSocket.OPEN && socket.bufferedAmount > SEND_HIGH_WATER / 2) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /**
   * Sends the held-back `started` of an attempt, if any. While disconnected the pid is kept for
   * `finished` (resent on reconnect) to carry.
   */
  #reportStart(id: string, h: Held): void {
    if (!h.unreported) return;
    clearTimeout(h.unreported.timer);
    if (this.#send({ type: "started", attempt_id: id, pid: h.unreported.pid })) h.unreported = null;
  }

  #sendFinished(id: string, h: Held): void {
    const pid = h.unreported?.pid;
    if (h.unreported) clearTimeout(h.unreported.timer);
    const result = h.result!;
    if (this.#send({ type: "finished", attempt_id: id, log_seq: h.nextSeq, result, pid })) {
      h.unreported = null;
    }
  }

  /** Drops an attempt the agent is done with, with its retained output. */
  #forget(id: string): void {
    const h = this.#held.get(id);
    if (h?.unreported) clearTimeout(h.unreported.timer);
    h?.retained.discard();
    this.#held.delete(id);
    this.#notifyIdle();
  }

  #markStale(id: string): void {
    const h = this.#held.get(id);
    if (!h) return;
    h.stale = true;
    h.retained.discard();
    if (h.result) {
      this.#forget(id);
    } else {
      h.runner.stop("stale");
    }
  }

  #sendHeartbeat(): void {
    const running = [...this.#held.entries()].filter(([, h]) => !h.result && !h.stale).map((
      [id],
    ) => id);
    this.#send({ type: "heartbeat", running, facts: hostFacts(this.#disk) });
  }

  /** Sends `msg` if connected; returns whether it went out. */
  #send(msg: Exclude<AgentMessage, LogFrame>): boolean {
    const s = this.#socket;
    if (!s || s.readyState !== WebSocket.OPEN) return false;
    s.send(JSON.stringify(msg));
    return true;
  }

  #sendBytes(frame: Uint8Array<ArrayBuffer>): void {
    const s = this.#socket;
    if (s && s.readyState === WebSocket.OPEN) s.send(frame);
  }

  /** Stops taking work; lets running jobs finish for up to `timeoutMs`, then stops them. */
  async drain(timeoutMs: number): Promise<void> {
    this.#draining = true;
    this.#selfDraining = true;
    this.#send({ type: "draining", enabled: true });
    const idle = this.#whenIdle();
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs));
    if (await Promise.race([idle, timer]) === "timeout") {
      for (const h of this.#held.values()) h.runner.stop("drain" satisfies StopReason);
      await Promise.race([idle, new Promise((r) => setTimeout(r, 5_000))]);
    }
  }

  /** Resolves when nothing is held (every result acknowledged). */
  whenIdle(): Promise<void> {
    return this.#whenIdle();
  }

  /** Whether the job limit was reached. */
  get limitReached(): boolean {
    return this.#o.maxJobs !== undefined && this.accepted >= this.#o.maxJobs;
  }

  #whenIdle(): Promise<void> {
    if (this.#held.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  #notifyIdle(): void {
    if (this.#held.size > 0) return;
    this.idleSince = Date.now();
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Kills leftovers of attempts this agent no longer runs (also from an earlier run). */
  /**
   * Markers are `AGENT_ID/AGENT_PID/ATTEMPT_ID`: a process is an orphan when it is this agent's
   * and its attempt is not held, or when the agent process that started it is gone (any agent
   * on the host cleans up after one that died and never came back).
   */
  reapOrphans(): number {
    return killMarked((m) => {
      const [agentId, pid, attemptId] = m.split("/");
      if (agentId === this.#o.id) return Number(pid) !== Deno.pid || !this.#held.has(attemptId);
      return !processAlive(Number(pid));
    });
  }

  /** Stops the heartbeat and every running job (agent shutting down). */
  stopAll(reason: StopReason): void {
    clearInterval(this.#heartbeat);
    this.#dirs.close();
    for (const h of this.#held.values()) h.runner.stop(reason);
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return true; // not ours to judge
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
