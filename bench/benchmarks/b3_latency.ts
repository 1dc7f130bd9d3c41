/**
 * B3, dispatch latency: single jobs submitted 10 ms apart to an idle real agent, from just
 * before the POST to the moment the job's process runs. The job is `date +%s%N`, which prints
 * the wall clock (ns) as its first act; the harness reads it back from the stored output. The
 * same probe started by a bare `Deno.Command` in the harness, measured the same way, gives the
 * part of the latency that is the process starting (exec, the dynamic linker, `date` itself),
 * which no dispatcher can take away: BullMQ's peer measures until a function is called.
 * @module
 */

import { startJobdistServer, startRealAgent } from "../jobdist_procs.ts";
import { waitAllFinished } from "../load.ts";
import { type Benchmark, percentile, sleep } from "../model.ts";
import { wallMs } from "../proc_stats.ts";

const size = (quick: boolean) => (quick ? 20 : 500);
const GAP_MS = 10;

/** B3. */
export const b3: Benchmark = {
  name: "b3",
  title: "B3 dispatch latency",
  metrics: [
    { key: "b3.p50", label: "B3 submit -> process start, p50", unit: "ms", digits: 2 },
    { key: "b3.p99", label: "B3 submit -> process start, p99", unit: "ms", digits: 2 },
    {
      key: "b3.probe_p50",
      label: "B3 the probe alone: spawn -> it prints, p50",
      unit: "ms",
      digits: 2,
    },
    {
      key: "b3.probe_p99",
      label: "B3 the probe alone: spawn -> it prints, p99",
      unit: "ms",
      digits: 2,
    },
  ],
  describe: (quick) =>
    `${size(quick)} single \`POST /api/v1/jobs\` of \`date +%s%N\`, ${GAP_MS} ms apart, to an ` +
    "idle real agent with 8 slots; latency = the time the process prints minus the time " +
    "before the POST (same host clock); the probe alone: the same command started " +
    `${size(quick)} times, ${GAP_MS} ms apart, by \`Deno.Command\` in the harness, from just ` +
    "before the spawn",
  async run(ctx) {
    const m = size(ctx.quick);
    await using server = await startJobdistServer({
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    await using _agent = await startRealAgent(server, {
      slots: 8,
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    await sleep(500, ctx.signal);
    const sent: Array<{ id: number; at: number }> = [];
    for (let i = 0; i < m; i++) {
      const at = wallMs();
      const job = await server.client.submit({ command: ["date", "+%s%N"] });
      sent.push({ id: job.id, at });
      await sleep(GAP_MS, ctx.signal);
    }
    await waitAllFinished(server.client, { signal: ctx.signal });
    const latencies: number[] = [];
    for (const { id, at } of sent) {
      const text = await new Response(await server.client.logs(id, { stream: "stdout" })).text();
      latencies.push(printedMs(text) - at);
    }
    latencies.sort((a, b) => a - b);
    const probe = await probeAlone(m, ctx.signal);
    return {
      "b3.p50": percentile(latencies, 0.5),
      "b3.p99": percentile(latencies, 0.99),
      "b3.probe_p50": percentile(probe, 0.5),
      "b3.probe_p99": percentile(probe, 0.99),
    };
  },
};

/** Latencies (ms, sorted) of `m` bare starts of the probe, from just before the spawn. */
async function probeAlone(m: number, signal: AbortSignal): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < m; i++) {
    const at = wallMs();
    const out = await new Deno.Command("date", { args: ["+%s%N"], stdout: "piped" }).output();
    latencies.push(printedMs(new TextDecoder().decode(out.stdout)) - at);
    await sleep(GAP_MS, signal);
  }
  return latencies.sort((a, b) => a - b);
}

function printedMs(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new Error(`The probe printed ${JSON.stringify(text)}`);
  return Number(BigInt(text.trim()) / 1000n) / 1000;
}
