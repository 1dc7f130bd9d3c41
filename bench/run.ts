/**
 * `deno task bench [name...] [--quick]`: the benchmark harness of issue 7. Runs B1..B8 against
 * real server and agent processes (and simulated agents in their own process for the control
 * plane), runs the peers (BullMQ, raw Deno spawn) in the same run, round by round so drift hits
 * both alike, prints min/median/max over the runs and the targets, and rewrites
 * `bench/RESULTS.md` after a full run.
 *
 * ```
 * deno task bench                 all benchmarks and peers, 3 runs, rewrites bench/RESULTS.md
 * deno task bench b1 b3 peers     some of them (names: b1..b8, peers, peer.<name>)
 * deno task bench --quick         tiny sizes, 1 run, no BullMQ peer (unless `peers` is named)
 * flags: --runs N  --profile (server and agent CPU profiles in bench/profiles/)  --no-peers
 *        --peers-dir DIR  --out PATH (write a results file even for partial or quick runs)
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import { b1 } from "./benchmarks/b1_process_jobs.ts";
import { b2 } from "./benchmarks/b2_control_plane.ts";
import { b3 } from "./benchmarks/b3_latency.ts";
import { b4 } from "./benchmarks/b4_enqueue.ts";
import { b5 } from "./benchmarks/b5_fan_out.ts";
import { b6 } from "./benchmarks/b6_log_streaming.ts";
import { b7 } from "./benchmarks/b7_footprint.ts";
import { b8 } from "./benchmarks/b8_delayed.ts";
import { mainTakesSynchronous } from "./jobdist_procs.ts";
import { type BenchContext, type Benchmark, summarize } from "./model.ts";
import { B5_OPEN_FILES, reexecWithOpenFiles } from "./open_files.ts";
import { bullmqInstalled, DEFAULT_PEERS_DIR, peerBenchmarks } from "./peers.ts";
import { machine, markdown, type Report, revision, textTable } from "./report.ts";
import { evaluateTargets } from "./targets.ts";

const USAGE = "Usage: deno task bench [b1..b8 | peers | peer.NAME ...] [--quick] [--runs N] " +
  "[--profile] [--no-peers] [--peers-dir DIR] [--out PATH]";

/** Options of {@linkcode runHarness}. */
export interface HarnessOptions {
  /** Benchmark names; empty means all. */
  names: string[];
  quick: boolean;
  runs?: number;
  profile: boolean;
  peers: boolean;
  peersDir: string;
  /** Where to write the results (default: bench/RESULTS.md after a full, non-quick run). */
  out?: string;
  log?: (line: string) => void;
}

/** Runs the selected benchmarks; resolves with the report (also printed and written). */
export async function runHarness(options: HarnessOptions, signal: AbortSignal): Promise<Report> {
  const log = options.log ?? ((line: string) => console.error(`bench: ${line}`));
  const started = performance.now();
  const ours: Benchmark[] = [b1, b2, b3, b4, b5, b6, b7, b8];
  const peers = peerBenchmarks(options.peersDir);
  const skipped: Report["skipped"] = [];
  const wanted = (b: Benchmark) =>
    options.names.length === 0 || options.names.includes(b.name) ||
    (b.name.startsWith("peer.") && options.names.includes("peers"));
  for (const n of options.names) {
    if (n !== "peers" && ![...ours, ...peers].some((b) => b.name === n)) {
      throw new Error(`Unknown benchmark "${n}". ${USAGE}`);
    }
  }
  const selected = ours.filter(wanted);
  if (options.peers && options.quick && !isDirectory(options.peersDir)) {
    // A clone without the shared peers beside it (CI) still proves the harness runs.
    skipped.push({ name: "peers", why: `quick mode and no peers directory ${options.peersDir}` });
  } else if (options.peers) {
    for (const p of peers.filter(wanted)) {
      const needsBull = p.name.startsWith("peer.bullmq");
      const named = options.names.includes(p.name) || options.names.includes("peers");
      if (options.quick && needsBull && !named) {
        // The test suite runs --quick, maybe beside a full run: the BullMQ peer's fixed Redis
        // port (6390) must not be shared, so quick runs BullMQ only when asked by name.
        skipped.push({ name: p.name, why: "quick mode (name `peers` to run it tiny)" });
      } else if (options.quick && needsBull && !bullmqInstalled()) {
        skipped.push({ name: p.name, why: "quick mode and BullMQ/Redis not installed yet" });
      } else {
        selected.push(p);
      }
    }
  } else {
    skipped.push({ name: "peers", why: "--no-peers" });
  }

  const profileDir = new URL("./profiles", import.meta.url).pathname;
  if (options.profile) await Deno.mkdir(profileDir, { recursive: true });
  const ctx: BenchContext = {
    quick: options.quick,
    signal,
    log,
    cliHasSynchronous: await mainTakesSynchronous(),
    denoFlags: options.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
  };
  if (!ctx.cliHasSynchronous) {
    log("main.ts server has no --synchronous flag: B2's NORMAL server runs bench/server_entry.ts");
  }

  const runs = options.runs ?? (options.quick ? 1 : 3);
  const startRevision = revision();
  log(`measuring commit ${startRevision}`);
  const values = new Map<string, number[]>();
  const errors: Report["errors"] = [];
  for (let run = 1; run <= runs; run++) {
    for (const b of selected) {
      signal.throwIfAborted();
      const t0 = performance.now();
      log(`run ${run}/${runs}: ${b.name} (${b.title})...`);
      try {
        const sample = await b.run(ctx);
        for (const [k, v] of Object.entries(sample)) {
          if (!values.has(k)) values.set(k, []);
          values.get(k)!.push(v);
        }
        const shown = Object.entries(sample).map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`);
        log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s: ${shown.join(" ")}`);
      } catch (e) {
        if (signal.aborted) throw e;
        const message = e instanceof Error ? e.message : String(e);
        errors.push({ name: b.name, run, message });
        log(`  FAILED: ${message}`);
      }
    }
  }

  const summaries = new Map([...values].map(([k, v]) => [k, summarize(v)]));
  const medians = new Map([...summaries].map(([k, s]) => [k, s.median]));
  const report: Report = {
    command: ["deno task bench", ...Deno.args].join(" "),
    date: new Date().toISOString(),
    machine: machine(),
    quick: options.quick,
    runs,
    benchmarks: selected,
    summaries,
    targets: evaluateTargets(medians),
    errors,
    skipped,
    seconds: (performance.now() - started) / 1000,
    revision: revision() === startRevision
      ? startRevision
      : `${startRevision}..${revision()} (src changed during the run)`,
  };
  console.log(textTable(report));

  const full = options.names.length === 0 && !options.quick && options.peers;
  const out = options.out ?? (full ? new URL("./RESULTS.md", import.meta.url).pathname : undefined);
  if (out) {
    const notesFile = new URL("./NOTES.md", import.meta.url);
    const notes = await Deno.readTextFile(notesFile).catch(() => "");
    await Deno.writeTextFile(out, markdown(report, notes));
    log(`wrote ${out}`);
  } else {
    log("bench/RESULTS.md not rewritten (only a full run without --quick rewrites it; or --out)");
  }
  return report;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      profile: { type: "boolean", default: false },
      "no-peers": { type: "boolean", default: false },
      "peers-dir": { type: "string", default: DEFAULT_PEERS_DIR },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const wantsB5 = positionals.length === 0 || positionals.includes("b5");
  if (wantsB5 && !values.quick) {
    const code = await reexecWithOpenFiles(B5_OPEN_FILES, "JOBDIST_BENCH_NOFILE_RAISED");
    if (code !== null) Deno.exit(code);
  }
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("Benchmark interrupted"));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) {
    console.error(`Invalid --runs "${values.runs}": expected a positive integer`);
    Deno.exit(2);
  }
  try {
    const report = await runHarness({
      names: positionals,
      quick: values.quick,
      runs,
      profile: values.profile,
      peers: !values["no-peers"],
      peersDir: values["peers-dir"],
      out: values.out,
    }, controller.signal);
    Deno.exit(report.errors.length > 0 ? 1 : 0);
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}
