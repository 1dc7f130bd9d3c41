/**
 * The open-files limit B5 needs: the server and the simulated agents each hold one socket per
 * agent. Deno cannot call setrlimit, so the harness re-executes itself under
 * `sh -c 'ulimit -n N; exec ...'` when the soft limit is too low and the hard limit allows more.
 * @module
 */

/** Open files B5 needs per process (5,000 sockets plus files, pipes and slack). */
export const B5_OPEN_FILES = 8_192;

/** Soft and hard `RLIMIT_NOFILE` of this process, as the shell reports them. */
export function openFilesLimits(): { soft: number; hard: number } {
  const out = new Deno.Command("sh", {
    args: ["-c", "ulimit -Sn; ulimit -Hn"],
    stdout: "piped",
  }).outputSync();
  const [soft, hard] = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
    l.trim() === "unlimited" ? Infinity : Number(l)
  );
  return { soft, hard };
}

/**
 * Re-runs this harness with a raised soft limit when needed and possible; returns the exit code
 * of that run, or `null` when the current process should carry on itself.
 */
export async function reexecWithOpenFiles(needed: number, envFlag: string): Promise<number | null> {
  const { soft, hard } = openFilesLimits();
  if (soft >= needed || Deno.env.get(envFlag)) return null;
  if (hard < needed) return null; // the caller reports it when B5 runs
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `ulimit -n ${needed} && exec "$0" "$@"`,
      Deno.execPath(),
      "run",
      "-A",
      new URL("./run.ts", import.meta.url).pathname,
      ...Deno.args,
    ],
    env: { [envFlag]: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/** Throws a clear error when the open-files limit is below `needed`. */
export function requireOpenFiles(needed: number): void {
  const { soft, hard } = openFilesLimits();
  if (soft >= needed) return;
  throw new Error(
    `B5 needs ${needed} open files per process, but the limit is ${soft} (hard ${hard}) and ` +
      `cannot be raised from here; run \`ulimit -n ${needed}\` as root or raise the hard limit ` +
      "in /etc/security/limits.conf, then rerun",
  );
}
