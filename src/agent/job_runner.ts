/**
 * Runs one attempt: prepares its private directory and environment, starts the process,
 * streams its output in order (capped), enforces its timeout and cancels it on request. The
 * process wrapper (`process.ts`) knows how to spawn and kill; this module knows why.
 * @module
 */

import type { Assignment, AttemptResult } from "../protocol/mod.ts";
import { DEFAULT_MAX_LINE } from "../protocol/constants.ts";
import { LOG_CHUNK_BYTES } from "../protocol/agent_frames.ts";
import type { JobPolicy, RunAs } from "./isolation.ts";
import { Masker } from "./mask.ts";
import type { PosixSpawner } from "./posix_spawn.ts";
import { JobProcess } from "./process.ts";
import { findProgram, type RuntimeTable } from "./runtimes.ts";
import { WorkDirs } from "./work_dirs.ts";

/** Why an attempt is being stopped. */
export type StopReason = "timeout" | "cancelled" | "stale" | "drain" | "output_limit";

/** What the runner reports while it runs. */
export interface RunnerCallbacks {
  /** The process started. */
  onStart(pid: number): void;
  /**
   * A piece of output (bytes, cut only between UTF-8 characters, secrets masked), in order; the
   * runner waits while the returned promise is pending.
   */
  onOutput(stream: "stdout" | "stderr", data: Uint8Array): void | Promise<void>;
}

/** Options of {@linkcode JobRunner}. */
export interface JobRunnerOptions {
  runtimes: RuntimeTable;
  /** Agent-wide environment the job inherits (already stripped of the agent's secrets). */
  baseEnv: Record<string, string>;
  /** Marker for this attempt's processes (see `process.ts`). */
  marker: string;
  /** Where the per-attempt directory comes from (default: made when needed in the temp dir). */
  dirs?: WorkDirs;
  /** Path of `setsid(1)`, see `process.ts` (default: spawn detached). */
  setsid?: string | null;
  /** Start jobs with `posix_spawn` instead (see `process.ts`; default: `Deno.Command`). */
  native?: PosixSpawner | null;
  /** Run the job as this user (its directory and script are handed to it). */
  runAs?: RunAs;
  /** Which jobs the agent accepts; a refused one fails without starting a process. */
  policy?: JobPolicy;
}

const encoder = new TextEncoder();

/** One attempt of one job. */
export class JobRunner {
  readonly assignment: Assignment;
  readonly #options: JobRunnerOptions;
  readonly #callbacks: RunnerCallbacks;
  #process: JobProcess | null = null;
  #stopReason: StopReason | null = null;
  #stopRequested: (() => void) | null = null;
  readonly #stopped: Promise<void>;
  #outputBytes = 0;
  #truncated = 0;
  readonly #dirs: WorkDirs;

  constructor(assignment: Assignment, options: JobRunnerOptions, callbacks: RunnerCallbacks) {
    this.assignment = assignment;
    this.#options = options;
    this.#dirs = options.dirs ?? new WorkDirs(undefined, 0);
    this.#callbacks = callbacks;
    this.#stopped = new Promise((r) => this.#stopRequested = r);
  }

  /** The process id once started. */
  get pid(): number | null {
    return this.#process?.pid ?? null;
  }

  /** Asks the attempt to stop: TERM to its group, KILL after the grace period. */
  stop(reason: StopReason): void {
    if (this.#stopReason) return;
    this.#stopReason = reason;
    this.#stopRequested?.();
  }

  /** Runs the attempt to its end; never throws. */
  async run(): Promise<AttemptResult> {
    const started = performance.now();
    const a = this.assignment;
    let dir: string | null = null;
    try {
      const refused = this.#options.policy?.refusal(a.spec);
      if (refused) return this.#result(null, null, started, `refused by the agent: ${refused}`);
      // Sync file system calls here: each async one is a thread-pool round trip on the path
      // from assignment to a running process, and these take microseconds.
      dir = this.#dirs.take();
      this.#handOver(dir);
      const argv = this.#argv(dir);
      if (this.#stopReason) return this.#result(null, null, started, null);
      const env = this.#env();
      // Resolved here so a missing program is reported as such, not as setsid's exit code.
      const program = findProgram(argv[0], env.PATH ?? "");
      if (!program) return this.#result(null, null, started, `cannot start ${argv[0]}: not found`);
      let proc: JobProcess;
      try {
        proc = await JobProcess.spawn({
          argv: [program, ...argv.slice(1)],
          cwd: a.spec.cwd ?? dir,
          env,
          marker: this.#options.marker,
          setsid: this.#options.setsid,
          native: this.#options.native,
          uid: this.#options.runAs?.uid,
          gid: this.#options.runAs?.gid,
        });
      } catch (e) {
        const why = e instanceof Deno.errors.NotFound
          ? `cannot start ${argv[0]}: not found${
            a.spec.cwd ? ` (or cwd ${a.spec.cwd} missing)` : ""
          }`
          : `cannot start ${argv[0]}: ${e instanceof Error ? e.message : e}`;
        return this.#result(null, null, started, why);
      }
      this.#process = proc;
      this.#callbacks.onStart(proc.pid);

      let timer: ReturnType<typeof setTimeout> | undefined;
      if (a.timeout_ms !== null) timer = setTimeout(() => this.stop("timeout"), a.timeout_ms);
      const killer = this.#stopped.then(() => proc.terminate(a.kill_grace_ms));
      const pumps = Promise.all([
        this.#pump(proc.stdout, "stdout"),
        this.#pump(proc.stderr, "stderr"),
      ]);
      const status = await proc.status;
      clearTimeout(timer);
      // Whatever the job left behind dies with it; that also closes pipes it held open.
      proc.reap();
      await pumps;
      if (this.#stopReason) await killer;
      if (this.#truncated > 0) {
        await this.#callbacks.onOutput(
          "stderr",
          encoder.encode(`\n[jobdist: truncated ${this.#truncated} bytes]\n`),
        );
      }
      return this.#result(status.code, status.signal, started, null);
    } catch (e) {
      return this.#result(
        null,
        null,
        started,
        `agent error: ${e instanceof Error ? e.message : e}`,
      );
    } finally {
      this.#process?.reap(this.#stopReason !== null);
      if (dir) await this.#dirs.release(dir);
    }
  }

  #result(
    code: number | null,
    signal: string | null,
    started: number,
    error: string | null,
  ): AttemptResult {
    return {
      exit_code: code,
      signal,
      duration_ms: Math.round(performance.now() - started),
      killed_by: this.#stopReason,
      error,
      truncated_bytes: this.#truncated,
    };
  }

  #argv(dir: string): string[] {
    const { spec } = this.assignment;
    if (spec.command) return spec.command;
    if (spec.shell !== undefined) return ["/bin/sh", "-c", spec.shell];
    const script = spec.script!;
    const runtime = this.#options.runtimes.get(script.runtime);
    if (!runtime) throw new Error(`this agent has no runtime ${script.runtime}`);
    const file = `${dir}/${runtime.fileName}`;
    Deno.writeTextFileSync(file, script.source, { mode: 0o600 });
    this.#handOver(file);
    return runtime.argv.map((arg) => arg.replaceAll("{file}", file).replaceAll("{dir}", dir));
  }

  /** Gives a path the attempt made to the `--run-as` user. */
  #handOver(path: string): void {
    const runAs = this.#options.runAs;
    if (runAs) Deno.chownSync(path, runAs.uid, runAs.gid);
  }

  #env(): Record<string, string> {
    const a = this.assignment;
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(a.spec.env ?? {})) {
      if (typeof value === "string") {
        env[name] = value;
      } else if (a.secrets?.[name] !== undefined) {
        env[name] = a.secrets[name];
      } else {
        throw new Error(`the server sent no value for secret ${value.secret} (${name})`);
      }
    }
    return {
      ...this.#options.baseEnv,
      // A batch's task brings its own index (and JOBDIST_BATCH_ID) in its env.
      JOBDIST_INDEX: "0",
      ...env,
      JOBDIST_JOB_ID: String(a.job_id),
      JOBDIST_ATTEMPT: String(a.attempt),
      JOBDIST_ATTEMPT_ID: a.attempt_id,
    };
  }

  /** Reads one stream to its end, handing capped pieces to `onOutput` in order. */
  async #pump(stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr"): Promise<void> {
    const lines = new LineCap(this.assignment.spec.max_line_bytes ?? DEFAULT_MAX_LINE);
    const secrets = Object.values(this.assignment.secrets ?? {});
    // Output goes on as bytes; only a job with secrets has it decoded, masked and re-encoded.
    const text = secrets.length ? new MaskedText(new Masker(secrets)) : new Utf8Cut();
    const reader = stream.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (this.#outputBytes >= this.assignment.max_output_bytes) {
          this.#truncated += value.byteLength; // past the cap: only count
          if (this.assignment.spec.on_output_limit === "fail") this.stop("output_limit");
          continue;
        }
        const parts = lines.feed(value);
        // One read becomes one piece of output, however many lines it holds.
        if (parts.length) {
          await this.#emit(name, text, parts.length === 1 ? parts[0] : concat(parts));
        }
      }
      for (const part of lines.end()) await this.#emit(name, text, part);
      await this.#pass(name, text.end());
    } catch {
      // The pipe broke (process killed); what was read is kept.
    } finally {
      reader.releaseLock();
    }
  }

  /**
   * Counts `value` against the job's output cap and hands the kept part on, with the job's
   * secrets masked (a secret or a character cut off at the end of `value` is held for the next
   * call).
   */
  async #emit(name: "stdout" | "stderr", text: OutputText, value: Uint8Array) {
    const cap = this.assignment.max_output_bytes;
    if (this.#outputBytes >= cap) {
      this.#truncated += value.byteLength;
      return;
    }
    let bytes = value;
    if (this.#outputBytes + bytes.byteLength > cap) {
      const keep = cap - this.#outputBytes;
      this.#truncated += bytes.byteLength - keep;
      bytes = bytes.subarray(0, keep);
      if (this.assignment.spec.on_output_limit === "fail") this.stop("output_limit");
    }
    this.#outputBytes += bytes.byteLength;
    await this.#pass(name, text.feed(bytes));
  }

  /**
   * Hands `bytes` (whole characters) to `onOutput` in pieces of at most
   * {@linkcode LOG_CHUNK_BYTES}, never cutting a character.
   */
  async #pass(name: "stdout" | "stderr", bytes: Uint8Array) {
    for (let i = 0; i < bytes.length;) {
      let end = Math.min(bytes.length, i + LOG_CHUNK_BYTES);
      if (end < bytes.length) end = i + utf8Boundary(bytes.subarray(i, end));
      await this.#callbacks.onOutput(name, bytes.subarray(i, end));
      i = end;
    }
  }
}

/** Turns one stream's kept bytes into the bytes to pass on, in whole characters. */
interface OutputText {
  /** The next bytes; returns what may be passed on now. */
  feed(bytes: Uint8Array): Uint8Array;
  /** The stream ended: the rest held back. */
  end(): Uint8Array;
}

/** Passes bytes through as they are, holding back a character cut off at the end. */
class Utf8Cut implements OutputText {
  #held: Uint8Array | null = null;

  feed(bytes: Uint8Array): Uint8Array {
    const all = this.#held ? concat([this.#held, bytes]) : bytes;
    const cut = utf8Boundary(all);
    this.#held = cut < all.length ? all.slice(cut) : null;
    return all.subarray(0, cut);
  }

  end(): Uint8Array {
    const rest = this.#held ?? new Uint8Array(0);
    this.#held = null;
    return rest;
  }
}

/** Decodes, masks the job's secrets and encodes again. */
class MaskedText implements OutputText {
  readonly #mask: Masker;
  // ignoreBOM: a byte order mark the job prints is output like any other (kept, then counted).
  readonly #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  constructor(mask: Masker) {
    this.#mask = mask;
  }

  feed(bytes: Uint8Array): Uint8Array {
    return encoder.encode(this.#mask.feed(this.#decoder.decode(bytes, { stream: true })));
  }

  end(): Uint8Array {
    return encoder.encode(this.#mask.feed(this.#decoder.decode()) + this.#mask.end());
  }
}

/**
 * Length of the longest prefix of `bytes` that does not end inside a UTF-8 character (bytes that
 * are not UTF-8 count as whole characters).
 */
export function utf8Boundary(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = n - 1;
  // Step back over at most three continuation bytes to the lead byte of the last character.
  while (i >= 0 && i > n - 4 && (bytes[i] & 0xc0) === 0x80) i--;
  if (i < 0) return n;
  const lead = bytes[i];
  const size = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return n - i < size ? i : n;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Cuts lines longer than `max` bytes: the rest of such a line is dropped and a
 * `[jobdist: line truncated N bytes]` marker ends it, so one endless line cannot eat the job's
 * whole output budget or a reader's memory.
 */
export class LineCap {
  readonly #max: number;
  #lineBytes = 0;
  #dropped = 0;

  constructor(max: number) {
    this.#max = max;
  }

  /** The parts of `chunk` to keep, in order: as few as possible (one unless a line is cut). */
  feed(chunk: Uint8Array): Uint8Array[] {
    if (this.#dropped === 0 && this.#lineBytes + chunk.length <= this.#max) {
      // No line in this piece can reach the cap: find only where the last line starts.
      const last = chunk.lastIndexOf(10);
      this.#lineBytes = last === -1 ? this.#lineBytes + chunk.length : chunk.length - last - 1;
      return [chunk];
    }
    const out: Uint8Array[] = [];
    let keepFrom = 0; // start of the kept range not yet pushed
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(10, pos);
      const end = nl === -1 ? chunk.length : nl;
      const len = end - pos;
      if (this.#lineBytes + len > this.#max) {
        const take = Math.max(0, this.#max - this.#lineBytes);
        if (pos + take > keepFrom) out.push(chunk.subarray(keepFrom, pos + take));
        this.#dropped += len - take;
        this.#lineBytes += take;
        keepFrom = end;
      } else {
        this.#lineBytes += len;
      }
      if (nl === -1) break;
      if (this.#dropped > 0) out.push(this.#marker());
      this.#lineBytes = 0;
      pos = nl + 1;
    }
    if (keepFrom < chunk.length) out.push(chunk.subarray(keepFrom));
    return out;
  }

  /** What to emit when the stream ends (the marker of a cut last line). */
  end(): Uint8Array[] {
    return this.#dropped > 0 ? [this.#marker()] : [];
  }

  #marker(): Uint8Array {
    const m = new TextEncoder().encode(`[jobdist: line truncated ${this.#dropped} bytes]`);
    this.#dropped = 0;
    return m;
  }
}
