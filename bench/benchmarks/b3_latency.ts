/**
 * B3, dispatch latency: single jobs submitted 10 ms apart to an idle real agent, from just
 * before the POST to the moment the job's process runs. The job is `date +%s%N`, which prints
 * the wall clock (ns) as its first act; the harness reads it back from the stored output.
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
  ],
  describe: (quick) =>
    `${size(quick)} single \`POST /api/v1/jobs\` of \`date +%s%N\`, ${GAP_MS} ms apart, to an ` +
    "idle real agent with 8 slots; latency = the time the process prints minus the time " +
    "before the POST (same host clock)",
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
      const text = (await new Response(await server.client.logs(id, { stream: "stdout" })).text())
        .trim();
      if (!/^\d+$/.test(text)) throw new Error(`Job ${id} printed ${JSON.stringify(text)}`);
      const startedMs = Number(BigInt(text) / 1000n) / 1000;
      latencies.push(startedMs - at);
    }
    latencies.sort((a, b) => a - b);
    return { "b3.p50": percentile(latencies, 0.5), "b3.p99": percentile(latencies, 0.99) };
  },
};
