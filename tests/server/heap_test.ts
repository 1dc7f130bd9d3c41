import assert from "node:assert/strict";
import { IndexedHeap } from "../../src/server/heap.ts";

const numbers = () => new IndexedHeap<string, number>((a, b) => a < b);

/** A small deterministic PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function drain<K, T>(heap: IndexedHeap<K, T>): T[] {
  const out: T[] = [];
  for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
  return out;
}

Deno.test("IndexedHeap.pop() returns values smallest first", () => {
  const heap = numbers();
  for (const n of [5, 3, 9, 1, 7, 2, 8]) heap.push(`k${n}`, n);
  assert.equal(heap.size, 7);
  assert.equal(heap.peek(), 1);
  assert.equal(heap.peekKey(), "k1");
  assert.deepEqual(drain(heap), [1, 2, 3, 5, 7, 8, 9]);
  assert.equal(heap.size, 0);
});

Deno.test("IndexedHeap on an empty heap returns undefined", () => {
  const heap = numbers();
  assert.equal(heap.pop(), undefined);
  assert.equal(heap.peek(), undefined);
  assert.equal(heap.peekKey(), undefined);
  assert.equal(heap.delete("x"), false);
  assert.equal(heap.get("x"), undefined);
});

Deno.test("IndexedHeap.push() on an existing key replaces and reorders the value", () => {
  const heap = numbers();
  heap.push("a", 1);
  heap.push("b", 2);
  heap.push("c", 3);
  heap.push("a", 10); // down
  assert.equal(heap.size, 3);
  assert.equal(heap.get("a"), 10);
  assert.equal(heap.peekKey(), "b");
  heap.push("c", 0); // up
  assert.equal(heap.peekKey(), "c");
  assert.deepEqual(drain(heap), [0, 2, 10]);
});

Deno.test("IndexedHeap.delete() removes any entry and keeps the order", () => {
  const heap = numbers();
  for (let i = 0; i < 20; i++) heap.push(`k${i}`, i);
  assert.equal(heap.delete("k0"), true); // the top
  assert.equal(heap.delete("k19"), true); // the last slot
  assert.equal(heap.delete("k7"), true); // the middle
  assert.equal(heap.delete("k7"), false);
  assert.equal(heap.has("k7"), false);
  assert.equal(heap.has("k8"), true);
  assert.equal(heap.size, 17);
  assert.deepEqual(drain(heap), [...Array(19).keys()].filter((i) => i !== 0 && i !== 7).slice(0));
});

Deno.test("IndexedHeap.delete() of a middle entry can move the last entry up", () => {
  // Deleting a deep entry moves the last leaf into its slot; that leaf may be smaller than the
  // new parent and must sift up, not only down.
  const heap = numbers();
  for (const [k, v] of [["a", 0], ["b", 10], ["c", 1], ["d", 11], ["e", 12], ["f", 2]] as const) {
    heap.push(k, v);
  }
  heap.delete("d");
  assert.deepEqual(drain(heap), [0, 1, 2, 10, 12]);
});

Deno.test("IndexedHeap stays ordered under random push, update and delete", () => {
  const rand = prng(42);
  const heap = numbers();
  const model = new Map<string, number>();
  for (let step = 0; step < 20_000; step++) {
    const key = `k${Math.floor(rand() * 500)}`;
    const r = rand();
    if (r < 0.5) {
      const v = Math.floor(rand() * 1000);
      heap.push(key, v);
      model.set(key, v);
    } else if (r < 0.7) {
      assert.equal(heap.delete(key), model.delete(key));
    } else if (r < 0.8 && model.size) {
      const top = heap.peek()!;
      const min = Math.min(...model.values());
      assert.equal(top, min);
      const k = heap.peekKey()!;
      assert.equal(heap.pop(), model.get(k));
      model.delete(k);
    }
    assert.equal(heap.size, model.size);
  }
  for (const [k, v] of model) assert.equal(heap.get(k), v);
  assert.deepEqual(drain(heap), [...model.values()].sort((a, b) => a - b));
});

Deno.test("IndexedHeap.values() lists every value", () => {
  const heap = numbers();
  for (const n of [4, 2, 6]) heap.push(String(n), n);
  assert.deepEqual([...heap.values()].sort(), [2, 4, 6]);
});

Deno.test("IndexedHeap uses the comparator it was given", () => {
  const heap = new IndexedHeap<number, { p: number; id: number }>((a, b) =>
    a.p > b.p || (a.p === b.p && a.id < b.id)
  );
  heap.push(1, { p: 0, id: 1 });
  heap.push(2, { p: 5, id: 2 });
  heap.push(3, { p: 5, id: 3 });
  heap.push(4, { p: -1, id: 4 });
  assert.deepEqual(drain(heap).map((v) => v.id), [2, 3, 1, 4]);
});

Deno.test("IndexedHeap keeps 1M entries ordered through updates and deletes", () => {
  const rand = prng(7);
  const heap = numbers();
  const n = 1_000_000;
  const value = new Float64Array(n);
  for (let i = 0; i < n; i++) heap.push(`k${i}`, value[i] = Math.floor(rand() * 1e9));
  for (let i = 0; i < n; i += 4) {
    assert.equal(heap.delete(`k${i}`), true);
    value[i] = NaN;
  }
  for (let i = 1; i < n; i += 4) heap.push(`k${i}`, value[i] = Math.floor(rand() * 1e9));
  assert.equal(heap.size, n - n / 4);
  const expected = [...value].filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const out = drain(heap);
  assert.equal(out.length, expected.length);
  let mismatches = 0;
  for (let i = 0; i < out.length; i++) if (out[i] !== expected[i]) mismatches++;
  assert.equal(mismatches, 0);
});
