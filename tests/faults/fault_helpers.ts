/**
 * Helpers of the fault-injection suite: real server and agent child processes in a scratch
 * directory, a process-table scan for anything a job left behind, the end-of-scenario
 * invariants (every job terminal, exactly one final result, no stale result accepted), a TCP
 * proxy that can cut an agent's connection, and simulated agents that speak the real protocol.
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Client } from "../../src/cli/client.ts";
import {
  type AgentMessage,
  type InventoryItem,
  type JobView,
  parseServerMessage,
  PROTOCOL_VERSION,
  type Reconcile,
  VERSION,
} from "../../src/protocol/mod.ts";
import { type ChildJobdist, spawnJobdist, waitUntil } from "../helpers.ts";

export { waitUntil };

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port that was free a moment ago (bound on port 0, then closed). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * `seconds` plus less than a millisecond of random digits, e.g. `1000.0004829131` for 1000: a
 * `sleep` argument that makes a command line unique to this run, so a scan of the process table
 * finds this scenario's processes and nobody else's.
 */
export function uniqueSeconds(seconds: number): string {
  return `${seconds.toFixed(3)}${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}1`;
}

// --- child processes -------------------------------------------------------------------------

/** A `jobdist server` child process. */
export interface ServerChild {
  child: ChildJobdist;
  pid: number;
  url: string;
  port: number;
  client: Client;
}

/** A `jobdist agent` child process. */
export interface AgentChild {
  child: ChildJobdist;
  pid: number;
  id: string;
  name: string;
  stateDir: string;
}

/** Options of {@linkcode Fixture.server}. */
export interface ServerOptions {
  /** Fixed port (to restart on the same address); default any free port. */
  port?: number;
  heartbeat?: string;
  lostAfter?: string;
  killGrace?: string;
}

/**
 * One scenario's world: a scratch directory, the child processes it started, and the agent ids
 * and command-line markers that identify its jobs' processes. `cleanup()` kills all of it.
 */
export class Fixture {
  readonly dir: string;
  readonly db: string;
  readonly children: ChildJobdist[] = [];
  readonly agentIds = new Set<string>();
  /** Strings unique to this scenario's job command lines (e.g. sleep durations). */
  readonly markers = new Set<string>();

  private constructor(dir: string) {
    this.dir = dir;
    this.db = `${dir}/jobdist.db`;
  }

  /** A fresh fixture with its own temp dir. */
  static async create(): Promise<Fixture> {
    return new Fixture(await Deno.makeTempDir({ prefix: "jobdist-faults-" }));
  }

  /** Starts `jobdist server` on the fixture's database and waits until it listens. */
  async server(options: ServerOptions = {}): Promise<ServerChild> {
    const child = spawnJobdist([
      "server",
      "--listen",
      `127.0.0.1:${options.port ?? 0}`,
      "--db",
      this.db,
      "--heartbeat",
      options.heartbeat ?? "300ms",
      "--lost-after",
      options.lostAfter ?? "2s",
      "--kill-grace",
      options.killGrace ?? "1s",
    ]);
    this.children.push(child);
    const m = await child.waitFor(/listening on (http:\/\/\S+)/, 30_000);
    const url = m[1];
    return {
      child,
      pid: child.process.pid,
      url,
      port: Number(new URL(url).port),
      client: new Client({ server: url }),
    };
  }

  /**
   * Starts `jobdist agent` (its id is kept in `<dir>/agent-<name>`, so a restart with the same
   * name is the same agent) and waits until the server welcomes it.
   */
  async agent(server: string, name: string, slots = 4, extra: string[] = []): Promise<AgentChild> {
    const stateDir = `${this.dir}/agent-${name}`;
    const child = spawnJobdist([
      "agent",
      "--server",
      server,
      "--name",
      name,
      "--slots",
      String(slots),
      "--state-dir",
      stateDir,
      "--work-dir",
      this.dir,
      "--drain-timeout",
      "1s",
      ...extra,
    ]);
    this.children.push(child);
    const m = await child.waitFor(new RegExp(`connected as ${name} \\((\\S+)\\)`), 30_000);
    this.agentIds.add(m[1]);
    return { child, pid: child.process.pid, id: m[1], name, stateDir };
  }

  /** Processes of this scenario's jobs still alive (by agent id marker or command line). */
  leftovers(): ProcInfo[] {
    return processes().filter((p) => this.#ours(p));
  }

  #ours(p: ProcInfo): boolean {
    if (p.trace !== null && [...this.agentIds].some((id) => p.trace!.startsWith(`${id}/`))) {
      return true;
    }
    return [...this.markers].some((m) => p.cmdline.includes(m));
  }

  /** Waits (bounded) until no process of this scenario's jobs is left, and returns what is. */
  async settledLeftovers(timeoutMs = 5_000): Promise<ProcInfo[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const left = this.leftovers();
      if (left.length === 0 || Date.now() > end) return left;
      await sleep(100);
    }
  }

  /** Kills every child process and job process of the scenario and removes its directory. */
  async cleanup(): Promise<void> {
    await Promise.all(this.children.map((c) => c.kill("SIGKILL")));
    for (const p of this.leftovers()) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

// --- the process table -----------------------------------------------------------------------

/** One live process. */
export interface ProcInfo {
  pid: number;
  cmdline: string;
  /** Value of `JOBDIST_TRACE` in its environment, if any. */
  trace: string | null;
}

/** Every live (not zombie) process whose details this user may read. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    if (pid === Deno.pid) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
      if (/\) [ZX] /.test(stat)) continue;
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
      const environ = Deno.readTextFileSync(`/proc/${pid}/environ`).split("\0");
      const trace = environ.find((v) => v.startsWith("JOBDIST_TRACE="));
      out.push({ pid, cmdline, trace: trace ? trace.slice("JOBDIST_TRACE=".length) : null });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return out;
}

/** Whether `pid` is alive (and not a zombie). */
export function alive(pid: number): boolean {
  try {
    return !/\) [ZX] /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** Resident set size of `pid` in bytes (`VmRSS` of `/proc/PID/status`), 0 if gone. */
export function rssBytes(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

// --- invariants ------------------------------------------------------------------------------

const TERMINAL = new Set(["succeeded", "failed", "timed_out", "cancelled"]);

/**
 * Waits until every job in `ids` is terminal and none of its attempts is still held by an agent
 * (a cancelled job is terminal at once; its attempt closes when the agent reports the kill);
 * returns them with their attempts.
 */
export async function waitAllTerminal(
  client: Client,
  ids: number[],
  timeoutMs = 60_000,
): Promise<JobView[]> {
  const end = Date.now() + timeoutMs;
  const done = new Map<number, JobView>();
  for (;;) {
    for (const id of ids) {
      if (done.has(id)) continue;
      const job = await client.job(id);
      const held = job.attempts?.some((a) => a.state === "assigned" || a.state === "running");
      if (TERMINAL.has(job.state) && !held) done.set(id, job);
    }
    if (done.size === ids.length) return ids.map((id) => done.get(id)!);
    if (Date.now() > end) {
      const pending = ids.filter((id) => !done.has(id));
      const views = await Promise.all(pending.slice(0, 5).map((id) => client.job(id)));
      const what = views.map((j) =>
        `${j.id}: ${j.state} [${(j.attempts ?? []).map((a) => `${a.n} ${a.state}`).join(", ")}]`
      );
      throw new Error(`timed out waiting for jobs to finish: ${what.join("; ")}`);
    }
    await sleep(100);
  }
}

/**
 * The invariants every scenario ends with, on the API's view of each job: it is terminal; its
 * attempts are numbered 1..attempt_count with none still held; at most one attempt succeeded,
 * exactly one (the last) when the job did; a lost attempt carries no result; and the job's own
 * exit code is its last attempt's.
 */
export function assertJobInvariants(jobs: JobView[]): void {
  for (const job of jobs) {
    const at = job.attempts ?? [];
    const where = `job ${job.id} (${job.state}, attempts ${JSON.stringify(at.map(brief))})`;
    assert.ok(TERMINAL.has(job.state), `${where} is not terminal`);
    assert.equal(at.length, job.attempt_count, `${where}: attempt rows vs attempt_count`);
    at.forEach((a, i) => {
      assert.equal(a.n, i + 1, `${where}: attempts numbered in order`);
      assert.equal(a.id, `${job.id}.${a.n}`, `${where}: attempt id`);
      assert.ok(a.state !== "assigned" && a.state !== "running", `${where}: attempt still held`);
      if (a.state === "lost") {
        assert.equal(a.exit_code, null, `${where}: a lost attempt has a result`);
        assert.equal(a.signal, null, `${where}: a lost attempt has a result`);
      }
    });
    const wins = at.filter((a) => a.state === "succeeded");
    if (job.state === "succeeded") {
      assert.equal(wins.length, 1, `${where}: exactly one succeeded attempt`);
      assert.equal(wins[0].n, at.length, `${where}: the succeeded attempt is the last`);
      assert.equal(job.exit_code, 0, `${where}: exit code`);
    } else {
      assert.equal(wins.length, 0, `${where}: a succeeded attempt in a job that did not`);
    }
  }
}

function brief(a: NonNullable<JobView["attempts"]>[number]) {
  return `${a.n}:${a.state}@${a.agent_name ?? a.agent_id}` +
    (a.exit_code !== null ? ` exit ${a.exit_code}` : "") + (a.signal ? ` ${a.signal}` : "");
}

/** Fetches `ids` with their attempts and checks {@linkcode assertJobInvariants}. */
export async function checkJobs(client: Client, ids: number[], timeoutMs = 60_000) {
  const jobs = await waitAllTerminal(client, ids, timeoutMs);
  assertJobInvariants(jobs);
  return jobs;
}

/**
 * Opens the database file of a stopped server and checks it: `PRAGMA integrity_check` is ok,
 * no job has two succeeded attempts, and a succeeded job's current attempt is the one that
 * succeeded. Returns the ids of the jobs stored.
 */
export function checkDatabase(path: string): Set<number> {
  const db = new DatabaseSync(path);
  try {
    const integrity = db.prepare("PRAGMA integrity_check").all() as Array<Record<string, string>>;
    assert.deepEqual(integrity.map((r) => Object.values(r)[0]), ["ok"], "integrity_check");
    const twice = db.prepare(
      `SELECT job_id, COUNT(*) AS wins FROM attempts WHERE state = 'succeeded'
        GROUP BY job_id HAVING wins > 1`,
    ).all();
    assert.deepEqual(twice, [], "jobs with two succeeded attempts");
    const mismatched = db.prepare(
      `SELECT j.id, j.current_attempt, a.state FROM jobs j LEFT JOIN attempts a
        ON a.id = j.current_attempt WHERE j.state = 'succeeded'
        AND (a.state IS NULL OR a.state != 'succeeded')`,
    ).all();
    assert.deepEqual(mismatched, [], "succeeded jobs whose current attempt did not succeed");
    const ids = db.prepare("SELECT id FROM jobs").all() as Array<{ id: number }>;
    return new Set(ids.map((r) => r.id));
  } finally {
    db.close();
  }
}

// --- a TCP proxy that can cut connections ----------------------------------------------------

/**
 * A TCP proxy on 127.0.0.1 that forwards to `target`. `cut()` drops every connection and
 * refuses (accepts and at once closes) new ones until `restore()`.
 */
export class TcpProxy {
  readonly port: number;
  readonly #listener: Deno.Listener;
  readonly #target: Deno.ConnectOptions;
  readonly #pairs = new Set<Deno.Conn>();
  readonly #loop: Promise<void>;
  readonly #tasks = new Set<Promise<void>>();
  #cut = false;
  /** Connections accepted (and forwarded) so far. */
  forwarded = 0;

  constructor(target: Deno.ConnectOptions) {
    this.#target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#loop = this.#accept();
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // closed
      }
      if (this.#cut) {
        closeQuietly(conn);
        continue;
      }
      const task = this.#forward(conn);
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  async #forward(down: Deno.Conn): Promise<void> {
    let up: Deno.Conn;
    try {
      up = await Deno.connect(this.#target);
    } catch {
      closeQuietly(down);
      return;
    }
    if (this.#cut) {
      closeQuietly(down);
      closeQuietly(up);
      return;
    }
    this.forwarded++;
    this.#pairs.add(down).add(up);
    const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
      const buf = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n = await from.read(buf);
          if (n === null) break;
          let off = 0;
          while (off < n) off += await to.write(buf.subarray(off, n));
        }
      } catch {
        // cut, or the other side went away
      }
      closeQuietly(from);
      closeQuietly(to);
    };
    await Promise.all([pipe(down, up), pipe(up, down)]);
    this.#pairs.delete(down);
    this.#pairs.delete(up);
  }

  /** Drops every connection now and refuses new ones. */
  cut(): void {
    this.#cut = true;
    for (const c of this.#pairs) closeQuietly(c);
    this.#pairs.clear();
  }

  /** Forwards new connections again. */
  restore(): void {
    this.#cut = false;
  }

  /** Stops listening and drops everything. */
  async close(): Promise<void> {
    this.cut();
    try {
      this.#listener.close();
    } catch {
      // closed
    }
    await this.#loop;
    await Promise.all([...this.#tasks]);
  }
}

function closeQuietly(c: Deno.Conn): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

// --- simulated agents ------------------------------------------------------------------------

/** One attempt a simulated agent "runs". */
interface SimAttempt {
  job_id: number;
  pid: number;
}

/**
 * An agent that speaks the real protocol (frames checked with the protocol's own parser) but
 * runs nothing: it holds its attempts as running until told to finish them, heartbeats, and
 * after a dropped connection redials with jittered exponential backoff, sending its inventory.
 */
export class SimAgent {
  readonly id: string;
  readonly attempts = new Map<string, SimAttempt>();
  /** The reconcile lists of every welcome after the first. */
  readonly reconciles: Reconcile[][] = [];
  /** Frames the server rejected (`reject`) or asked to kill (`cancel`, reconcile `kill`). */
  readonly killed: string[] = [];
  /** Attempts the server acknowledged as finished. */
  readonly acked = new Set<string>();
  welcomes = 0;
  connected = false;
  /** `performance.now()` of each successful reconnect (welcome after the first). */
  readonly reconnectedAt: number[] = [];
  readonly #url: string;
  readonly #stop = new AbortController();
  #socket: WebSocket | null = null;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #finished = new Map<string, AgentMessage>();
  #loop: Promise<void> = Promise.resolve();
  #nextPid = 0;

  constructor(serverUrl: string, id: string) {
    this.id = id;
    this.#url = serverUrl.replace(/^http/, "ws") + "/ws/agent";
    this.#nextPid = 4_000_000 + Math.floor(Math.random() * 100_000);
  }

  /** Starts the connect loop. */
  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      const welcomed = await this.#session();
      if (this.#stop.signal.aborted) return;
      failures = welcomed ? 1 : failures + 1;
      // Full jitter, 100 ms doubling to 2 s.
      await sleep(Math.random() * Math.min(2_000, 100 * 2 ** (failures - 1)));
    }
  }

  /** One connection; resolves when it closes, with whether it was welcomed. */
  #session(): Promise<boolean> {
    return new Promise((resolve) => {
      let welcomed = false;
      const ws = new WebSocket(this.#url);
      this.#socket = ws;
      const onAbort = () => ws.close(1000, "sim agent stopping");
      this.#stop.signal.addEventListener("abort", onAbort, { once: true });
      ws.onopen = () => this.#send(this.#hello());
      ws.onerror = () => {};
      ws.onmessage = (ev) => {
        const msg = parseServerMessage(String(ev.data));
        switch (msg.type) {
          case "welcome":
            welcomed = true;
            this.#welcome(msg.reconcile, msg.heartbeat_ms);
            return;
          case "assign": {
            const pid = this.#nextPid++;
            this.attempts.set(msg.attempt_id, { job_id: msg.job_id, pid });
            this.#send({ type: "started", attempt_id: msg.attempt_id, pid });
            return;
          }
          case "cancel":
          case "reject":
            this.killed.push(msg.attempt_id);
            this.attempts.delete(msg.attempt_id);
            this.#finished.delete(msg.attempt_id);
            return;
          case "ack":
            this.acked.add(msg.attempt_id);
            this.attempts.delete(msg.attempt_id);
            this.#finished.delete(msg.attempt_id);
            return;
          default:
            return; // log_ack, drain, error, incompatible: nothing to do here
        }
      };
      ws.onclose = () => {
        this.#stop.signal.removeEventListener("abort", onAbort);
        clearInterval(this.#heartbeat);
        this.connected = false;
        this.#socket = null;
        resolve(welcomed);
      };
    });
  }

  #hello(): AgentMessage {
    const inventory: InventoryItem[] = [...this.attempts].map(([id, a]) => {
      const fin = this.#finished.get(id);
      return {
        attempt_id: id,
        job_id: a.job_id,
        pid: a.pid,
        log_seq: 0,
        result: fin?.type === "finished" ? fin.result : null,
      };
    });
    return {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      agent_id: this.id,
      name: this.id,
      labels: { sim: "1" },
      runtimes: [],
      slots: 1,
      version: VERSION,
      inventory,
    };
  }

  #welcome(reconcile: Reconcile[], heartbeatMs: number): void {
    this.welcomes++;
    if (this.welcomes > 1) {
      this.reconciles.push(reconcile);
      this.reconnectedAt.push(performance.now());
    }
    for (const r of reconcile) {
      if (r.action === "kill") this.killed.push(r.attempt_id);
      if (r.action === "ack") this.acked.add(r.attempt_id);
      if (r.action !== "keep") {
        this.attempts.delete(r.attempt_id);
        this.#finished.delete(r.attempt_id);
      } else {
        const fin = this.#finished.get(r.attempt_id);
        if (fin) this.#send(fin);
      }
    }
    this.connected = true;
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      this.#send({ type: "heartbeat", running: [...this.attempts.keys()] });
    }, heartbeatMs);
  }

  /** Reports every held attempt as exited 0 (kept until the server acknowledges it). */
  finishAll(): void {
    for (const id of this.attempts.keys()) {
      const msg: AgentMessage = {
        type: "finished",
        attempt_id: id,
        log_seq: 0,
        result: {
          exit_code: 0,
          signal: null,
          duration_ms: 1,
          killed_by: null,
          error: null,
          truncated_bytes: 0,
        },
      };
      this.#finished.set(id, msg);
      this.#send(msg);
    }
  }

  #send(msg: AgentMessage): void {
    const ws = this.#socket;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  /** Closes the connection and stops redialing. */
  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#heartbeat);
    await this.#loop;
  }
}
