/**
 * Child processes of the benchmark: `deno run -A ...` with their stdout and stderr read line by
 * line, so the harness can wait for a line (`jobdist server listening on URL`) and collect JSON
 * reports. Disposing a child stops it (TERM, then KILL after a grace period).
 * @module
 */

/** Options of {@linkcode spawnChild}. */
export interface ChildOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Aborting stops the child. */
  signal?: AbortSignal;
  /** Working directory (default: the current one). */
  cwd?: string;
  /**
   * Run in a session and process group of its own (through `setsid`), so stopping it signals
   * everything it started too (peer scripts fork Redis clients and workers).
   */
  group?: boolean;
}

/** A running child process whose output lines are kept. */
export class Child implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly pid: number;
  readonly #lines: { stdout: string[]; stderr: string[] } = { stdout: [], stderr: [] };
  readonly #waiters: Array<{
    stream: "stdout" | "stderr";
    test: (line: string) => boolean;
    resolve: (line: string) => void;
  }> = [];
  readonly #name: string;
  readonly #group: boolean;
  #exited = false;
  readonly status: Promise<Deno.CommandStatus>;
  readonly #pumps: Promise<void>;

  constructor(name: string, process: Deno.ChildProcess, group = false) {
    this.#name = name;
    this.#group = group;
    this.process = process;
    this.pid = process.pid;
    this.status = process.status.then((s) => {
      this.#exited = true;
      return s;
    });
    this.#pumps = Promise.all([
      this.#pump(process.stdout, "stdout"),
      this.#pump(process.stderr, "stderr"),
    ]).then(() => {});
  }

  /** Lines the child wrote to `stream` so far. */
  lines(stream: "stdout" | "stderr"): readonly string[] {
    return this.#lines[stream];
  }

  /** Whether the child has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  async #pump(stream: ReadableStream<Uint8Array<ArrayBuffer>>, name: "stdout" | "stderr") {
    let buf = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      buf += text;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.#lines[name].push(line);
        for (const w of [...this.#waiters]) {
          if (w.stream === name && w.test(line)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
    if (buf) this.#lines[name].push(buf);
  }

  /**
   * Resolves with the first line of `stream` (from the start) that passes `test`; rejects when
   * the child exits first or `timeoutMs` passes.
   */
  waitForLine(
    stream: "stdout" | "stderr",
    test: (line: string) => boolean,
    timeoutMs = 30_000,
  ): Promise<string> {
    const seen = this.#lines[stream].find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        clearTimeout(timer);
        reject(new Error(`${this.#name}: ${why}; its stderr:\n${this.tail()}`));
      };
      const timer = setTimeout(() => fail(`no expected line within ${timeoutMs} ms`), timeoutMs);
      const waiter = {
        stream,
        test,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.push(waiter);
      this.status.then((s) => {
        // Give the pumps a moment to deliver the last lines before giving up.
        this.#pumps.then(() => {
          if (this.#waiters.includes(waiter)) fail(`exited with code ${s.code}`);
        });
      });
    });
  }

  /** The last lines of stderr, for error messages. */
  tail(n = 20): string {
    return this.#lines.stderr.slice(-n).join("\n");
  }

  #kill(signal: Deno.Signal): void {
    try {
      if (this.#group) Deno.kill(-this.pid, signal);
      else this.process.kill(signal);
    } catch {
      // gone already
    }
  }

  /** Sends `signal`, then SIGKILL if still running after `graceMs`. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5_000): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      this.#kill(signal);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<"grace">((r) => timer = setTimeout(() => r("grace"), graceMs));
      if (await Promise.race([this.status, grace]) === "grace") this.#kill("SIGKILL");
      clearTimeout(timer);
    } else if (this.#group) {
      // Whatever the leader left behind in its group (it holds our pipes open).
      this.#kill("SIGKILL");
    }
    const status = await this.status;
    await this.#pumps;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts `deno run -A <args...>` (or another program when `program` is given). */
export function spawnChild(
  name: string,
  args: string[],
  options: ChildOptions & { program?: string } = {},
): Child {
  const program = options.program ?? Deno.execPath();
  const argv = options.program ? args : ["run", "-A", ...args];
  // A fresh child is no group leader, so setsid(1) execs in place and keeps the pid.
  const proc = new Deno.Command(options.group ? "setsid" : program, {
    args: options.group ? [program, ...argv] : argv,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const child = new Child(name, proc, options.group);
  options.signal?.addEventListener("abort", () => child.stop(), { once: true });
  return child;
}
