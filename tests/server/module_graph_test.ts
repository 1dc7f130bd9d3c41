import assert from "node:assert/strict";
import { MAIN } from "../helpers.ts";
import { chainsTo, denoInfo, loaded, npmPackage, ROOT } from "../module_graph.ts";

const ROLES = new URL("src/cli/roles.ts", ROOT).href;
const SERVER = new URL("src/server/mod.ts", ROOT).href;
/** The dashboard's pages, bundle and stylesheet, which the server loads on first use. */
const DASHBOARD = ["src/ui/pages.tsx", "src/ui/bundle.ts", "src/ui/styles.ts"].map((p) =>
  new URL(p, ROOT).href
);

/**
 * What an idle server must not evaluate (bench B7): the other commands, `node:crypto`'s
 * polyfill, the dashboard's pages with preact and the bundle's text import, and the TOML parser
 * (loaded only when a configuration file is given).
 */
function notAtStart(specifier: string): boolean {
  return specifier === "node:crypto" ||
    ["preact", "preact-render-to-string", "smol-toml"].includes(npmPackage(specifier)!) ||
    DASHBOARD.includes(specifier) ||
    specifier === new URL("src/cli/mod.ts", ROOT).href;
}

Deno.test("jobdist server evaluates neither the other commands, node:crypto nor the dashboard's pages at start", async () => {
  const info = await denoInfo(MAIN);
  const main = new URL(MAIN, "file:").href;
  // main.ts runs `server` through roles.ts (not the whole command line), which imports the
  // server on demand.
  const mainDeps = info.modules.find((m) => m.specifier === main)?.dependencies ?? [];
  assert.ok(mainDeps.some((d) => d.code?.specifier === ROLES), "main.ts does not import roles.ts");
  assert.ok(loaded(info, ROLES).has(SERVER), "roles.ts no longer imports src/server/mod.ts");
  const atStart = [
    ...loaded(info, main, true),
    ...loaded(info, ROLES, true),
    ...loaded(info, SERVER, true),
  ];
  assert.deepEqual(chainsTo(atStart, notAtStart), [], "modules an idle server must not evaluate");
  // Still imported with literal specifiers, so `deno run` and `deno compile` have them.
  const all = loaded(info, SERVER);
  for (const m of DASHBOARD) assert.ok(all.has(m), `the server no longer imports ${m}`);
});
