/**
 * The agents the server knows: their live connections, slots and leases, and their liveness.
 * The server decides liveness on its own monotonic clock: an agent silent past its heartbeat
 * deadline is disconnected (its socket closed), and `lost` once the grace period passes, when
 * the scheduler requeues its attempts. After a server restart every known agent starts a fresh
 * grace period, so a restart neither kills nor duplicates running jobs.
 * @module
 */

import type {
  AgentMessage,
  AgentStatus,
  AgentView,
  HostFacts,
  RuntimeInfo,
  ServerMessage,
} from "../protocol/mod.ts";
import type { EventBus } from "./events.ts";
import type { Offer } from "./queue_index.ts";
import type { JobStore } from "./store.ts";

/** The server's end of an agent's socket. */
export interface AgentLink {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** Liveness of an agent's connection. */
export type Liveness = "connected" | "disconnected" | "lost";

/** What the server knows of one agent. */
export interface AgentState extends Offer {
  hostname: string | null;
  version: string | null;
  runtimeInfo: RuntimeInfo[];
  runtimes: Set<string>;
  labels: Record<string, string>;
  slots: number;
  /** Attempts leased to it, with the slots each takes. */
  attempts: Map<string, number>;
  /** Slots its attempts take together. */
  used: number;
  link: AgentLink | null;
  liveness: Liveness;
  /** An operator drained it (kept across reconnects and restarts). */
  draining: boolean;
  /** The agent said it is stopping (this connection only). */
  selfDraining: boolean;
  /** Monotonic ms of the last frame (or of the server start, for a remembered agent). */
  lastSeenMono: number;
  /** Monotonic ms when it disconnected. */
  disconnectedMono: number;
  connectedAt: number | null;
  lastSeen: number | null;
  facts: HostFacts | null;
  /** An operator disabled it: it takes no new work (kept across reconnects and restarts). */
  disabled?: boolean;
}

/**
 * Observers of an agent's connection life (agent health: sessions, host-fact history,
 * operator overrides). `connecting` runs before the agent is stored and may adjust it.
 */
export interface AgentHooks {
  connecting(agent: AgentState, at: number): void;
  disconnected(agent: AgentState, at: number): void;
  heartbeat(agent: AgentState, facts: HostFacts | undefined, at: number): void;
}

/** Options of {@linkcode AgentRegistry}. */
export interface AgentRegistryOptions {
  store: JobStore;
  events: EventBus;
  /** Heartbeat interval agents are told to use (default 5 s). */
  heartbeatMs?: number;
  /** Silence after which an agent is disconnected (default 3 heartbeats). */
  heartbeatTimeoutMs?: number;
  /** Time a disconnected agent has to come back before it is lost (default 30 s). */
  lostAfterMs?: number;
  now?: () => number;
  mono?: () => number;
  hooks?: AgentHooks;
}

/** Known agents. */
export class AgentRegistry {
  readonly heartbeatMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly lostAfterMs: number;
  readonly #store: JobStore;
  readonly #events: EventBus;
  readonly #agents = new Map<string, AgentState>();
  /** Connected, not draining agents with a free slot: what a dispatch pass walks. */
  readonly #free = new Set<AgentState>();
  /** When each agent's facts were last written. */
  readonly #factsSaved = new Map<string, number>();
  readonly #now: () => number;
  readonly #mono: () => number;
  readonly #hooks: AgentHooks | undefined;
  #closing = false;

  constructor(options: AgentRegistryOptions) {
    this.#store = options.store;
    this.#events = options.events;
    this.heartbeatMs = options.heartbeatMs ?? 5_000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? this.heartbeatMs * 3;
    this.lostAfterMs = options.lostAfterMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#mono = options.mono ?? (() => performance.now());
    this.#hooks = options.hooks;
  }

  /** Loads remembered agents; those not lost start a fresh grace period now. */
  load(): void {
    const mono = this.#mono();
    for (const row of this.#store.listAgents()) {
      const liveness: Liveness = row.status === "lost" ? "lost" : "disconnected";
      const runtimeInfo: RuntimeInfo[] = JSON.parse(row.runtimes);
      this.#agents.set(row.id, {
        id: row.id,
        name: row.name,
        hostname: row.hostname,
        version: row.version,
        labels: JSON.parse(row.labels),
        runtimeInfo,
        runtimes: new Set(runtimeInfo.map((r) => r.name)),
        slots: row.slots,
        attempts: new Map(),
        used: 0,
        link: null,
        liveness,
        draining: row.draining === 1,
        selfDraining: false,
        lastSeenMono: mono,
        disconnectedMono: mono,
        connectedAt: null,
        lastSeen: row.last_seen,
        facts: row.facts ? JSON.parse(row.facts) : null,
      });
    }
  }

  /** The agent with `id`. */
  get(id: string): AgentState | undefined {
    return this.#agents.get(id);
  }

  /** Every known agent. */
  all(): AgentState[] {
    return [...this.#agents.values()];
  }

  /** Connected agents. */
  connected(): AgentState[] {
    return this.all().filter((a) => a.liveness === "connected");
  }

  /**
   * Connected, enabled, not draining agents with a free slot, in round-robin order (an agent
   * moves to the back each time it takes work). Kept up to date as agents change, so a dispatch
   * pass costs nothing per busy agent even with thousands connected.
   */
  ready(): AgentState[] {
    return [...this.#free];
  }

  /** Leases `attemptId` to `agent`, taking `slots` of its slots. */
  takeSlot(agent: AgentState, attemptId: string, slots = 1): void {
    if (agent.attempts.has(attemptId)) return;
    agent.attempts.set(attemptId, slots);
    agent.used += slots;
    this.#free.delete(agent); // to the back of the round-robin order, if still free
    this.#changed(agent);
  }

  /** Registers a connection from `hello`, replacing any older connection of the same agent. */
  connect(hello: Extract<AgentMessage, { type: "hello" }>, link: AgentLink): AgentState {
    const now = this.#now();
    const old = this.#agents.get(hello.agent_id);
    if (old) this.#free.delete(old);
    if (old?.link && old.link !== link) old.link.close(4001, "replaced by a newer connection");
    const agent: AgentState = {
      id: hello.agent_id,
      name: hello.name,
      hostname: hello.hostname ?? null,
      version: hello.version,
      labels: hello.labels,
      runtimeInfo: hello.runtimes,
      runtimes: new Set(hello.runtimes.map((r) => r.name)),
      slots: hello.slots,
      attempts: old?.attempts ?? new Map(),
      used: old?.used ?? 0,
      link,
      liveness: "connected",
      draining: old?.draining ?? false,
      selfDraining: false,
      lastSeenMono: this.#mono(),
      disconnectedMono: 0,
      connectedAt: now,
      lastSeen: now,
      facts: old?.facts ?? null,
    };
    this.#hooks?.connecting(agent, now);
    this.#agents.set(agent.id, agent);
    this.#store.write(() =>
      this.#store.upsertAgent({
        id: agent.id,
        name: agent.name,
        hostname: agent.hostname,
        version: agent.version,
        labels: JSON.stringify(agent.labels),
        runtimes: JSON.stringify(agent.runtimeInfo),
        slots: agent.slots,
        status: "connected",
        connected_at: now,
        last_seen: now,
      })
    );
    this.#changed(agent);
    return agent;
  }

  /** Marks the agent disconnected if `link` is still its connection. */
  disconnect(agent: AgentState, link: AgentLink): void {
    // A connection replaced by a newer one closes late: it must not touch the live agent.
    if (agent.link !== link || this.#agents.get(agent.id) !== agent) return;
    agent.link = null;
    agent.liveness = "disconnected";
    agent.disconnectedMono = this.#mono();
    this.#hooks?.disconnected(agent, this.#now());
    // At shutdown the store may be closed; the next start gives every agent a fresh grace.
    if (this.#closing) return;
    this.#store.write(() => this.#store.setAgentStatus(agent.id, "disconnected", this.#now()));
    this.#changed(agent);
  }

  /** Notes that a frame arrived from `agent`. */
  touch(agent: AgentState): void {
    agent.lastSeenMono = this.#mono();
  }

  /** Records a heartbeat and its host facts. */
  heartbeat(agent: AgentState, facts: HostFacts | undefined): void {
    agent.lastSeen = this.#now();
    if (facts) agent.facts = facts;
    this.#hooks?.heartbeat(agent, facts, agent.lastSeen);
    // The latest facts and last-seen time survive a restart; once a minute is enough.
    if (facts && agent.lastSeen - (this.#factsSaved.get(agent.id) ?? 0) >= 60_000) {
      this.#factsSaved.set(agent.id, agent.lastSeen);
      const json = JSON.stringify(facts);
      this.#store.write(() => this.#store.setAgentFacts(agent.id, json, agent.lastSeen!));
    }
  }

  /** Sends `msg` to the agent if it is connected; returns whether it was sent. */
  send(agentId: string, msg: ServerMessage): boolean {
    const link = this.#agents.get(agentId)?.link;
    if (!link) return false;
    try {
      link.send(JSON.stringify(msg));
      return true;
    } catch {
      return false;
    }
  }

  /** Counts an attempt against an agent's slots while recovering from the store. */
  adopt(agentId: string, attemptId: string, slots: number): void {
    const agent = this.#agents.get(agentId);
    if (agent) this.takeSlot(agent, attemptId, slots);
  }

  /** Frees the slot of `attemptId`. */
  releaseSlot(agentId: string, attemptId: string): void {
    const agent = this.#agents.get(agentId);
    const slots = agent?.attempts.get(attemptId);
    if (!agent || slots === undefined) return;
    agent.attempts.delete(attemptId);
    agent.used -= slots;
    this.#changed(agent);
  }

  /** Starts or stops draining an agent; returns it, or `undefined` if unknown. */
  setDraining(idOrName: string, draining: boolean): AgentState | undefined {
    const agent = this.find(idOrName);
    if (!agent) return undefined;
    agent.draining = draining;
    this.#store.write(() => this.#store.setAgentDraining(agent.id, draining));
    this.send(agent.id, { type: "drain", enabled: draining });
    this.#changed(agent);
    return agent;
  }

  /** Records that the agent itself started or stopped draining (for this connection only). */
  markDraining(agent: AgentState, draining: boolean): void {
    if (agent.selfDraining === draining) return;
    agent.selfDraining = draining;
    this.#changed(agent);
  }

  /** Finds an agent by id, or by name when the name is unique. */
  find(idOrName: string): AgentState | undefined {
    const byId = this.#agents.get(idOrName);
    if (byId) return byId;
    const named = this.all().filter((a) => a.name === idOrName);
    return named.length === 1 ? named[0] : named.find((a) => a.liveness === "connected");
  }

  /** Forgets an agent that is not connected; returns whether it was known. */
  forget(id: string): boolean {
    const agent = this.#agents.get(id);
    if (!agent || agent.liveness === "connected") return false;
    this.#agents.delete(id);
    this.#changed(agent);
    return true;
  }

  /**
   * Closes connections silent past the heartbeat deadline and returns the agents whose grace
   * period ran out (now lost).
   */
  sweep(): AgentState[] {
    const mono = this.#mono();
    const lost: AgentState[] = [];
    for (const agent of this.#agents.values()) {
      if (agent.liveness === "connected" && mono - agent.lastSeenMono > this.heartbeatTimeoutMs) {
        const link = agent.link!;
        this.disconnect(agent, link);
        link.close(4000, "heartbeat deadline missed");
      } else if (
        agent.liveness === "disconnected" && mono - agent.disconnectedMono > this.lostAfterMs
      ) {
        agent.liveness = "lost";
        this.#store.write(() => this.#store.setAgentStatus(agent.id, "lost", null));
        this.#changed(agent);
        lost.push(agent);
      }
    }
    return lost;
  }

  /** Closes every connection (server shutdown) without marking agents lost. */
  closeAll(): void {
    this.#closing = true;
    for (const agent of this.#agents.values()) {
      agent.link?.close(1001, "server shutting down");
    }
  }

  /** The API view of an agent. */
  view(agent: AgentState, jobIdOf: (attemptId: string) => number | undefined): AgentView {
    const status: AgentStatus = agent.liveness !== "connected"
      ? agent.liveness
      : agent.draining || agent.selfDraining
      ? "draining"
      : agent.attempts.size > 0
      ? "busy"
      : "idle";
    return {
      id: agent.id,
      name: agent.name,
      status,
      hostname: agent.hostname,
      version: agent.version,
      labels: agent.labels,
      runtimes: agent.runtimeInfo,
      slots: agent.slots,
      slots_used: agent.used,
      running: [...agent.attempts.keys()].map(jobIdOf).filter((id): id is number =>
        id !== undefined
      ),
      connected_since: agent.connectedAt ? new Date(agent.connectedAt).toISOString() : null,
      last_seen: agent.lastSeen ? new Date(agent.lastSeen).toISOString() : null,
      facts: agent.facts,
      disabled: agent.disabled ?? false,
    };
  }

  /** Re-evaluates an agent changed from outside (renamed, relabelled, disabled) and tells. */
  refresh(agent: AgentState): void {
    this.#changed(agent);
  }

  #changed(agent: AgentState): void {
    const free = agent.liveness === "connected" && !agent.draining && !agent.selfDraining &&
      !agent.disabled && agent.used < agent.slots && this.#agents.get(agent.id) === agent;
    if (free) this.#free.add(agent);
    else this.#free.delete(agent);
    this.#events.emit({ type: "agent", id: agent.id });
  }
}
