/**
 * B7, footprint: a server's time from spawn (`deno run -A main.ts server`) to its "listening"
 * line, and the resident memory of an idle server and an idle agent a second after they are up.
 * @module
 */

import { startJobdistServer, startRealAgent } from "../jobdist_procs.ts";
import { type Benchmark, sleep } from "../model.ts";
import { memory } from "../proc_stats.ts";

/** B7. */
export const b7: Benchmark = {
  name: "b7",
  title: "B7 footprint",
  metrics: [
    { key: "b7.ready_ms", label: "B7 server spawn -> listening", unit: "ms" },
    { key: "b7.server_mb", label: "B7 idle server RSS", unit: "MB" },
    { key: "b7.agent_mb", label: "B7 idle agent RSS", unit: "MB" },
  ],
  describe: () =>
    "fresh database; ready = spawn of `deno run -A main.ts server` to its listening line " +
    "(module cache warm); RSS (VmRSS) 1 s after the server listens / the agent is connected",
  async run(ctx) {
    await using server = await startJobdistServer({ signal: ctx.signal });
    await sleep(1_000, ctx.signal);
    const serverMb = memory(server.child.pid).rss / 1e6;
    await using agent = await startRealAgent(server, { slots: 8, signal: ctx.signal });
    await sleep(1_000, ctx.signal);
    const agentMb = memory(agent.child.pid).rss / 1e6;
    return { "b7.ready_ms": server.readyMs, "b7.server_mb": serverMb, "b7.agent_mb": agentMb };
  },
};
