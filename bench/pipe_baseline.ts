/**
 * B6's baseline: how fast Deno alone reads a process's stdout pipe. Spawns `/bin/sh -c CMD`
 * with stdout piped, reads it to the end counting bytes, and prints
 * `{"bytes": N, "ms": T, "mib_per_s": R}`.
 *
 * Usage: deno run -A bench/pipe_baseline.ts 'yes ... | head -c 268435456'
 * @module
 */

/** Reads the stdout of `sh -c command` to its end; returns bytes read and milliseconds. */
export async function readPipe(command: string): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", command],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let bytes = 0;
  for await (const chunk of child.stdout) bytes += chunk.byteLength;
  await child.status;
  return { bytes, ms: performance.now() - t0 };
}

if (import.meta.main) {
  const { bytes, ms } = await readPipe(Deno.args[0]);
  console.log(JSON.stringify({ bytes, ms, mib_per_s: bytes / 1048576 / (ms / 1000) }));
}
