/**
 * The flags `submit` and `run` share, and how they become a job spec.
 * @module
 */

import type { JobSpecInput } from "../protocol/mod.ts";
import { type Flag, intFlag, type ParsedArgs, parsePairs, UsageError } from "./flags.ts";

/** Flags that describe a job. */
export const SPEC_FLAGS: Flag[] = [
  { name: "shell", type: "string", value: "SCRIPT", help: "run SCRIPT with /bin/sh -c" },
  {
    name: "runtime",
    short: "r",
    type: "string",
    value: "NAME",
    help:
      "runtime of the script given by --file or --code (python, node, deno, java, go, bash, ...)",
  },
  {
    name: "file",
    short: "f",
    type: "string",
    value: "PATH",
    help: "script file to send (with --runtime; guessed from the extension if not given)",
  },
  {
    name: "code",
    short: "e",
    type: "string",
    value: "SOURCE",
    help: "inline script source (with --runtime)",
  },
  {
    name: "spec",
    type: "string",
    value: "FILE",
    help: "read the whole job spec as JSON from FILE (- for stdin)",
  },
  { name: "name", type: "string", value: "NAME", help: "job name" },
  { name: "queue", short: "q", type: "string", value: "QUEUE", help: "queue (default: default)" },
  {
    name: "priority",
    short: "p",
    type: "string",
    value: "N",
    help: "priority, higher runs first (-1000..1000)",
  },
  {
    name: "env",
    type: "string",
    multiple: true,
    value: "K=V",
    help: "environment variable for the job",
  },
  { name: "cwd", type: "string", value: "DIR", help: "working directory on the agent" },
  {
    name: "timeout",
    type: "string",
    value: "DURATION",
    help: "time limit of each attempt, e.g. 90s",
  },
  {
    name: "attempts",
    type: "string",
    value: "N",
    help: "attempts before the job fails (max_attempts)",
  },
  { name: "delay", type: "string", value: "DURATION", help: "run after DURATION" },
  { name: "run-at", type: "string", value: "TIME", help: "run at an RFC 3339 instant" },
  {
    name: "label",
    short: "l",
    type: "string",
    multiple: true,
    value: "K=V",
    help: "only on agents with this label",
  },
  {
    name: "idempotency-key",
    type: "string",
    value: "KEY",
    help: "return the existing job if KEY was used before",
  },
  { name: "tag", type: "string", multiple: true, value: "TAG", help: "tag for filtering" },
  {
    name: "after",
    type: "string",
    multiple: true,
    value: "ID",
    help: "run only once job ID succeeded (repeat or comma-separate for several)",
  },
  { name: "slots", type: "string", value: "N", help: "agent slots the job takes (default 1)" },
  {
    name: "concurrency-key",
    type: "string",
    value: "KEY",
    help: "at most --concurrency-limit jobs with KEY run at once",
  },
  {
    name: "concurrency-limit",
    type: "string",
    value: "N",
    help: "jobs with the same --concurrency-key that may run at once (default 1)",
  },
  {
    name: "completions",
    type: "string",
    value: "N",
    help: "a batch of N tasks, each with JOBDIST_INDEX 0..N-1",
  },
  {
    name: "parallelism",
    type: "string",
    value: "N",
    help: "tasks of the batch that may run at once (default 1)",
  },
  {
    name: "backoff-limit",
    type: "string",
    value: "N",
    help: "failed attempts of all tasks together past which the batch fails",
  },
  {
    name: "success-count",
    type: "string",
    value: "N",
    help: "the batch succeeds once N tasks have (success_policy.succeeded_count)",
  },
  {
    name: "webhook",
    type: "string",
    value: "URL",
    help: "POST the job, signed, to URL when it finishes (http or https)",
  },
];

const EXT_RUNTIME: Record<string, string> = {
  py: "python",
  js: "node",
  mjs: "node",
  ts: "deno",
  java: "java",
  go: "go",
  sh: "bash",
  bash: "bash",
};

/** Builds a job spec from flags and the positionals after `--` (an argv job). */
export async function specFromArgs(args: ParsedArgs): Promise<JobSpecInput> {
  const specFile = args.str("spec");
  let spec: Record<string, unknown> = {};
  if (specFile !== undefined) {
    const text = specFile === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await readText(specFile);
    try {
      spec = JSON.parse(text);
    } catch {
      throw new UsageError(`Invalid --spec ${specFile}: not valid JSON`);
    }
    if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
      throw new UsageError(`Invalid --spec ${specFile}: expected a JSON object`);
    }
  }
  const shell = args.str("shell");
  const file = args.str("file");
  const code = args.str("code");
  let runtime = args.str("runtime");
  const argv = args.positionals;
  const kinds = [shell !== undefined, file !== undefined || code !== undefined, argv.length > 0]
    .filter(Boolean).length;
  if (kinds > 1) {
    throw new UsageError("Give only one of --shell, --file/--code, or a command after --");
  }
  if (kinds === 0 && specFile === undefined) {
    throw new UsageError(
      "Nothing to run: give --shell, --runtime with --file or --code, or a command after --",
    );
  }
  if (file !== undefined && code !== undefined) {
    throw new UsageError("Give --file or --code, not both");
  }
  if (shell !== undefined) spec.shell = shell;
  if (argv.length) spec.command = argv;
  if (file !== undefined || code !== undefined) {
    const ext = file?.split(".").pop() ?? "";
    runtime ??= Object.hasOwn(EXT_RUNTIME, ext) ? EXT_RUNTIME[ext] : undefined;
    if (!runtime) throw new UsageError("Give --runtime NAME for the script");
    spec.script = { runtime, source: code ?? await readText(file!) };
  } else if (runtime !== undefined) {
    spec.requires = { ...(spec.requires as object ?? {}), runtimes: [runtime] };
  }
  const set = (key: string, value: unknown) => {
    if (value !== undefined) spec[key] = value;
  };
  set("name", args.str("name"));
  set("queue", args.str("queue"));
  set("priority", intFlag(args.str("priority"), "priority", -1000, 1000));
  set("cwd", args.str("cwd"));
  set("timeout", args.str("timeout"));
  set("max_attempts", intFlag(args.str("attempts"), "attempts", 1, 100));
  set("delay", args.str("delay"));
  set("run_at", args.str("run-at"));
  set("idempotency_key", args.str("idempotency-key"));
  const after = args.list("after").flatMap((a) => a.split(",")).filter(Boolean);
  if (after.length) {
    spec.after = after.map((id) => intFlag(id.trim(), "after", 1, Number.MAX_SAFE_INTEGER));
  }
  set("slots", intFlag(args.str("slots"), "slots", 1, 1024));
  set("concurrency_key", args.str("concurrency-key"));
  set("concurrency_limit", intFlag(args.str("concurrency-limit"), "concurrency-limit", 1, 100_000));
  set("completions", intFlag(args.str("completions"), "completions", 1, 100_000));
  set("parallelism", intFlag(args.str("parallelism"), "parallelism", 1, 10_000));
  set("backoff_limit", intFlag(args.str("backoff-limit"), "backoff-limit", 0, 1_000_000));
  const successCount = intFlag(args.str("success-count"), "success-count", 1, 100_000);
  if (successCount !== undefined) spec.success_policy = { succeeded_count: successCount };
  const webhook = args.str("webhook");
  if (webhook !== undefined) spec.webhook = { ...(spec.webhook as object ?? {}), url: webhook };
  const env = args.list("env");
  if (env.length) spec.env = { ...(spec.env as object ?? {}), ...parsePairs(env, "--env") };
  const labels = args.list("label");
  if (labels.length) {
    const requires = (spec.requires ?? {}) as Record<string, unknown>;
    spec.requires = {
      ...requires,
      labels: { ...(requires.labels ?? {}), ...parsePairs(labels, "--label") },
    };
  }
  const tags = args.list("tag");
  if (tags.length) spec.tags = tags;
  return spec as JobSpecInput;
}

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`Cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
}
