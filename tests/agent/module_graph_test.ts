import assert from "node:assert/strict";
import { MAIN } from "../helpers.ts";

/** One module of `deno info --json` and what it imports. */
interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

interface Info {
  modules: InfoModule[];
  redirects: Record<string, string>;
}

async function denoInfo(entry: string): Promise<Info> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * The modules `from` loads when it runs, each with the chain of imports that reaches it: code
 * imports (static, and dynamic ones unless `staticOnly`), not `import type`.
 */
function loaded(info: Info, from: string, staticOnly = false): Map<string, string[]> {
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const chains = new Map([[from, [from]]]);
  const todo = [from];
  for (let s = todo.pop(); s !== undefined; s = todo.pop()) {
    for (const dep of modules.get(s)?.dependencies ?? []) {
      if (!dep.code || (staticOnly && dep.isDynamic)) continue;
      const target = info.redirects[dep.code.specifier] ?? dep.code.specifier;
      if (chains.has(target)) continue;
      chains.set(target, [...chains.get(s)!, target]);
      todo.push(target);
    }
  }
  return chains;
}

const root = new URL("../../", import.meta.url).href;
const AGENT_ROLE = new URL("src/cli/agent_role.ts", root).href;

/** What an agent must not load: zod and everything built on it, the server, the other commands. */
function forbidden(specifier: string): boolean {
  return /^npm:\/?zod@/.test(specifier) ||
    [
      "src/server/",
      "src/protocol/mod.ts",
      "src/protocol/api.ts",
      "src/protocol/http.ts",
      "src/protocol/job.ts",
      "src/protocol/agent_wire.ts",
      "src/cli/mod.ts",
      "src/cli/client.ts",
      "src/cli/roles.ts",
    ].some((p) => specifier.startsWith(root + p));
}

Deno.test("jobdist agent loads neither zod, the server, the API client nor the other commands", async () => {
  const info = await denoInfo(MAIN);
  const main = new URL(MAIN, "file:").href;
  // main.ts runs `agent` through what it imports statically plus agent_role.ts (imported on demand).
  const mainStatic = loaded(info, main, true);
  const mainAll = loaded(info, main);
  assert.ok(mainAll.has(AGENT_ROLE), "main.ts no longer imports src/cli/agent_role.ts");
  assert.ok(!mainStatic.has(AGENT_ROLE), "main.ts imports agent_role.ts statically");
  const agentModules = [...mainStatic, ...loaded(info, AGENT_ROLE)];
  const bad = agentModules.filter(([s]) => forbidden(s)).map(([, chain]) =>
    chain.map((s) => s.replace(root, "")).join(" -> ")
  );
  assert.deepEqual(bad, [], "modules jobdist agent must not load");
  // The check sees what the full command line loads, so it would notice zod if it were there.
  assert.ok([...mainAll.keys()].some(forbidden), "the full command line loads no zod?");
});
