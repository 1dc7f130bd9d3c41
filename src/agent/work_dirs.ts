/**
 * The private directories attempts run in, made ahead of need, off the path from assignment to
 * spawn: a `mkdir` there would delay the job. The stock is refilled by synchronous calls on a
 * timer just after a take (an async `mkdir` is a thread-pool round trip that costs the agent's
 * thread more than the `mkdir` itself). Each attempt has a directory of its own, empty when it
 * starts and used by no other attempt meanwhile. A directory its attempt left empty goes back to
 * the stock, its mode reset: on a disk file system a `mkdir` and an `rmdir` cost a hundred
 * microseconds or more (ext4 mounted with `discard`: 40 and 86 us), a look inside and a `chmod`
 * 12. (All the attempts of an agent run as one user, so a directory kept for another attempt
 * gives away nothing a new one would not.)
 * @module
 */

/** Name prefix of attempt directories. */
const PREFIX = "jobdist-attempt-";

/** A small stock of fresh, empty directories under one parent. */
export class WorkDirs {
  readonly #root: string | undefined;
  readonly #stock: number;
  readonly #ready: string[] = [];
  #refilling: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Keeps `stock` directories ready under `root` (default: the system temp dir). */
  constructor(root: string | undefined, stock: number) {
    this.#root = root;
    this.#stock = stock;
  }

  /** A fresh empty directory of its own (made now if none is ready; throws if it cannot be). */
  take(): string {
    const dir = this.#ready.pop() ?? Deno.makeTempDirSync({ dir: this.#root, prefix: PREFIX });
    this.#refill();
    return dir;
  }

  /**
   * Takes back a directory taken: keeps it if it is empty (up to twice the stock, as the stock
   * is refilled as soon as a directory is taken), else removes it.
   */
  async release(dir: string): Promise<void> {
    try {
      if (!this.#closed && this.#ready.length < 2 * this.#stock && isEmpty(dir)) {
        Deno.chmodSync(dir, 0o700); // as made
        this.#ready.push(dir);
        return;
      }
      Deno.removeSync(dir);
    } catch {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** Removes the directories made but not taken; takes nothing more ahead. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refilling);
    for (const dir of this.#ready.splice(0)) {
      try {
        Deno.removeSync(dir);
      } catch {
        // gone already
      }
    }
  }

  #refill(): void {
    if (this.#refilling !== undefined || this.#ready.length >= this.#stock) return;
    this.#refilling = setTimeout(() => {
      this.#refilling = undefined;
      try {
        while (!this.#closed && this.#ready.length < this.#stock) {
          this.#ready.push(Deno.makeTempDirSync({ dir: this.#root, prefix: PREFIX }));
        }
      } catch {
        // The next take() makes one itself, and reports why it cannot.
      }
    }, 0);
  }
}

function isEmpty(dir: string): boolean {
  for (const _ of Deno.readDirSync(dir)) return false;
  return true;
}
