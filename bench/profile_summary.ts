/**
 * Summarises a V8 `.cpuprofile` (from `deno task bench --profile`, which runs servers with
 * `--cpu-prof`): the functions with the most self time and the most inclusive time.
 *
 * Usage: deno run -A bench/profile_summary.ts bench/profiles/CPU.*.cpuprofile [TOP]
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and inclusive time (microseconds) per function, and the total sampled. */
export function summarizeProfile(
  profile: CpuProfile,
): { total: number; self: Map<string, number>; inclusive: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: ProfileNode) => {
    const file = n.callFrame.url.split("/").slice(-2).join("/");
    return `${n.callFrame.functionName || "(anonymous)"} ${file}:${n.callFrame.lineNumber + 1}`;
  };
  const selfById = new Map<number, number>();
  profile.samples.forEach((id, i) =>
    selfById.set(id, (selfById.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  );
  const self = new Map<string, number>(), inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, t] of selfById) {
    total += t;
    const key = name(byId.get(id)!);
    self.set(key, (self.get(key) ?? 0) + t);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = name(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    }
  }
  return { total, self, inclusive };
}

if (import.meta.main) {
  const [file, topText] = Deno.args;
  if (!file) {
    console.error("Usage: deno run -A bench/profile_summary.ts FILE.cpuprofile [TOP]");
    Deno.exit(2);
  }
  const top = Number(topText ?? 25);
  const { total, self, inclusive } = summarizeProfile(JSON.parse(await Deno.readTextFile(file)));
  const show = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([k, t]) => `${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`).join("\n");
  console.log(`sampled ${(total / 1e6).toFixed(2)} s`);
  console.log(`--- self time\n${show(self)}\n--- inclusive time\n${show(inclusive)}`);
}
