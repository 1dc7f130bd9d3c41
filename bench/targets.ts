/**
 * The targets of issue 7, each a ratio of medians measured in the same run.
 * @module
 */

/** A target checked against the medians of one run. */
export interface TargetResult {
  bench: string;
  /** What is compared, e.g. `B1 / raw Deno spawn`. */
  what: string;
  /** The measured ratio or value. */
  value: number;
  /** `>= goal` or `<= goal`. */
  op: ">=" | "<=";
  goal: number;
  unit: "x" | "ms" | "MB" | "%";
  /** `undefined` when an input is missing (benchmark skipped or failed). */
  met: boolean | undefined;
}

/** Evaluates every target whose inputs are in `medians` (by metric key). */
export function evaluateTargets(medians: Map<string, number>): TargetResult[] {
  const m = (k: string) => medians.get(k) ?? NaN;
  const out: TargetResult[] = [];
  const add = (
    bench: string,
    what: string,
    value: number,
    op: ">=" | "<=",
    goal: number,
    unit: TargetResult["unit"],
  ) => {
    const met = Number.isFinite(value) ? (op === ">=" ? value >= goal : value <= goal) : undefined;
    out.push({ bench, what, value, op, goal, unit, met });
  };
  add("B1", "B1 / raw Deno spawn rate", m("b1.jobs_per_s") / m("peer.deno_spawn"), ">=", 0.7, "x");
  add(
    "B1",
    "B1 / BullMQ spawn throughput",
    m("b1.jobs_per_s") / m("peer.bullmq_spawn"),
    ">=",
    2,
    "x",
  );
  add(
    "B2",
    "B2 FULL / BullMQ no-op throughput",
    m("b2.full") / m("peer.bullmq_noop"),
    ">=",
    1.2,
    "x",
  );
  add("B2", "B2 FULL / B2 NORMAL", m("b2.full") / m("b2.normal"), ">=", 0.9, "x");
  add("B3", "B3 p50 / BullMQ p50", m("b3.p50") / m("peer.bullmq_p50"), "<=", 1, "x");
  add("B3", "B3 p99 / BullMQ p99", m("b3.p99") / m("peer.bullmq_p99"), "<=", 1, "x");
  add("B4", "B4 / BullMQ add_jobs_per_s", m("b4.jobs_per_s") / m("peer.bullmq_add"), ">=", 1, "x");
  add("B5", "B5 / B2 FULL throughput", m("b5.jobs_per_s") / m("b2.full"), ">=", 0.5, "x");
  add("B5", "B5 peak server RSS", m("b5.rss_mb"), "<=", 400, "MB");
  add("B5", "B5 idle server CPU", m("b5.idle_cpu"), "<=", 10, "%");
  add(
    "B6",
    "B6 / Deno alone reading the pipe",
    m("b6.mib_per_s") / m("b6.baseline"),
    ">=",
    0.5,
    "x",
  );
  add("B7", "B7 server ready", m("b7.ready_ms"), "<=", 300, "ms");
  add("B7", "B7 idle server RSS", m("b7.server_mb"), "<=", 80, "MB");
  add("B7", "B7 idle agent RSS", m("b7.agent_mb"), "<=", 60, "MB");
  add("B8", "B8 lateness p99 / setTimeout p99", m("b8.p99") / m("b8.timeout_p99"), "<=", 2, "x");
  add("B8", "B8 rebuild / plain SELECT", m("b8.rebuild_ms") / m("b8.select_ms"), "<=", 1.5, "x");
  return out;
}
