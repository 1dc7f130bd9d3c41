/**
 * The dashboard's live event stream (`/ws/ui`). One hub listens to the event bus while any
 * browser is connected; its listener only marks what changed, and a timer turns the marks into
 * at most one message per topic every `UI_FLUSH_MS` (the overview every `UI_OVERVIEW_MS`), built
 * once and sent to every subscriber. Nothing here can block the scheduler: pending changes are
 * bounded (past the bound a topic says "overflow"/"gap" and the browser refetches) and a browser
 * whose socket buffers more than {@linkcode MAX_BUFFERED_BYTES} is disconnected. A user's
 * browser only gets their own jobs: job lists, agents' running jobs and recent failures are
 * filtered per owner, and a topic of someone else's job is dropped.
 * @module
 */

import { isTerminal } from "../protocol/mod.ts";
import type { UiLogChunk, UiMessage, UiOverview, UiTopic } from "../protocol/ui_wire.ts";
import { scopeAgents } from "./access.ts";
import { UI_FLUSH_MS, UI_OVERVIEW_MS } from "../protocol/ui_wire.ts";
import type { ServerEvent } from "./events.ts";
import type { Scheduler } from "./scheduler.ts";
import { overviewSnapshot } from "./ui_data.ts";
import type { UiMetrics } from "./ui_metrics.ts";
import { outputText } from "./logs.ts";
import { agentViews, jobView } from "./views.ts";

/** Bytes a browser's socket may have unsent before the browser is dropped. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Changed job ids remembered between two flushes; past this the message says overflow. */
const MAX_DIRTY_JOBS = 2_000;
/** Jobs sent in one message (the newest); the rest make it an overflow. */
const MAX_JOBS_PER_MESSAGE = 200;
/** Output of one watched job buffered between two flushes; past this the message says gap. */
const MAX_LOG_BYTES = 1024 * 1024;
/**
 * Least time between two messages of a watched batch sent because its tasks changed: each counts
 * all of its tasks. A change of the batch itself is sent at the next flush.
 */
const BATCH_PROGRESS_MS = 500;

/** WebSocket close code for a browser that could not keep up. */
export const CLOSE_TOO_SLOW = 4008;

interface Client {
  socket: WebSocket;
  topics: Set<UiTopic>;
  /** Only this owner's jobs are shown; undefined: everything. */
  owner: string | undefined;
}

/** Options of {@linkcode UiHub.accept}. */
export interface UiClientOptions {
  /** Show only this owner's jobs (a `user`); undefined shows everything. */
  owner?: string;
  /** Called once the socket closed. */
  onClose?: () => void;
}

interface LogBuffer {
  chunks: UiLogChunk[];
  bytes: number;
  gap: boolean;
}

/** Options of {@linkcode UiHub}. */
export interface UiHubOptions {
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Fans coalesced changes out to dashboard sockets. */
export class UiHub {
  readonly #scheduler: Scheduler;
  readonly #metrics: UiMetrics;
  readonly #now: () => number;
  readonly #clients = new Set<Client>();
  /** Jobs some browser watches, with the number of watchers. */
  readonly #watched = new Map<number, number>();
  /** The watched jobs that are batches: their progress changes whenever a task changes. */
  readonly #watchedBatches = new Set<number>();
  /** Watched batches whose tasks changed since their progress was last sent. */
  readonly #staleBatches = new Set<number>();
  #lastBatchProgress = 0;
  #subscription: AbortController | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dirtyJobs = new Set<number>();
  #jobsOverflow = false;
  #agentsDirty = false;
  #overviewDirty = false;
  #lastOverview = 0;
  #dirtyDetails = new Set<number>();
  #logs = new Map<number, LogBuffer>();

  constructor(scheduler: Scheduler, metrics: UiMetrics, options: UiHubOptions = {}) {
    this.#scheduler = scheduler;
    this.#metrics = metrics;
    this.#now = options.now ?? Date.now;
  }

  /** Number of connected browsers (for tests). */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Serves `socket` (already upgraded) with the given topics until it closes. */
  accept(socket: WebSocket, topics: UiTopic[], options: UiClientOptions = {}): void {
    const { owner } = options;
    // Someone else's job is not there to watch.
    const allowed = topics.filter((t) =>
      owner === undefined || !t.startsWith("job:") || this.#ownerOf(Number(t.slice(4))) === owner
    );
    const client: Client = { socket, topics: new Set(allowed), owner };
    socket.onopen = () => this.#join(client);
    socket.onclose = () => {
      this.#leave(client);
      options.onClose?.();
    };
    socket.onerror = () => {};
    // Browsers only listen; anything they send is ignored.
    socket.onmessage = () => {};
  }

  #join(client: Client): void {
    this.#clients.add(client);
    for (const id of watchedJobs(client)) {
      this.#watched.set(id, (this.#watched.get(id) ?? 0) + 1);
      if (this.#isBatch(id)) this.#watchedBatches.add(id);
    }
    if (!this.#subscription) {
      this.#subscription = new AbortController();
      this.#scheduler.events.subscribe((ev) => this.#onEvent(ev), this.#subscription.signal);
    }
    // The first messages are snapshots, so nothing that changed before the socket opened is lost.
    if (client.topics.has("agents")) {
      this.#send(client, this.#serialize(this.#agents(client.owner)));
    }
    if (client.topics.has("overview")) {
      const overview = this.scopeOverview(this.#overview(), client.owner);
      this.#send(client, this.#serialize({ type: "overview", overview }));
    }
    for (const id of watchedJobs(client)) {
      const msg = this.#jobMessage(id);
      if (msg) this.#send(client, msg);
    }
  }

  #leave(client: Client): void {
    if (!this.#clients.delete(client)) return;
    for (const id of watchedJobs(client)) {
      const n = (this.#watched.get(id) ?? 1) - 1;
      if (n > 0) this.#watched.set(id, n);
      else {
        this.#watched.delete(id);
        this.#watchedBatches.delete(id);
        this.#staleBatches.delete(id);
        this.#logs.delete(id);
        this.#dirtyDetails.delete(id);
      }
    }
    if (this.#clients.size === 0) {
      this.#subscription?.abort();
      this.#subscription = null;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#dirtyJobs.clear();
      this.#jobsOverflow = this.#agentsDirty = this.#overviewDirty = false;
    }
  }

  /** Runs inside the scheduler's call stack: only marks, never builds or sends. */
  #onEvent(ev: ServerEvent): void {
    switch (ev.type) {
      case "job":
        if (this.#dirtyJobs.size < MAX_DIRTY_JOBS) this.#dirtyJobs.add(ev.id);
        else this.#jobsOverflow = true;
        if (this.#watched.has(ev.id)) this.#dirtyDetails.add(ev.id);
        this.#overviewDirty = true;
        // An agent's slots change with its jobs.
        if (ev.agent_id !== null || isTerminal(ev.state)) this.#agentsDirty = true;
        break;
      case "agent":
        this.#agentsDirty = true;
        this.#overviewDirty = true;
        break;
      case "log": {
        if (!this.#watched.has(ev.job_id)) return;
        let buf = this.#logs.get(ev.job_id);
        if (!buf) this.#logs.set(ev.job_id, buf = { chunks: [], bytes: 0, gap: false });
        if (buf.gap) return;
        buf.bytes += ev.bytes.length;
        if (buf.bytes > MAX_LOG_BYTES) {
          buf.chunks = [];
          buf.gap = true;
        } else {
          buf.chunks.push({ offset: ev.offset, stream: ev.stream, data: outputText(ev.bytes) });
        }
        break;
      }
    }
    this.#arm(UI_FLUSH_MS);
  }

  #arm(ms: number): void {
    if (this.#timer === undefined && this.#clients.size > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, ms);
    }
  }

  #flush(): void {
    this.#markBatches();
    const wants = (t: UiTopic) => [...this.#clients].some((c) => c.topics.has(t));
    if ((this.#dirtyJobs.size || this.#jobsOverflow) && wants("jobs")) {
      const ids = [...this.#dirtyJobs].sort((a, b) => b - a);
      const rows = ids.slice(0, MAX_JOBS_PER_MESSAGE).flatMap((id) => {
        const row = this.#scheduler.store.getJob(id);
        return row ? [{ owner: row.owner, view: jobView(row, this.#scheduler) }] : [];
      });
      const overflow = this.#jobsOverflow || ids.length > MAX_JOBS_PER_MESSAGE;
      this.#broadcastScoped("jobs", (owner) => ({
        type: "jobs",
        jobs: rows.filter((r) => owner === undefined || r.owner === owner).map((r) => r.view),
        overflow,
      }));
    }
    this.#dirtyJobs.clear();
    this.#jobsOverflow = false;
    if (this.#agentsDirty && wants("agents")) {
      this.#broadcastScoped("agents", (owner) => this.#agents(owner));
    }
    this.#agentsDirty = false;
    for (const id of this.#dirtyDetails) {
      const msg = this.#jobMessage(id);
      if (msg) this.#broadcast(`job:${id}`, msg);
    }
    this.#dirtyDetails.clear();
    for (const [id, buf] of this.#logs) {
      const msg: UiMessage = { type: "log", job_id: id, chunks: buf.chunks, gap: buf.gap };
      this.#broadcast(`job:${id}`, this.#serialize(msg));
    }
    this.#logs.clear();
    if (this.#overviewDirty && wants("overview")) {
      const wait = this.#lastOverview + UI_OVERVIEW_MS - this.#now();
      if (wait > 0) return this.#arm(wait);
      const overview = this.#overview();
      this.#broadcastScoped("overview", (owner) => ({
        type: "overview",
        overview: this.scopeOverview(overview, owner),
      }));
    }
    this.#overviewDirty = false;
  }

  /** Marks the watched batches whose tasks changed, so their progress is sent again. */
  #markBatches(): void {
    if (this.#watchedBatches.size === 0) return;
    if (this.#jobsOverflow) {
      for (const id of this.#watchedBatches) this.#staleBatches.add(id);
    } else {
      for (const id of this.#dirtyJobs) {
        const parent = this.#scheduler.store.getJob(id)?.parent_id;
        if (parent != null && this.#watchedBatches.has(parent)) this.#staleBatches.add(parent);
      }
    }
    if (this.#staleBatches.size === 0) return;
    const wait = this.#lastBatchProgress + BATCH_PROGRESS_MS - this.#now();
    if (wait > 0) return this.#arm(wait);
    for (const id of this.#staleBatches) this.#dirtyDetails.add(id);
    this.#staleBatches.clear();
    this.#lastBatchProgress = this.#now();
  }

  #isBatch(id: number): boolean {
    const row = this.#scheduler.store.getJob(id);
    return row?.parent_id === null && JSON.parse(row.spec).completions !== undefined;
  }

  #overview() {
    this.#lastOverview = this.#now();
    return overviewSnapshot(this.#scheduler, this.#metrics);
  }

  /**
   * The overview as `owner` may see it: counts and agents are everyone's (how busy the cluster
   * is), recent failures only theirs.
   */
  scopeOverview(overview: UiOverview, owner: string | undefined): UiOverview {
    if (owner === undefined) return overview;
    const failures = overview.recent_failures.filter((j) => this.#ownerOf(j.id) === owner);
    return { ...overview, recent_failures: failures };
  }

  #agents(owner: string | undefined): UiMessage {
    const views = agentViews(this.#scheduler);
    return { type: "agents", agents: scopeAgents(views, owner, (id) => this.#ownerOf(id)) };
  }

  #ownerOf(jobId: number): string | null | undefined {
    return this.#scheduler.store.getJob(jobId)?.owner;
  }

  #jobMessage(id: number): string | null {
    const row = this.#scheduler.store.getJob(id);
    return row ? this.#serialize({ type: "job", job: jobView(row, this.#scheduler, true) }) : null;
  }

  #serialize(msg: UiMessage): string {
    return JSON.stringify(msg);
  }

  #broadcast(topic: UiTopic, data: string): void {
    for (const c of this.#clients) if (c.topics.has(topic)) this.#send(c, data);
  }

  /** Sends each subscriber of `topic` the message for its owner, built once per owner. */
  #broadcastScoped(topic: UiTopic, build: (owner: string | undefined) => UiMessage): void {
    const built = new Map<string | undefined, string>();
    for (const c of this.#clients) {
      if (!c.topics.has(topic)) continue;
      let data = built.get(c.owner);
      if (data === undefined) built.set(c.owner, data = this.#serialize(build(c.owner)));
      this.#send(c, data);
    }
  }

  #send(client: Client, data: string): void {
    if (client.socket.readyState !== WebSocket.OPEN) return;
    if (client.socket.bufferedAmount + data.length > MAX_BUFFERED_BYTES) {
      // The browser reconnects and starts again from snapshots.
      this.#leave(client);
      client.socket.close(CLOSE_TOO_SLOW, "Client too slow, reconnect");
      return;
    }
    client.socket.send(data);
  }
}

function watchedJobs(client: Client): number[] {
  return [...client.topics].flatMap((t) => t.startsWith("job:") ? [Number(t.slice(4))] : []);
}
