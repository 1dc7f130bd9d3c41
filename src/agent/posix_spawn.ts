/**
 * Starts a job's process as the leader of a new session in one exec: glibc's `posix_spawn` with
 * `POSIX_SPAWN_SETSID`, called through Deno's FFI. `Deno.Command` can only do that with
 * `detached: true`, which forks the whole agent (slower the bigger the agent), or through
 * `setsid(1)`, which costs a second exec per job; this path halves the execs of a job that runs
 * `true` and is what lets the agent spawn near the rate of a bare `Deno.Command`.
 *
 * Linux with glibc 2.29 or newer (`posix_spawn_file_actions_addchdir_np`) and `--allow-ffi`
 * only; {@linkcode posixSpawner} returns `null` elsewhere and the agent falls back to
 * `setsid(1)`. The child's pipes are read through `/proc/self/fd` and its exit is awaited with
 * `waitpid` on a worker thread (FFI `nonblocking`). `posix_spawn` returns only once the child
 * has exec'd, a few hundred microseconds: while other jobs of the agent run, it is called on a
 * worker thread too, so the agent's one thread goes on serving them meanwhile.
 * @module
 */

import { type Libc, libc } from "./libc.ts";

/** A process started by {@linkcode PosixSpawner.spawn}. */
export interface SpawnedChild {
  pid: number;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  /** How the process ended: its exit code, or the signal that killed it. */
  status: Promise<{ code: number; signal: Deno.Signal | null }>;
}

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_CLOEXEC = 0o2000000;
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

const encoder = new TextEncoder();

/** Spawns processes as session leaders through glibc's `posix_spawn`. */
export class PosixSpawner {
  readonly #c: Libc;
  readonly #sigmask = new Uint8Array(SIGSET_BYTES);
  readonly #sigdefault = new Uint8Array(SIGSET_BYTES);
  readonly #devNull = cString("/dev/null");
  /** Children started and not yet reaped. */
  #live = 0;
  /** The buffers of calls under way on worker threads (see `spawn`). */
  readonly #inFlight = new Set<unknown[]>();

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
    const args = argv.map(cString);
    const vars = Object.entries(env).map(([k, v]) => cString(`${k}=${v}`));
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
        const argvp = pointers(args), envp = pointers(vars);
        const held = [pid, actions, attr, args, vars, argvp, envp];
        this.#inFlight.add(held);
        try {
          rc = await call(pid, args[0], actions, attr, argvp, envp);
        } finally {
          this.#inFlight.delete(held);
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
    return {
      pid: pid[0],
      stdout: this.#adopt(out[0]),
      stderr: this.#adopt(err[0]),
      status: this.#wait(pid[0]),
    };
  }

  #pipe(): [number, number] {
    const fds = new Int32Array(2);
    if (this.#c.pipe2(fds, O_CLOEXEC) !== 0) {
      throw new Error(`pipe2 failed (os error ${errno(this.#c)})`);
    }
    // Best effort: a smaller pipe only means smaller reads.
    this.#c.fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
    return [fds[0], fds[1]];
  }

  /** A stream over the read end `fd`, opened anew through `/proc` so Deno owns it. */
  #adopt(fd: number): ReadableStream<Uint8Array> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`/proc/self/fd/${fd}`);
    } finally {
      this.#c.close(fd);
    }
    let buffer = new Uint8Array(FIRST_READ_BYTES);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const n = await file.read(buffer);
        if (n === null) {
          file.close();
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
        file.close();
      },
    });
  }

  async #wait(pid: number): Promise<{ code: number; signal: Deno.Signal | null }> {
    const c = this.#c;
    const status = new Int32Array(1);
    // errno of the worker thread is out of reach: after a failed wait (a signal interrupted it),
    // ask again without blocking on this thread, whose errno can be read.
    try {
      while (await c.waitpid(pid, status, 0) !== pid) {
        const r = c.waitpid_now(pid, status, WNOHANG);
        if (r === pid) break;
        if (r === -1) throw new Error(`waitpid(${pid}) failed (os error ${errno(c)})`);
      }
    } finally {
      this.#live--;
    }
    const s = status[0];
    const termSignal = s & 0x7f;
    if (termSignal === 0) return { code: (s >> 8) & 0xff, signal: null };
    return { code: 128 + termSignal, signal: SIGNALS[termSignal] ?? null };
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

/** A NULL-terminated array of pointers to `strings` (which must outlive its use). */
function pointers(strings: Uint8Array<ArrayBuffer>[]): BigUint64Array<ArrayBuffer> {
  const array = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => array[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s))));
  return array;
}

function check(rc: number, what: string): void {
  if (rc !== 0) throw new Error(`${what} failed (os error ${rc})`);
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}
