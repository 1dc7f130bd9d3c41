/**
 * B2, control plane: no-op jobs through simulated agents (8 agents x 50 slots, a separate
 * process speaking the real protocol), with the store's `synchronous=FULL` and, in the same
 * run, `NORMAL` for comparison. Timed from the first batch POST until the last result is
 * acknowledged to an agent (acknowledgements wait for the commit).
 * @module
 */

import { startJobdistServer } from "../jobdist_procs.ts";
import { startSimAgents, submitInBatches } from "../load.ts";
import type { BenchContext, Benchmark, Sample } from "../model.ts";
import { CpuMeter, wallMs } from "../proc_stats.ts";

const size = (quick: boolean) => (quick ? 2_000 : 50_000);

/** Throughput of `n` no-op jobs through `agents` x `slots` simulated agents. */
export async function controlPlaneRun(
  ctx: BenchContext,
  options: {
    n: number;
    agents: number;
    slots: number;
    synchronous: "FULL" | "NORMAL";
    /** Wait before the load, e.g. to measure idle CPU; gets the server's pid. */
    beforeLoad?: (serverPid: number) => Promise<Sample>;
    /**
     * Time allowed for the load; past it the rate counts the results acknowledged so far and
     * `done_pct` says how many that was.
     */
    timeLimitMs?: number;
    /** Called once the load is done, before the server stops; gets the server's pid. */
    afterLoad?: (serverPid: number) => Sample;
  },
): Promise<
  Sample & { jobs_per_s: number; server_cpu: number; sim_cpu: number; done_pct: number }
> {
  await using server = await startJobdistServer({
    synchronous: options.synchronous,
    cliHasSynchronous: ctx.cliHasSynchronous,
    signal: ctx.signal,
    denoFlags: ctx.denoFlags,
  });
  const url = server.url.replace(/^http/, "ws") + "/ws/agent";
  await using sim = await startSimAgents({
    url,
    agents: options.agents,
    slots: options.slots,
    prefix: `sim-${crypto.randomUUID().slice(0, 6)}`,
    expect: options.n,
  }, { signal: ctx.signal });
  const extra = options.beforeLoad ? await options.beforeLoad(server.child.pid) : {};
  const serverCpu = new CpuMeter(server.child.pid);
  const simCpu = new CpuMeter(sim.child.pid);
  serverCpu.start();
  simCpu.start();
  const t0 = wallMs();
  await submitInBatches(server.client, options.n, { command: ["true"] }, { signal: ctx.signal });
  let acked = options.n, lastAck: number;
  try {
    const done = await sim.done(options.timeLimitMs);
    if (done.rejected > 0) throw new Error(`${done.rejected} results were rejected`);
    lastAck = done.last_ack;
  } catch (e) {
    const p = sim.progress();
    if (!options.timeLimitMs || !p) throw e;
    ctx.log(`  time limit reached with ${p.acked} of ${options.n} results; rate counts those`);
    acked = p.acked;
    lastAck = p.last_ack;
  }
  const s = serverCpu.stop(), a = simCpu.stop();
  return {
    ...extra,
    ...options.afterLoad?.(server.child.pid),
    done_pct: (100 * acked) / options.n,
    jobs_per_s: acked / ((lastAck - t0) / 1000),
    server_cpu: s.percent,
    sim_cpu: a.percent,
  };
}

/** B2. */
export const b2: Benchmark = {
  name: "b2",
  title: "B2 control plane",
  metrics: [
    { key: "b2.full", label: "B2 no-op jobs, 8 sim agents x 50 slots, FULL", unit: "jobs/s" },
    { key: "b2.normal", label: "B2 the same with synchronous=NORMAL", unit: "jobs/s" },
    { key: "b2.server_cpu", label: "B2 server CPU (FULL)", unit: "% of a core" },
    { key: "b2.sim_cpu", label: "B2 simulated agents' CPU (FULL)", unit: "% of a core" },
  ],
  describe: (quick) =>
    `${size(quick)} no-op jobs submitted in batches of 1,000 while 8 simulated agents x 50 ` +
    "slots (one separate process) answer each `assign` with `started` + `finished`; from the " +
    "first POST to the last `ack`. FULL and NORMAL alternate within each run",
  async run(ctx) {
    const n = size(ctx.quick);
    const full = await controlPlaneRun(ctx, { n, agents: 8, slots: 50, synchronous: "FULL" });
    const normal = await controlPlaneRun(ctx, { n, agents: 8, slots: 50, synchronous: "NORMAL" });
    return {
      "b2.full": full.jobs_per_s,
      "b2.normal": normal.jobs_per_s,
      "b2.server_cpu": full.server_cpu,
      "b2.sim_cpu": full.sim_cpu,
    };
  },
};
