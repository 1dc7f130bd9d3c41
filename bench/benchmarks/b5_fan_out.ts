/**
 * B5, fan-out: 5,000 simulated agents (1 slot each) connect and heartbeat; the server's idle
 * CPU is measured over a window once heartbeats are steady, then the B2 load runs through all
 * of them. Peak server RSS is the kernel's high-water mark (VmHWM) at the end.
 * @module
 */

import type { Benchmark } from "../model.ts";
import { sleep } from "../model.ts";
import { CpuMeter, memory } from "../proc_stats.ts";
import { B5_OPEN_FILES, requireOpenFiles } from "../open_files.ts";
import { controlPlaneRun } from "./b2_control_plane.ts";

const sizes = (quick: boolean) =>
  quick
    ? { agents: 100, jobs: 2_000, settleMs: 500, idleMs: 1_000, limitMs: 30_000 }
    : { agents: 5_000, jobs: 50_000, settleMs: 6_000, idleMs: 10_000, limitMs: 90_000 };

/** B5. */
export const b5: Benchmark = {
  name: "b5",
  title: "B5 fan-out",
  metrics: [
    { key: "b5.jobs_per_s", label: "B5 B2 load over 5,000 sim agents x 1 slot", unit: "jobs/s" },
    {
      key: "b5.idle_cpu",
      label: "B5 idle server CPU, 5,000 agents heartbeating",
      unit: "% of a core",
      digits: 1,
    },
    { key: "b5.rss_mb", label: "B5 peak server RSS", unit: "MB" },
    { key: "b5.done_pct", label: "B5 share of the jobs done within the time limit", unit: "%" },
    { key: "b5.server_cpu", label: "B5 server CPU under load", unit: "% of a core" },
    { key: "b5.sim_cpu", label: "B5 simulated agents' CPU under load", unit: "% of a core" },
    { key: "b5.connect_s", label: "B5 time to connect every agent", unit: "s", digits: 1 },
  ],
  describe: (quick) => {
    const s = sizes(quick);
    return `${s.agents} simulated agents x 1 slot (one separate process, heartbeat every 5 s as ` +
      `the server asks); idle CPU over ${s.idleMs / 1000} s after ${s.settleMs / 1000} s of ` +
      `settling; then ${s.jobs} no-op jobs as in B2 (rate over the results acknowledged ` +
      `within ${s.limitMs / 1000} s if not all are)`;
  },
  async run(ctx) {
    const s = sizes(ctx.quick);
    // The server and the simulator each hold one socket per agent, plus files and pipes.
    requireOpenFiles(Math.min(B5_OPEN_FILES, s.agents + 1_000));
    let idle = 0;
    const t0 = performance.now();
    let connectS = 0;
    const r = await controlPlaneRun(ctx, {
      n: s.jobs,
      agents: s.agents,
      slots: 1,
      synchronous: "FULL",
      timeLimitMs: s.limitMs,
      beforeLoad: async (pid) => {
        connectS = (performance.now() - t0) / 1000;
        await sleep(s.settleMs, ctx.signal);
        const cpu = new CpuMeter(pid);
        cpu.start();
        await sleep(s.idleMs, ctx.signal);
        idle = cpu.stop().percent;
        return {};
      },
      afterLoad: (pid) => ({ rss: memory(pid).hwm }),
    });
    return {
      "b5.jobs_per_s": r.jobs_per_s,
      "b5.idle_cpu": idle,
      "b5.rss_mb": r.rss / 1e6,
      "b5.connect_s": connectS,
      "b5.done_pct": r.done_pct,
      "b5.server_cpu": r.server_cpu,
      "b5.sim_cpu": r.sim_cpu,
    };
  },
};
