/**
 * The OS process of one attempt. Each job runs as the leader of its own session and process
 * group, so a signal to the group reaches its children and grandchildren. On Linux with glibc
 * the session is made by `posix_spawn` itself (`posix_spawn.ts`); elsewhere, and for `--run-as`,
 * through `setsid(1)` (or `detached`, which forks). Processes
 * that leave the group (`setsid` themselves) are still found on Linux through a per-attempt
 * marker in their environment, read from `/proc/<pid>/environ`.
 * @module
 */

import type { PosixSpawner, SpawnedChild } from "./posix_spawn.ts";

/** How to start a job's process. */
export interface SpawnOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Value of the `JOBDIST_TRACE` marker set in the environment to find escapees. */
  marker: string;
  /**
   * Path of util-linux `setsid`, which makes the job a session leader before it execs: several
   * times cheaper than `detached: true`, whose spawn path forks. `null`: use `detached`.
   */
  setsid?: string | null;
  /** Run as this user and group (`--run-as`; the agent must be root). */
  uid?: number;
  gid?: number;
  /**
   * Start the job with `posix_spawn` (one exec; see `posix_spawn.ts`) rather than `Deno.Command`
   * (`--spawn auto`, the default where it is available). Not with `uid`/`gid`.
   */
  native?: PosixSpawner | null;
}

/** Finds the `setsid` program (Linux), or `null`. */
export function findSetsid(): string | null {
  if (Deno.build.os !== "linux") return null;
  for (const path of ["/usr/bin/setsid", "/bin/setsid"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** Name of the environment variable that marks a job's processes. */
export const MARKER_ENV = "JOBDIST_TRACE";

/** A running job process and its process group. */
export class JobProcess {
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves when the leader exits. */
  readonly status: Promise<ExitStatus>;
  readonly #marker: string;
  /** Signals the group without an exception when it is gone (see `PosixSpawner.kill`). */
  readonly #native: PosixSpawner | null;
  #exited = false;
  /** The group was found gone: never signal its id again (it may be reused). */
  #groupGone = false;

  private constructor(
    child: SpawnedChild | Deno.ChildProcess,
    marker: string,
    native: PosixSpawner | null,
  ) {
    this.pid = child.pid;
    this.#native = native;
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    this.#marker = marker;
    this.status = child.status.then((s) => {
      this.#exited = true;
      return { code: s.signal ? null : s.code, signal: s.signal };
    });
  }

  /** Starts the process in its own session. Rejects if it cannot be started. */
  static async spawn(options: SpawnOptions): Promise<JobProcess> {
    const env = { ...options.env, [MARKER_ENV]: options.marker };
    const native = options.uid === undefined && options.gid === undefined ? options.native : null;
    if (native) {
      const child = await native.spawn(options.argv, env, options.cwd);
      return new JobProcess(child, options.marker, native);
    }
    // The spawned child is never a group leader, so setsid(1) calls setsid() and execs
    // without forking: the job keeps the pid we report.
    const [cmd, ...args] = options.setsid ? [options.setsid, ...options.argv] : options.argv;
    const child = new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env,
      clearEnv: true,
      uid: options.uid,
      gid: options.gid,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: !options.setsid,
    }).spawn();
    return new JobProcess(child, options.marker, null);
  }

  /** Whether the leader has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Sends `signal` to the whole process group; returns whether the group still existed. */
  signal(signal: Deno.Signal): boolean {
    if (this.#groupGone) return false;
    try {
      if (this.#native) this.#groupGone = !this.#native.kill(-this.pid, signal);
      else Deno.kill(-this.pid, signal);
    } catch {
      this.#groupGone = true; // the group is gone already
    }
    return !this.#groupGone;
  }

  /**
   * TERM to the group, then KILL after `graceMs` if the leader is still alive; resolves with
   * the leader's exit status.
   */
  async terminate(graceMs: number): Promise<ExitStatus> {
    if (!this.#exited) {
      this.signal("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const graceOver = new Promise<"grace">((r) => timer = setTimeout(() => r("grace"), graceMs));
      const winner = await Promise.race([this.status, graceOver]);
      clearTimeout(timer);
      if (winner === "grace") this.signal("SIGKILL");
    }
    this.reap(true);
    return await this.status;
  }

  /**
   * Kills whatever the job left running: its group, and processes that left the group. The
   * scan of `/proc` for escapees runs when `thorough` is set or the group still had members;
   * the agent's periodic reaper catches the rest.
   */
  reap(thorough = false): void {
    if (this.signal("SIGKILL") || thorough) killMarked((m) => m === this.#marker);
  }
}

/**
 * SIGKILLs every process whose `JOBDIST_TRACE` marker satisfies `match` (Linux; elsewhere a
 * no-op) and returns how many it killed.
 */
export function killMarked(match: (marker: string) => boolean): number {
  if (Deno.build.os !== "linux") return 0;
  const prefix = `${MARKER_ENV}=`;
  let killed = 0;
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc");
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    let env: string;
    try {
      env = new TextDecoder().decode(Deno.readFileSync(`/proc/${e.name}/environ`));
    } catch {
      continue; // gone, or not ours to read
    }
    const at = env.startsWith(prefix) ? 0 : env.indexOf(`\0${prefix}`) + 1;
    if (at === 0 && !env.startsWith(prefix)) continue;
    const end = env.indexOf("\0", at);
    if (!match(env.slice(at + prefix.length, end === -1 ? undefined : end))) continue;
    try {
      Deno.kill(Number(e.name), "SIGKILL");
      killed++;
    } catch {
      // exited meanwhile
    }
  }
  return killed;
}
