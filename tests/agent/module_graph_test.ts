import assert from "node:assert/strict";
import { MAIN } from "../helpers.ts";
import { chainsTo, denoInfo, loaded, npmPackage, ROOT } from "../module_graph.ts";

const AGENT_ROLE = new URL("src/cli/agent_role.ts", ROOT).href;

/** What an agent must not load: zod and everything built on it, the server, the other commands. */
function forbidden(specifier: string): boolean {
  return npmPackage(specifier) === "zod" ||
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
    ].some((p) => specifier.startsWith(ROOT + p));
}

Deno.test("jobdist agent loads neither zod, the server, the API client nor the other commands", async () => {
  const info = await denoInfo(MAIN);
  const main = new URL(MAIN, "file:").href;
  // main.ts runs `agent` through what it imports statically plus agent_role.ts (imported on demand).
  const mainStatic = loaded(info, main, true);
  const mainAll = loaded(info, main);
  assert.ok(mainAll.has(AGENT_ROLE), "main.ts no longer imports src/cli/agent_role.ts");
  assert.ok(!mainStatic.has(AGENT_ROLE), "main.ts imports agent_role.ts statically");
  const bad = chainsTo([...mainStatic, ...loaded(info, AGENT_ROLE)], forbidden);
  assert.deepEqual(bad, [], "modules jobdist agent must not load");
  // The TOML parser is loaded only when a configuration file is given.
  const toml = (s: string) => npmPackage(s) === "smol-toml";
  const atStart = [...mainStatic, ...loaded(info, AGENT_ROLE, true)];
  assert.deepEqual(chainsTo(atStart, toml), [], "jobdist agent loads the TOML parser at start");
  assert.ok([...loaded(info, AGENT_ROLE).keys()].some(toml), "no TOML parser to load at all?");
  // The check sees what the full command line loads, so it would notice zod if it were there.
  assert.ok(
    [...mainAll.keys()].some((s) => npmPackage(s) === "zod"),
    "the full command line loads no zod?",
  );
});
