/**
 * Operations: agent health and management, metrics, retention, WAL checkpoints, readiness and
 * backups, gathered behind one object the server builds once and the routes use.
 * @module
 */

import { getLogger } from "../log.ts";
import type { AgentView } from "../protocol/mod.ts";
import type { AgentState } from "./agent_registry.ts";
import type { AgentHealth } from "./health.ts";
import { Metrics } from "./metrics.ts";
import { checkpointWal, pruneFinished, type PruneResult } from "./retention.ts";
import type { Scheduler } from "./scheduler.ts";
import { SchedulerError } from "./scheduler.ts";
import type { Store } from "./store.ts";
import { agentViews } from "./views.ts";

/** Default age after which finished jobs are deleted: 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;

/** Options of {@linkcode Ops}. */
export interface OpsOptions {
  store: Store;
  scheduler: Scheduler;
  health: AgentHealth;
  /** The database file (`:memory:` for throwaway servers). */
  dbPath: string;
  /** Age after which finished jobs are pruned (default 7 days). */
  retentionMs?: number;
  /** How often retention runs (default 10 minutes). */
  pruneEveryMs?: number;
  /** How often the WAL is checkpointed (default 5 minutes). */
  checkpointEveryMs?: number;
  now?: () => number;
}

/** A change an operator makes to an agent. */
export interface AgentChange {
  name?: string;
  /** Labels replacing the agent's own; `null` goes back to what the agent says. */
  labels?: Record<string, string> | null;
  disabled?: boolean;
}

/** The operations side of a server. */
export class Ops {
  readonly store: Store;
  readonly scheduler: Scheduler;
  readonly health: AgentHealth;
  readonly metrics: Metrics;
  readonly retentionMs: number;
  readonly #o: OpsOptions;
  readonly #now: () => number;
  readonly #life = new AbortController();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #pruning: Promise<PruneResult> | null = null;

  constructor(options: OpsOptions) {
    this.#o = options;
    this.store = options.store;
    this.scheduler = options.scheduler;
    this.health = options.health;
    this.#now = options.now ?? Date.now;
    this.retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
    this.metrics = new Metrics({
      scheduler: options.scheduler,
      store: options.store,
      dbPath: options.dbPath,
      now: this.#now,
    }, this.#life.signal);
  }

  /** Starts the periodic retention and checkpoint tasks. */
  start(): void {
    const every = (ms: number, fn: () => unknown) => {
      const t = setInterval(() => {
        try {
          const r = fn();
          if (r instanceof Promise) {
            r.catch((e) => getLogger().error("housekeeping failed", { error: e }));
          }
        } catch (e) {
          getLogger().error("housekeeping failed", { error: e });
        }
      }, ms);
      Deno.unrefTimer(t);
      this.#timers.push(t);
    };
    every(this.#o.pruneEveryMs ?? 600_000, () => this.prune());
    every(this.#o.checkpointEveryMs ?? 300_000, () => this.checkpoint());
  }

  /** Stops the tasks and closes open agent sessions (call before the store closes). */
  stop(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#life.abort();
    this.health.stop();
  }

  /** Runs retention once (one pass at a time). */
  prune(): Promise<PruneResult> {
    this.#pruning ??= pruneFinished(this.store, this.health, this.#now(), this.retentionMs)
      .then((r) => {
        this.metrics.prunedJobs += r.jobs;
        return r;
      })
      .finally(() => (this.#pruning = null));
    return this.#pruning;
  }

  /** Checkpoints the WAL into the database and truncates it. */
  checkpoint(): ReturnType<typeof checkpointWal> {
    const r = checkpointWal(this.store);
    this.metrics.checkpoints++;
    return r;
  }

  /** Proves the database takes a durable write; throws if it does not. */
  async ready(): Promise<void> {
    this.store.write(() =>
      this.store.db.prepare(
        "INSERT INTO ops_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
      ).run(this.#now())
    );
    await this.store.durable();
  }

  /**
   * Writes a consistent copy of the database, job output inside, to `path` while the server
   * runs (see {@linkcode Store.backup}); the copy blocks the event loop for its duration.
   */
  backup(path: string): void {
    this.store.backup(path);
  }

  // --- agents -----------------------------------------------------------------------------

  /** The agent known by id or unique name, or a not-found error. */
  agent(idOrName: string): AgentState {
    const agent = this.scheduler.agents.find(idOrName);
    if (!agent) throw new SchedulerError("not_found", `No agent ${idOrName}`);
    return agent;
  }

  /** The API view of an agent. */
  view(agent: AgentState): AgentView {
    return agentViews(this.scheduler).find((a) => a.id === agent.id)!;
  }

  /** Renames, relabels, disables or enables an agent; kept across reconnects and restarts. */
  async change(idOrName: string, change: AgentChange): Promise<AgentView> {
    const agent = this.agent(idOrName);
    this.health.setOverride(agent.id, change);
    if (change.name !== undefined) agent.name = change.name;
    if (change.labels !== undefined) {
      const own = change.labels === null ? this.#ownLabels(agent) : change.labels;
      agent.labels = own;
    }
    if (change.disabled !== undefined) agent.disabled = change.disabled;
    await this.store.durable();
    this.scheduler.agents.refresh(agent); // re-files it for dispatch and emits the change
    this.scheduler.kick();
    return this.view(agent);
  }

  /** Forgets an agent that is not connected and holds no work. */
  async forget(idOrName: string): Promise<void> {
    const agent = this.agent(idOrName);
    if (agent.liveness === "connected") {
      throw new SchedulerError(
        "conflict",
        `Cannot forget agent ${agent.name}: it is connected (stop it first)`,
      );
    }
    if (agent.attempts.size > 0) {
      throw new SchedulerError(
        "conflict",
        `Cannot forget agent ${agent.name}: it still holds ${agent.attempts.size} attempt(s); ` +
          "wait until it is lost",
      );
    }
    this.scheduler.agents.forget(agent.id);
    this.health.forget(agent.id);
    await this.store.durable();
  }

  /** The labels the agent declared; before its first hello this run, the ones we have. */
  #ownLabels(agent: AgentState): Record<string, string> {
    return this.health.ownLabels(agent.id) ?? agent.labels;
  }
}
