/**
 * B4, batch enqueue: `POST /api/v1/jobs:batch` with 1,000 jobs each, one after another, to a
 * server with no agents; every answer means the batch is durable (fsynced).
 * @module
 */

import { startJobdistServer } from "../jobdist_procs.ts";
import { submitInBatches } from "../load.ts";
import type { Benchmark } from "../model.ts";

const size = (quick: boolean) => (quick ? 2_000 : 50_000);

/** B4. */
export const b4: Benchmark = {
  name: "b4",
  title: "B4 batch enqueue",
  metrics: [{ key: "b4.jobs_per_s", label: "B4 durable batch enqueue", unit: "jobs/s" }],
  describe: (quick) =>
    `${size(quick)} jobs as sequential \`POST /api/v1/jobs:batch\` of 1,000, no agents`,
  async run(ctx) {
    const n = size(ctx.quick);
    await using server = await startJobdistServer({
      signal: ctx.signal,
      denoFlags: ctx.denoFlags,
    });
    const t0 = performance.now();
    await submitInBatches(server.client, n, { command: ["true"] }, { signal: ctx.signal });
    return { "b4.jobs_per_s": n / ((performance.now() - t0) / 1000) };
  },
};
