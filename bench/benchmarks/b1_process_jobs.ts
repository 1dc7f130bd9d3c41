/**
 * B1, end-to-end process jobs: `true` jobs submitted over HTTP in batches of 1,000 while one
 * real agent with 8 slots runs them (output captured: stdout and stderr piped), timed from the
 * first submission until every result is stored.
 * @module
 */

import { startJobdistServer, startRealAgent } from "../jobdist_procs.ts";
import { assertAllSucceeded, submitInBatches, waitAllFinished } from "../load.ts";
import type { Benchmark } from "../model.ts";
import { CpuMeter } from "../proc_stats.ts";

const size = (quick: boolean) => (quick ? 200 : 20_000);

/** B1. */
export const b1: Benchmark = {
  name: "b1",
  title: "B1 end-to-end process jobs",
  metrics: [
    { key: "b1.jobs_per_s", label: "B1 `true` jobs, 1 real agent x 8 slots", unit: "jobs/s" },
    { key: "b1.server_cpu", label: "B1 server CPU during the run", unit: "% of a core" },
    { key: "b1.agent_cpu", label: "B1 agent CPU during the run", unit: "% of a core" },
  ],
  describe: (quick) =>
    `${size(quick)} \`{"command":["true"]}\` jobs, batches of 1,000 over HTTP, one real agent ` +
    "(`main.ts agent --slots 8`), from the first POST until no job is unfinished",
  async run(ctx) {
    const n = size(ctx.quick);
    await using server = await startJobdistServer({
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    await using agent = await startRealAgent(server, {
      slots: 8,
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    const serverCpu = new CpuMeter(server.child.pid);
    const agentCpu = new CpuMeter(agent.child.pid);
    serverCpu.start();
    agentCpu.start();
    const t0 = performance.now();
    await submitInBatches(server.client, n, { command: ["true"] }, { signal: ctx.signal });
    await waitAllFinished(server.client, { signal: ctx.signal });
    const ms = performance.now() - t0;
    const s = serverCpu.stop(), a = agentCpu.stop();
    await assertAllSucceeded(server.client);
    return {
      "b1.jobs_per_s": n / (ms / 1000),
      "b1.server_cpu": s.percent,
      "b1.agent_cpu": a.percent,
    };
  },
};
