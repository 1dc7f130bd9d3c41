/**
 * The private directories attempts run in, made ahead of need: a `mkdir` on the path from
 * assignment to spawn blocks the agent's one thread (hundreds of microseconds on a busy host),
 * while one made in the background costs that thread nothing. Each directory is new, empty and
 * used by one attempt only; the runner removes it when the attempt ends.
 * @module
 */

/** Name prefix of attempt directories. */
const PREFIX = "jobdist-attempt-";

/** A small stock of fresh, empty directories under one parent. */
export class WorkDirs {
  readonly #root: string | undefined;
  readonly #stock: number;
  readonly #ready: string[] = [];
  #making = 0;
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

  /** Removes the directories made but not taken; takes nothing more ahead. */
  close(): void {
    this.#closed = true;
    for (const dir of this.#ready.splice(0)) {
      try {
        Deno.removeSync(dir);
      } catch {
        // gone already
      }
    }
  }

  #refill(): void {
    while (!this.#closed && this.#ready.length + this.#making < this.#stock) {
      this.#making++;
      Deno.makeTempDir({ dir: this.#root, prefix: PREFIX }).then((dir) => {
        this.#making--;
        if (this.#closed) Deno.remove(dir).catch(() => {});
        else this.#ready.push(dir);
      }, () => {
        // The next take() makes one itself, and reports why it cannot.
        this.#making--;
      });
    }
  }
}
