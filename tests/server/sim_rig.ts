/**
 * A scheduler with simulated agents, for control-plane tests: agents are links that record the
 * frames they are sent, and tests answer for them (`start`, `finish`) through the same
 * `onAgentMessage` the WebSocket hub calls.
 * @module
 */

import { AgentRegistry, type AgentState } from "../../src/server/agent_registry.ts";
import { EventBus } from "../../src/server/events.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { openStore, type Store } from "../../src/server/store.ts";
import {
  type JobSpecInput,
  parseJobSpec,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../src/protocol/mod.ts";

/** A simulated agent. */
export interface SimAgent {
  state: AgentState;
  frames: ServerMessage[];
  /** Attempt ids leased to it and not yet finished, in assign order. */
  held: string[];
  /** The most attempts it held at once. */
  peak: number;
}

/** A scheduler over a store, with simulated agents. */
export class Rig {
  readonly store: Store;
  readonly events = new EventBus();
  readonly agents: AgentRegistry;
  readonly scheduler: Scheduler;
  readonly sims = new Map<string, SimAgent>();
  clock: number;

  constructor(path = ":memory:", start = Date.parse("2026-11-23T12:00:00Z")) {
    this.clock = start;
    this.store = openStore(path);
    this.agents = new AgentRegistry({ store: this.store, events: this.events });
    this.scheduler = new Scheduler({
      store: this.store,
      events: this.events,
      agents: this.agents,
      now: () => this.clock,
      random: () => 0.5,
    });
  }

  /** Connects a simulated agent with `slots` slots. */
  connect(name: string, slots = 1, labels: Record<string, string> = {}): SimAgent {
    const sim: SimAgent = { state: undefined!, frames: [], held: [], peak: 0 };
    sim.state = this.agents.connect({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      agent_id: `id-${name}`,
      name,
      labels,
      runtimes: [],
      slots,
      version: "test",
      inventory: [],
    }, {
      send: (text) => {
        const msg = JSON.parse(text) as ServerMessage;
        sim.frames.push(msg);
        if (msg.type === "assign") {
          sim.held.push(msg.attempt_id);
          sim.peak = Math.max(sim.peak, sim.held.length);
        }
      },
      close() {},
    });
    this.sims.set(name, sim);
    this.scheduler.kick();
    return sim;
  }

  /** Submits specs in one transaction. */
  async submit(...specs: JobSpecInput[]) {
    return await this.scheduler.submitMany(specs.map((s) => parseJobSpec(s)));
  }

  /** Lets queued microtasks and the group commit run. */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
  }

  /** Reports attempt `attemptId` of `sim` started and then exited with `code`. */
  finish(sim: SimAgent, attemptId: string, code: number): void {
    sim.held = sim.held.filter((id) => id !== attemptId);
    this.scheduler.onAgentMessage(sim.state, { type: "started", attempt_id: attemptId, pid: 1 });
    this.scheduler.onAgentMessage(sim.state, {
      type: "finished",
      attempt_id: attemptId,
      log_seq: 0,
      result: {
        exit_code: code,
        signal: null,
        duration_ms: 1,
        killed_by: null,
        error: null,
        truncated_bytes: 0,
      },
    });
  }

  /** Finishes what every agent holds now with `code(jobId)`; returns whether any was held. */
  async step(code: (jobId: number) => number = () => 0): Promise<boolean> {
    await this.settle();
    const busy = [...this.sims.values()].filter((s) => s.held.length);
    for (const sim of busy) {
      for (const id of [...sim.held]) this.finish(sim, id, code(Number(id.split(".")[0])));
    }
    return busy.length > 0;
  }

  /** Steps until nothing is held. */
  async drain(code: (jobId: number) => number = () => 0): Promise<void> {
    for (let i = 0; i < 10_000; i++) if (!await this.step(code)) return;
    throw new Error("agents still busy after drain()");
  }

  state(id: number): string {
    return this.store.getJob(id)!.state;
  }

  close(): void {
    this.scheduler.stop();
    this.store.close();
  }
}
