/**
 * The peers measured side by side in the same run: BullMQ on Redis (`bullmq.sh`) and the raw
 * `Deno.Command` spawn rate (`spawn_deno.ts`), from the shared peers directory (`../shared/peers`
 * next to the repository, or `--peers-dir`).
 * @module
 */

import { spawnChild } from "./child.ts";
import type { BenchContext, Benchmark, Sample } from "./model.ts";

/** Where the peer scripts are by default. */
export const DEFAULT_PEERS_DIR = new URL("../../shared/peers", import.meta.url).pathname;

/** Whether BullMQ and Redis are installed already (`bullmq.sh` installs them on first use). */
export function bullmqInstalled(): boolean {
  const home = Deno.env.get("HOME") ?? "";
  const work = Deno.env.get("JOBDIST_PEERS_DIR") ?? `${home}/.cache/jobdist-peers`;
  try {
    Deno.statSync(`${work}/node_modules/bullmq`);
    return new Deno.Command("sh", { args: ["-c", "command -v redis-server"] }).outputSync()
      .success;
  } catch {
    return false;
  }
}

async function runPeer(
  ctx: BenchContext,
  name: string,
  program: string,
  args: string[],
): Promise<Record<string, number>> {
  const child = spawnChild(name, args, { program, signal: ctx.signal, group: true });
  const status = await child.status;
  await child.stop();
  const last = child.lines("stdout").filter((l) => l.startsWith("{")).at(-1);
  if (!status.success || !last) {
    throw new Error(`${name} failed (exit ${status.code}):\n${child.tail()}`);
  }
  return JSON.parse(last);
}

/** The peer benchmarks, reading scripts from `dir`. */
export function peerBenchmarks(dir: string): Benchmark[] {
  const bull = (ctx: BenchContext, name: string, args: string[]) =>
    runPeer(ctx, name, "bash", [`${dir}/bullmq.sh`, ...args]);
  const pick = (r: Record<string, number>, map: Record<string, string>): Sample =>
    Object.fromEntries(Object.entries(map).map(([key, field]) => [key, Number(r[field])]));
  return [
    {
      name: "peer.deno_spawn",
      title: "raw Deno.Command spawn",
      metrics: [{
        key: "peer.deno_spawn",
        label: 'peer: raw `Deno.Command("true")`, K=8',
        unit: "spawns/s",
      }],
      describe: (quick) => `\`deno run -A spawn_deno.ts ${quick ? 200 : 20_000} 8\``,
      async run(ctx) {
        const n = ctx.quick ? 200 : 20_000;
        const r = await runPeer(ctx, "spawn_deno.ts", Deno.execPath(), [
          "run",
          "-A",
          `${dir}/spawn_deno.ts`,
          String(n),
          "8",
        ]);
        return pick(r, { "peer.deno_spawn": "spawns_per_s" });
      },
    },
    {
      name: "peer.bullmq_spawn",
      title: "BullMQ spawn throughput",
      metrics: [{
        key: "peer.bullmq_spawn",
        label: "peer: BullMQ jobs spawning `true`, conc 8",
        unit: "jobs/s",
      }],
      describe: (quick) => `\`bullmq.sh throughput spawn ${quick ? 200 : 20_000} 8\``,
      async run(ctx) {
        const r = await bull(ctx, "bullmq spawn", [
          "throughput",
          "spawn",
          String(ctx.quick ? 200 : 20_000),
          "8",
        ]);
        return pick(r, { "peer.bullmq_spawn": "completed_per_s" });
      },
    },
    {
      name: "peer.bullmq_noop",
      title: "BullMQ no-op throughput",
      metrics: [
        { key: "peer.bullmq_noop", label: "peer: BullMQ no-op jobs, conc 50", unit: "jobs/s" },
        { key: "peer.bullmq_add", label: "peer: BullMQ addBulk of 1,000", unit: "jobs/s" },
      ],
      describe: (quick) => `\`bullmq.sh throughput noop ${quick ? 2_000 : 50_000} 50\``,
      async run(ctx) {
        const r = await bull(ctx, "bullmq noop", [
          "throughput",
          "noop",
          String(ctx.quick ? 2_000 : 50_000),
          "50",
        ]);
        return pick(r, {
          "peer.bullmq_noop": "completed_per_s",
          "peer.bullmq_add": "add_jobs_per_s",
        });
      },
    },
    {
      name: "peer.bullmq_latency",
      title: "BullMQ latency",
      metrics: [
        {
          key: "peer.bullmq_p50",
          label: "peer: BullMQ add -> processor start, p50",
          unit: "ms",
          digits: 2,
        },
        {
          key: "peer.bullmq_p99",
          label: "peer: BullMQ add -> processor start, p99",
          unit: "ms",
          digits: 2,
        },
      ],
      describe: (quick) => `\`bullmq.sh latency ${quick ? 20 : 500} 10\``,
      async run(ctx) {
        const r = await bull(ctx, "bullmq latency", [
          "latency",
          String(ctx.quick ? 20 : 500),
          "10",
        ]);
        return pick(r, { "peer.bullmq_p50": "p50_ms", "peer.bullmq_p99": "p99_ms" });
      },
    },
  ];
}
