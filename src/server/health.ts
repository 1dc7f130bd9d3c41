/**
 * Agent health: each agent's connection sessions (for uptime) and its host facts as a
 * downsampled time series (one averaged point per minute, kept 7 days by retention), plus the
 * operator's overrides of an agent (name, labels, disabled) that outlive its hello. It observes
 * the registry through {@linkcode AgentHooks} and keeps its own tables and SQL.
 *
 * Sessions survive a server crash well enough: each open session's `last_seen_at` moves once a
 * minute, and on start every session left open is closed at that instant.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { Statements } from "./sql.ts";
import type { HostFacts } from "../protocol/mod.ts";
import type { AgentHooks, AgentState } from "./agent_registry.ts";
import type { Store } from "./store.ts";
import { type Session, type Uptime, uptime } from "./uptime.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;

/** One stored point of an agent's host facts (averages over its minute). */
export interface HealthSample {
  /** Start of the minute (ms since the epoch). */
  t: number;
  /** Heartbeats averaged into it. */
  n: number;
  load1: number | null;
  cpus: number | null;
  mem_total: number | null;
  mem_available: number | null;
  disk_free: number | null;
  rss: number | null;
}

/** An operator's override of what an agent says about itself. */
export interface AgentOverride {
  name: string | null;
  /** JSON object of labels replacing the agent's own, or `null`. */
  labels: string | null;
  disabled: number;
}

const FACT_KEYS = ["load1", "cpus", "mem_total", "mem_available", "disk_free", "rss"] as const;
type FactKey = typeof FACT_KEYS[number];

interface Bucket {
  t: number;
  n: number;
  sums: Record<FactKey, number>;
  counts: Record<FactKey, number>;
}

interface OpenSession {
  id: number;
  /** The registry's object for this connection (a replaced connection has another). */
  agent: AgentState;
}

/** Options of {@linkcode AgentHealth}. */
export interface AgentHealthOptions {
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Records sessions and samples; answers uptime and history questions. */
export class AgentHealth implements AgentHooks {
  readonly #store: Store;
  readonly #db: DatabaseSync;
  readonly #now: () => number;
  readonly #sql: Statements;
  readonly #open = new Map<string, OpenSession>();
  readonly #buckets = new Map<string, Bucket>();
  /** Labels each agent declared in its last hello, before any override. */
  readonly #ownLabels = new Map<string, Record<string, string>>();
  #stopped = false;

  constructor(store: Store, options: AgentHealthOptions = {}) {
    this.#store = store;
    this.#db = store.db;
    this.#sql = new Statements(store.db);
    this.#now = options.now ?? Date.now;
  }

  /** Closes sessions a crashed server left open, at the last instant they were seen. */
  recover(): void {
    this.#store.write(() =>
      this.#sql.run(
        "UPDATE agent_sessions SET disconnected_at = last_seen_at WHERE disconnected_at IS NULL",
      )
    );
  }

  /** Applies stored overrides to agents the registry loaded from the store. */
  applyOverrides(agents: Iterable<AgentState>): void {
    for (const agent of agents) this.#applyOverride(agent);
  }

  // --- hooks ------------------------------------------------------------------------------

  /** A connection was accepted: apply overrides and open a session. */
  connecting(agent: AgentState, at: number): void {
    if (this.#stopped) return;
    this.#ownLabels.set(agent.id, agent.labels);
    this.#applyOverride(agent);
    this.#store.write(() => {
      const old = this.#open.get(agent.id);
      if (old) {
        this.#sql.run("UPDATE agent_sessions SET disconnected_at = ? WHERE id = ?", at, old.id);
      }
      const r = this.#sql.run(
        `INSERT INTO agent_sessions (agent_id, connected_at, last_seen_at) VALUES (?, ?, ?)`,
        agent.id,
        at,
        at,
      );
      this.#open.set(agent.id, { id: Number(r.lastInsertRowid), agent });
    });
  }

  /** A connection ended: close its session and store the partial minute of facts. */
  disconnected(agent: AgentState, at: number): void {
    if (this.#stopped) return;
    const open = this.#open.get(agent.id);
    // A replaced connection closes after its successor opened: not the current session.
    if (!open || open.agent !== agent) return;
    this.#open.delete(agent.id);
    this.#store.write(() => {
      this.#sql.run("UPDATE agent_sessions SET disconnected_at = ? WHERE id = ?", at, open.id);
      this.#flushBucket(agent.id);
    });
  }

  /** A heartbeat: fold its facts into the current minute; write the minute when it ends. */
  heartbeat(agent: AgentState, facts: HostFacts | undefined, at: number): void {
    if (this.#stopped || !facts) return;
    const t = Math.floor(at / MINUTE) * MINUTE;
    let b = this.#buckets.get(agent.id);
    if (b && b.t !== t) {
      this.#store.write(() => {
        this.#flushBucket(agent.id);
        const open = this.#open.get(agent.id);
        if (open) {
          this.#sql.run("UPDATE agent_sessions SET last_seen_at = ? WHERE id = ?", at, open.id);
        }
      });
      b = undefined;
    }
    if (!b) {
      b = { t, n: 0, sums: zeroFacts(), counts: zeroFacts() };
      this.#buckets.set(agent.id, b);
    }
    b.n++;
    for (const k of FACT_KEYS) {
      const v = facts[k];
      if (typeof v === "number" && Number.isFinite(v)) {
        b.sums[k] += v;
        b.counts[k]++;
      }
    }
  }

  /** Closes every open session now and stores partial minutes (server shutting down). */
  stop(): void {
    if (this.#stopped) return;
    const at = this.#now();
    this.#store.write(() => {
      for (const [agentId, open] of this.#open) {
        this.#sql.run("UPDATE agent_sessions SET disconnected_at = ? WHERE id = ?", at, open.id);
        this.#flushBucket(agentId);
      }
    });
    this.#open.clear();
    this.#stopped = true;
  }

  // --- queries ----------------------------------------------------------------------------

  /** Sessions of an agent that overlap the `windowMs` before `now`. */
  sessions(agentId: string, now: number, windowMs: number): Session[] {
    return this.#sql.all<{ connected_at: number; disconnected_at: number | null }>(
      `SELECT connected_at, disconnected_at FROM agent_sessions
        WHERE agent_id = ? AND (disconnected_at IS NULL OR disconnected_at > ?)
        ORDER BY connected_at`,
      agentId,
      now - windowMs,
    ).map((r) => ({ start: r.connected_at, end: r.disconnected_at }));
  }

  /** When the agent first connected (as far as stored sessions tell), or `null`. */
  firstSeen(agentId: string): number | null {
    const row = this.#sql.get<{ t: number | null }>(
      "SELECT MIN(connected_at) AS t FROM agent_sessions WHERE agent_id = ?",
      agentId,
    );
    return row?.t ?? null;
  }

  /** Uptime over 24 h, 7 d and 30 d (or the given windows). */
  uptime(
    agentId: string,
    windows: Record<string, number> = { "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY },
  ): Record<string, Uptime> {
    const now = this.#now();
    const first = this.firstSeen(agentId) ?? undefined;
    const longest = Math.max(...Object.values(windows));
    const sessions = this.sessions(agentId, now, longest);
    return Object.fromEntries(
      Object.entries(windows).map(([k, w]) => [k, uptime(sessions, now, w, first)]),
    );
  }

  /** Stored 1-minute samples of an agent since `from`, oldest first. */
  samples(agentId: string, from: number): HealthSample[] {
    return this.#sql.all<HealthSample>(
      `SELECT t, n, load1, cpus, mem_total, mem_available, disk_free, rss FROM agent_samples
        WHERE agent_id = ? AND t >= ? ORDER BY t`,
      agentId,
      from,
    );
  }

  // --- overrides and forgetting -----------------------------------------------------------

  /** The stored override of an agent, if any. */
  override(agentId: string): AgentOverride | undefined {
    return this.#sql.get<AgentOverride>(
      "SELECT name, labels, disabled FROM agent_overrides WHERE agent_id = ?",
      agentId,
    );
  }

  /** The labels the agent declared in its last hello this run, if it said hello. */
  ownLabels(agentId: string): Record<string, string> | undefined {
    return this.#ownLabels.get(agentId);
  }

  /** Stores an override (fields left `undefined` keep their stored value). */
  setOverride(
    agentId: string,
    change: { name?: string | null; labels?: Record<string, string> | null; disabled?: boolean },
  ): void {
    const old = this.override(agentId) ?? { name: null, labels: null, disabled: 0 };
    const next: AgentOverride = {
      name: change.name === undefined ? old.name : change.name,
      labels: change.labels === undefined
        ? old.labels
        : change.labels === null
        ? null
        : JSON.stringify(change.labels),
      disabled: change.disabled === undefined ? old.disabled : change.disabled ? 1 : 0,
    };
    this.#store.write(() => {
      this.#sql.run(
        `INSERT INTO agent_overrides (agent_id, name, labels, disabled) VALUES (?, ?, ?, ?)
          ON CONFLICT (agent_id) DO UPDATE SET name = excluded.name, labels = excluded.labels,
            disabled = excluded.disabled`,
        agentId,
        next.name,
        next.labels,
        next.disabled,
      );
      if (next.name !== null) {
        this.#sql.run("UPDATE agents SET name = ? WHERE id = ?", next.name, agentId);
      }
      if (next.labels !== null) {
        this.#sql.run("UPDATE agents SET labels = ? WHERE id = ?", next.labels, agentId);
      }
    });
  }

  /** Deletes everything stored about an agent (its row, sessions, samples, overrides). */
  forget(agentId: string): void {
    this.#open.delete(agentId);
    this.#buckets.delete(agentId);
    this.#store.write(() => {
      for (const table of ["agents", "agent_sessions", "agent_samples", "agent_overrides"]) {
        const col = table === "agents" ? "id" : "agent_id";
        this.#sql.run(`DELETE FROM ${table} WHERE ${col} = ?`, agentId);
      }
    });
  }

  /** Deletes samples older than `sampleAgeMs` and sessions ended before `sessionAgeMs`. */
  prune(now: number, sampleAgeMs = 7 * DAY, sessionAgeMs = 31 * DAY): number {
    return this.#store.write(() => {
      const a = this.#sql.run("DELETE FROM agent_samples WHERE t < ?", now - sampleAgeMs);
      const b = this.#sql.run(
        "DELETE FROM agent_sessions WHERE disconnected_at IS NOT NULL AND disconnected_at < ?",
        now - sessionAgeMs,
      );
      return Number(a.changes) + Number(b.changes);
    });
  }

  #applyOverride(agent: AgentState): void {
    const o = this.override(agent.id);
    if (!o) return;
    if (o.name !== null) agent.name = o.name;
    if (o.labels !== null) agent.labels = JSON.parse(o.labels);
    agent.disabled = o.disabled === 1;
  }

  /** Writes the agent's open minute as one averaged sample (inside a write). */
  #flushBucket(agentId: string): void {
    const b = this.#buckets.get(agentId);
    if (!b) return;
    this.#buckets.delete(agentId);
    const avg = (k: FactKey) => (b.counts[k] ? b.sums[k] / b.counts[k] : null);
    this.#sql.run(
      `INSERT INTO agent_samples (agent_id, t, n, load1, cpus, mem_total, mem_available,
         disk_free, rss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (agent_id, t) DO UPDATE SET n = excluded.n, load1 = excluded.load1,
         cpus = excluded.cpus, mem_total = excluded.mem_total,
         mem_available = excluded.mem_available, disk_free = excluded.disk_free, rss = excluded.rss`,
      agentId,
      b.t,
      b.n,
      avg("load1"),
      avg("cpus"),
      avg("mem_total"),
      avg("mem_available"),
      avg("disk_free"),
      avg("rss"),
    );
  }
}

function zeroFacts(): Record<FactKey, number> {
  return { load1: 0, cpus: 0, mem_total: 0, mem_available: 0, disk_free: 0, rss: 0 };
}
