/**
 * Run by `process_test.ts` with `--v8-flags=--expose-gc`: starts processes on worker threads
 * (`posix_spawn` through FFI) while the heap is collected over and over, and prints how many
 * got other arguments or environment than they were given. Buffers a call reads on another
 * thread that nothing holds any more are collected under it, and the child then execs garbage.
 */

import { posixSpawner } from "../../src/agent/posix_spawn.ts";

const spawner = posixSpawner()!;
const gc = (globalThis as unknown as { gc: () => void }).gc;
// While one child lives, every other spawn takes the worker-thread path.
const keeper = await spawner.spawn(["/bin/sleep", "60"], {}, "/tmp");
let collecting = true;
(async () => {
  while (collecting) {
    gc();
    void Array.from({ length: 2000 }, (_, i) => new Uint8Array(64 + i));
    await new Promise((r) => setTimeout(r, 0));
  }
})();
let wrong = 0;
for (let round = 0; round < 40; round++) {
  const ok = await Promise.race([
    Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const want = `v${round}-${i}-${"x".repeat(i * 10)}`;
      const child = await spawner.spawn(
        ["/bin/sh", "-c", 'printf "%s %s" "$0" "$X"', `arg${i}`],
        { X: want, PATH: "/usr/bin:/bin" },
        "/tmp",
      );
      const [out] = await Promise.all([
        new Response(child.stdout).text(),
        child.stderr.cancel(),
        child.status,
      ]);
      return out === `arg${i} ${want}`;
    })),
    new Promise<boolean[]>((r) => setTimeout(() => r([false]), 20_000)),
  ]);
  wrong += ok.filter((x) => !x).length;
}
collecting = false;
Deno.kill(keeper.pid, "SIGKILL");
console.log(JSON.stringify({ wrong }));
Deno.exit(0);
