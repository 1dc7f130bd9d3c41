/**
 * The host facts an agent's heartbeats carry: load, memory, CPU count, its own RSS, and the free
 * disk of its work dir. Free disk comes from `df`, asked at most once a minute off the event
 * loop: reading it through `node:fs` would load the whole Node file-system layer into every
 * agent (about 5 MB of its idle footprint) for one number.
 * @module
 */

import type { HostFacts } from "../protocol/agent_wire.ts";

/** How often `df` is asked again. */
const DISK_EVERY_MS = 60_000;

/** Free disk of one directory's file system, refreshed in the background. */
export class DiskProbe {
  readonly #dir: string;
  #free: number | undefined;
  #askedAt = -Infinity;
  #asking = false;

  constructor(dir: string) {
    this.#dir = dir;
    this.refresh();
  }

  /** Bytes free for unprivileged users, as of the last answer (none before the first). */
  get free(): number | undefined {
    if (performance.now() - this.#askedAt >= DISK_EVERY_MS) this.refresh();
    return this.#free;
  }

  /** Asks `df` now unless a question is already out; resolves when it has answered. */
  async refresh(): Promise<void> {
    if (this.#asking) return;
    this.#asking = true;
    this.#askedAt = performance.now();
    try {
      const out = await new Deno.Command("df", {
        args: ["-Pk", this.#dir],
        stdin: "null",
        stdout: "piped",
        stderr: "null",
      }).output();
      // POSIX format: a header, then "fs 1024-blocks used available capacity mount".
      const fields = new TextDecoder().decode(out.stdout).trim().split("\n").pop()?.split(/\s+/);
      const kib = Number(fields?.[3]);
      if (out.success && Number.isFinite(kib)) this.#free = kib * 1024;
    } catch {
      // No df here: the fact is optional.
    } finally {
      this.#asking = false;
    }
  }
}

/** Load, memory, CPU and disk facts of this host. */
export function hostFacts(disk: DiskProbe): HostFacts {
  const mem = Deno.systemMemoryInfo();
  return {
    load1: Deno.loadavg()[0],
    cpus: navigator.hardwareConcurrency,
    mem_total: mem.total,
    mem_available: mem.available,
    rss: Deno.memoryUsage().rss,
    disk_free: disk.free,
  };
}

/** The system's directory for temporary files. */
export function tempDir(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}
