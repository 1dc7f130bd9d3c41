/**
 * Starts a job's process as the leader of a new session in one exec: glibc's `posix_spawn` with
 * `POSIX_SPAWN_SETSID`, called through Deno's FFI. `Deno.Command` can only do that with
 * `detached: true`, which forks the whole agent (slower the bigger the agent), or through
 * `setsid(1)`, which costs a second exec per job; this path halves the execs of a job that runs
 * `true` and is what lets the agent spawn near the rate of a bare `Deno.Command`.
 *
 * Linux with glibc 2.29 or newer (`posix_spawn_file_actions_addchdir_np`) and `--allow-ffi`
 * only; {@linkcode posixSpawner} returns `null` elsewhere and the agent falls back to
 * `setsid(1)`. The child's pipes are read directly, without blocking, until it has exited (or
 * run a while), then as files Deno reads on its thread pool (see `#output`). Its exit is noticed
 * on `SIGCHLD`, which makes the spawner ask each of its live children with a `waitpid` that does
 * not block (a microsecond each, where a blocking `waitpid` on a worker thread per child costs a
 * thread-pool round trip of tens). `posix_spawn` returns only once the child has exec'd, a few
 * hundred microseconds: while other jobs of the agent run, it is called on a worker thread (FFI
 * `nonblocking`), so the agent's one thread goes on serving them meanwhile.
 * @module
 */

import { type Libc, libc } from "./libc.ts";

/** A process started by {@linkcode PosixSpawner.spawn}. */
export interface SpawnedChild {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  /** How the process ended: its exit code, or the signal that killed it. */
  status: Promise<ChildExit>;
}

/** How a child ended: its exit code (128 + the signal's number if killed) and the signal. */
export interface ChildExit {
  code: number;
  signal: Deno.Signal | null;
}

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
const F_SETFL = 4;
const EINTR = 4;
const EAGAIN = 11;
const WNOHANG = 1;
const F_SETPIPE_SZ = 1031;
/**
 * Capacity asked of each output pipe (Linux's ceiling for unprivileged processes, by default):
 * a job that writes fast fills it while the agent is busy, and the agent takes it in few, large
 * reads: fewer frames, fewer writes to the job's output file.
 */
const PIPE_BYTES = 1 << 20;
/**
 * Most bytes one read takes from a pipe (one frame's worth: `LOG_CHUNK_BYTES`). Reads start at
 * 4 KiB, so a job that prints little costs little memory, and double while they come back full.
 */
const READ_BYTES = 256 * 1024;
const FIRST_READ_BYTES = 4096;
/** glibc's `posix_spawn_file_actions_t` and `posix_spawnattr_t` are 80 and 336 bytes (LP64). */
const FILE_ACTIONS_BYTES = 256;
const ATTR_BYTES = 512;
const SIGSET_BYTES = 128;
/** How long a child's pipes are read directly after an empty read (see `#output`). */
const DIRECT_READS_MS = 10;
/** How often live children are asked whether they exited, `SIGCHLD` aside. */
const POLL_MS = 1_000;

/** Linux signal numbers (the same on x86-64 and arm64) and their names. */
const SIGNALS: Record<number, Deno.Signal> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/**
 * Signals the child gets back at their default action. The agent's runtime ignores SIGPIPE, and
 * an ignored signal stays ignored across exec: a job writing to a closed pipe must die of it as
 * it would under a shell. (Handled signals are reset by exec itself.)
 */
const DEFAULT_SIGNALS = [1, 2, 3, 10, 12, 13, 14, 15, 17];

const SIGNAL_NUMBERS = new Map(Object.entries(SIGNALS).map(([n, name]) => [name, Number(n)]));
const ESRCH = 3;

const encoder = new TextEncoder();

/** Spawns processes as session leaders through glibc's `posix_spawn`. */
export class PosixSpawner {
  readonly #c: Libc;
  readonly #sigmask = new Uint8Array(SIGSET_BYTES);
  readonly #sigdefault = new Uint8Array(SIGSET_BYTES);
  readonly #devNull = cString("/dev/null");
  /** Spawns under way and children not yet reaped. */
  #live = 0;
  /** Children not yet reaped, by pid: what settles their `status`. */
  readonly #children = new Map<number, PromiseWithResolvers<ChildExit>>();
  readonly #status = new Int32Array(1);
  /** Calls under way on worker threads, with the buffers they read (see `spawn`). */
  readonly #inFlight = new Map<Promise<number>, unknown[]>();
  /**
   * While there are children: a `SIGCHLD` listener, and a slow poll that keeps the process
   * alive for them (a signal listener does not) and would catch a `SIGCHLD` never delivered.
   */
  #poll: ReturnType<typeof setInterval> | undefined;
  readonly #onChild = () => {
    for (const pid of this.#children.keys()) this.#reap(pid);
  };

  constructor(c: Libc) {
    this.#c = c;
    for (const sig of DEFAULT_SIGNALS) this.#sigdefault[(sig - 1) >> 3] |= 1 << ((sig - 1) & 7);
  }

  /**
   * Starts `argv[0]` (a path) with exactly `env`, in `cwd`, stdin from `/dev/null` and stdout and
   * stderr piped. Rejects with `Deno.errors.NotFound` when the program or `cwd` does not exist.
   */
  async spawn(argv: string[], env: Record<string, string>, cwd: string): Promise<SpawnedChild> {
    const c = this.#c;
    const out = this.#pipe();
    let err: [number, number];
    try {
      err = this.#pipe();
    } catch (e) {
      for (const fd of out) c.close(fd);
      throw e;
    }
    const actions = new Uint8Array(FILE_ACTIONS_BYTES);
    const attr = new Uint8Array(ATTR_BYTES);
    const pid = new Int32Array(1);
    const args = cStrings(argv);
    const vars = cStrings(Object.entries(env).map(([k, v]) => `${k}=${v}`));
    let rc = -1;
    try {
      check(c.posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init");
      check(c.posix_spawnattr_init(attr), "posix_spawnattr_init");
      try {
        check(c.posix_spawn_file_actions_addopen(actions, 0, this.#devNull, 0, 0), "addopen");
        check(c.posix_spawn_file_actions_adddup2(actions, out[1], 1), "adddup2");
        check(c.posix_spawn_file_actions_adddup2(actions, err[1], 2), "adddup2");
        check(c.posix_spawn_file_actions_addchdir_np(actions, cString(cwd)), "addchdir");
        check(c.posix_spawnattr_setsigmask(attr, this.#sigmask), "setsigmask");
        check(c.posix_spawnattr_setsigdefault(attr, this.#sigdefault), "setsigdefault");
        const flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
        check(c.posix_spawnattr_setflags(attr, flags), "setflags");
        const call = this.#live > 0 ? c.posix_spawn_async : c.posix_spawn;
        this.#live++;
        // Memory the call reads on another thread must outlive it: a local the function no
        // longer uses after `await` may be collected meanwhile, so everything is held here.
        const called = call(pid, args.bytes, actions, attr, args.pointers, vars.pointers);
        if (typeof called === "number") rc = called;
        else {
          this.#inFlight.set(called, [pid, actions, attr, args, vars]);
          try {
            rc = await called;
          } finally {
            this.#inFlight.delete(called);
          }
        }
      } finally {
        c.posix_spawn_file_actions_destroy(actions);
        c.posix_spawnattr_destroy(attr);
      }
    } finally {
      // The child has its own copies; without a child nobody reads the other ends either.
      c.close(out[1]);
      c.close(err[1]);
      if (rc !== 0) {
        c.close(out[0]);
        c.close(err[0]);
      }
    }
    if (rc !== 0) {
      this.#live--;
      if (rc === 2) throw new Deno.errors.NotFound(`No such file or directory (os error 2)`);
      throw new Error(`posix_spawn failed (os error ${rc})`);
    }
    const status = this.#wait(pid[0]);
    // Until the child has exited or run a while, its output is read without the thread pool.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      timer = setTimeout(done, DIRECT_READS_MS);
      status.then(done, done);
    });
    return {
      pid: pid[0],
      stdout: this.#output(out[0], settled),
      stderr: this.#output(err[0], settled),
      status,
    };
  }

  /**
   * Sends `signal` to process `pid` (a process group: `-pgid`); `false` if there is no such
   * process. Unlike `Deno.kill`, a process already gone costs no exception.
   */
  kill(pid: number, signal: Deno.Signal): boolean {
    const n = SIGNAL_NUMBERS.get(signal);
    if (n === undefined) throw new TypeError(`Unknown signal ${signal}`);
    if (this.#c.kill(pid, n) === 0) return true;
    const e = errno(this.#c);
    if (e === ESRCH) return false;
    throw new Error(`kill(${pid}, ${signal}) failed (os error ${e})`);
  }

  #pipe(): [number, number] {
    const fds = new Int32Array(2);
    if (this.#c.pipe2(fds, O_CLOEXEC) !== 0) {
      throw new Error(`pipe2 failed (os error ${errno(this.#c)})`);
    }
    // Best effort: a smaller pipe only means smaller reads.
    this.#c.fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
    // The agent's end never blocks (see `#output`); the child's end is its own description.
    this.#c.fcntl(fds[0], F_SETFL, O_NONBLOCK);
    return [fds[0], fds[1]];
  }

  /**
   * A stream over the read end `fd` of a child's pipe. It is read directly (a non-blocking
   * `read`, a microsecond) as long as that finds output or the end of it, and the first time it
   * finds the pipe empty it waits for `settled` (the child's exit, or a few milliseconds). Most
   * jobs end by then and their output is taken whole without the thread pool, where each `read`
   * of a file is a round trip of tens of microseconds. A pipe still open then may be held by
   * the child of a spawn that was under way (it copies every descriptor of the agent until it
   * execs, close-on-exec or not): those spawns are waited for, once. After that, an empty pipe
   * means a job (or what it left running) that runs on: the pipe is opened anew through
   * `/proc`, as a file Deno reads on its thread pool, and waited on there.
   */
  #output(fd: number, settled: Promise<void>): ReadableStream<Uint8Array> {
    const c = this.#c;
    let file: Deno.FsFile | undefined;
    let waited = false, rechecked = false;
    const inFlight = this.#inFlight;
    const read = async (into: Uint8Array<ArrayBuffer>): Promise<number | null> => {
      for (;;) {
        if (file) return await file.read(into);
        const n = Number(c.read(fd, into, BigInt(into.length)));
        if (n >= 0) return n === 0 ? null : n;
        const e = errno(c);
        if (e === EINTR) continue;
        if (e !== EAGAIN) throw new Error(`read from a job's pipe failed (os error ${e})`);
        if (!waited) {
          waited = true;
          await settled;
          continue;
        }
        if (!rechecked && inFlight.size > 0) {
          rechecked = true;
          await Promise.allSettled(inFlight.keys());
          continue;
        }
        try {
          file = Deno.openSync(`/proc/self/fd/${fd}`);
        } finally {
          c.close(fd);
          fd = -1;
        }
      }
    };
    const close = () => {
      file?.close();
      if (fd >= 0) c.close(fd);
      fd = -1;
    };
    let buffer = new Uint8Array(FIRST_READ_BYTES);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        let n: number | null;
        try {
          n = await read(buffer);
        } catch (e) {
          close();
          throw e;
        }
        if (n === null) {
          close();
          return controller.close();
        }
        // A small piece is copied out (it may be kept until the server has stored it); a large
        // one takes the buffer with it.
        if (n < buffer.length / 4) return controller.enqueue(buffer.slice(0, n));
        controller.enqueue(buffer.subarray(0, n));
        const full = n === buffer.length;
        buffer = new Uint8Array(full ? Math.min(buffer.length * 2, READ_BYTES) : buffer.length);
      },
      cancel() {
        close();
      },
    });
  }

  /** Settles when child `pid` has exited, and reaps it. */
  #wait(pid: number): Promise<ChildExit> {
    const exit = Promise.withResolvers<ChildExit>();
    this.#children.set(pid, exit);
    if (this.#poll === undefined) {
      Deno.addSignalListener("SIGCHLD", this.#onChild);
      this.#poll = setInterval(this.#onChild, POLL_MS);
    }
    // It may have exited before the listener was there.
    this.#reap(pid);
    return exit.promise;
  }

  /** Reaps child `pid` if it has exited. */
  #reap(pid: number): void {
    const status = this.#status;
    const r = this.#c.waitpid(pid, status, WNOHANG);
    if (r === 0) return; // still running
    const exit = this.#children.get(pid)!;
    this.#children.delete(pid);
    this.#live--;
    if (this.#children.size === 0 && this.#poll !== undefined) {
      Deno.removeSignalListener("SIGCHLD", this.#onChild);
      clearInterval(this.#poll);
      this.#poll = undefined;
    }
    if (r !== pid) {
      exit.reject(new Error(`waitpid(${pid}) failed (os error ${errno(this.#c)})`));
      return;
    }
    const s = status[0];
    const termSignal = s & 0x7f;
    if (termSignal === 0) exit.resolve({ code: (s >> 8) & 0xff, signal: null });
    else exit.resolve({ code: 128 + termSignal, signal: SIGNALS[termSignal] ?? null });
  }
}

let spawner: PosixSpawner | null | undefined;

/**
 * The process-wide spawner, or `null` where `posix_spawn` with `POSIX_SPAWN_SETSID` cannot be
 * used (see `libc.ts`: not Linux with glibc 2.29+, or no FFI permission).
 */
export function posixSpawner(): PosixSpawner | null {
  if (spawner === undefined) {
    const c = libc();
    spawner = c && new PosixSpawner(c);
  }
  return spawner;
}

function cString(s: string): Uint8Array<ArrayBuffer> {
  if (s.includes("\0")) throw new TypeError(`a NUL byte in ${JSON.stringify(s)}`);
  return encoder.encode(`${s}\0`);
}

/**
 * `strings` as C strings in one buffer (one encoding for all, not one each), and the
 * NULL-terminated array of pointers to them (valid while `bytes` is alive).
 */
function cStrings(
  strings: string[],
): { bytes: Uint8Array<ArrayBuffer>; pointers: BigUint64Array<ArrayBuffer> } {
  for (const s of strings) {
    if (s.includes("\0")) throw new TypeError(`a NUL byte in ${JSON.stringify(s)}`);
  }
  const bytes = encoder.encode(`${strings.join("\0")}\0`);
  const pointers = new BigUint64Array(strings.length + 1);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  for (let i = 0, at = 0; i < strings.length; i++) {
    pointers[i] = base + BigInt(at);
    at = bytes.indexOf(0, at) + 1;
  }
  return { bytes, pointers };
}

function check(rc: number, what: string): void {
  if (rc !== 0) throw new Error(`${what} failed (os error ${rc})`);
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}
