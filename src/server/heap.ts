/**
 * An indexed binary min-heap: O(log n) push, pop, delete and update by key. The timer queue
 * and the dispatch index are built on it.
 * @module
 */

/** Options of {@linkcode IndexedHeap}: `less(a, b)` is true when `a` comes out first. */
export type Less<T> = (a: T, b: T) => boolean;

/** A min-heap of values with unique keys. */
export class IndexedHeap<K, T> {
  readonly #items: T[] = [];
  readonly #keys: K[] = [];
  readonly #pos = new Map<K, number>();
  readonly #less: Less<T>;

  constructor(less: Less<T>) {
    this.#less = less;
  }

  /** Number of entries. */
  get size(): number {
    return this.#items.length;
  }

  /** Whether `key` is in the heap. */
  has(key: K): boolean {
    return this.#pos.has(key);
  }

  /** The value stored under `key`. */
  get(key: K): T | undefined {
    const i = this.#pos.get(key);
    return i === undefined ? undefined : this.#items[i];
  }

  /** The first value, without removing it. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** The key of the first value. */
  peekKey(): K | undefined {
    return this.#keys[0];
  }

  /** Inserts `value` under `key`, replacing (and re-ordering) any value already there. */
  push(key: K, value: T): void {
    const at = this.#pos.get(key);
    if (at !== undefined) {
      this.#items[at] = value;
      this.#fix(at);
      return;
    }
    this.#items.push(value);
    this.#keys.push(key);
    this.#pos.set(key, this.#items.length - 1);
    this.#up(this.#items.length - 1);
  }

  /** Removes and returns the first value. */
  pop(): T | undefined {
    if (this.#items.length === 0) return undefined;
    const top = this.#items[0];
    this.#removeAt(0);
    return top;
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: K): boolean {
    const at = this.#pos.get(key);
    if (at === undefined) return false;
    this.#removeAt(at);
    return true;
  }

  /** Values in no particular order. */
  values(): IterableIterator<T> {
    return this.#items.values();
  }

  #removeAt(i: number): void {
    const last = this.#items.length - 1;
    this.#pos.delete(this.#keys[i]);
    if (i !== last) {
      this.#items[i] = this.#items[last];
      this.#keys[i] = this.#keys[last];
      this.#pos.set(this.#keys[i], i);
    }
    this.#items.pop();
    this.#keys.pop();
    if (i < this.#items.length) this.#fix(i);
  }

  #fix(i: number): void {
    if (i > 0 && this.#less(this.#items[i], this.#items[(i - 1) >> 1])) this.#up(i);
    else this.#down(i);
  }

  #place(i: number, item: T, key: K): void {
    this.#items[i] = item;
    this.#keys[i] = key;
    this.#pos.set(key, i);
  }

  // Sifting moves a hole instead of swapping: one write per level, one position update each.
  #up(i: number): void {
    const item = this.#items[i];
    const key = this.#keys[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(item, this.#items[p])) break;
      this.#place(i, this.#items[p], this.#keys[p]);
      i = p;
    }
    this.#place(i, item, key);
  }

  #down(i: number): void {
    const n = this.#items.length;
    const item = this.#items[i];
    const key = this.#keys[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#less(this.#items[r], this.#items[l]) ? r : l;
      if (!this.#less(this.#items[c], item)) break;
      this.#place(i, this.#items[c], this.#keys[c]);
      i = c;
    }
    this.#place(i, item, key);
  }
}
