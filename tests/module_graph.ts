/**
 * The module graph of `deno info --json`, for the tests that keep a role's memory small by
 * keeping modules out of what it loads (`tests/agent/module_graph_test.ts`,
 * `tests/server/module_graph_test.ts`).
 * @module
 */

import assert from "node:assert/strict";

/** One module of `deno info --json` and what it imports. */
interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** What `deno info --json` prints. */
export interface Info {
  modules: InfoModule[];
  redirects: Record<string, string>;
}

/** The file URL of the repository's root, with a trailing slash. */
export const ROOT = new URL("../", import.meta.url).href;

/** `deno info --json entry`. */
export async function denoInfo(entry: string): Promise<Info> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json", entry] }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * The modules `from` loads when it runs, each with the chain of imports that reaches it: code
 * imports (static, and dynamic ones unless `staticOnly`), not `import type`.
 */
export function loaded(info: Info, from: string, staticOnly = false): Map<string, string[]> {
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

/**
 * The npm package a module belongs to, or `null`: from an `npm:` specifier, or from the path of a
 * file under `node_modules/` (where `deno install` puts the packages).
 */
export function npmPackage(specifier: string): string | null {
  const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@/.exec(specifier);
  if (npm) return npm[1];
  const at = specifier.lastIndexOf("/node_modules/");
  if (!specifier.startsWith("file:") || at < 0) return null;
  const [first, second] = specifier.slice(at + "/node_modules/".length).split("/");
  return first.startsWith("@") ? `${first}/${second}` : first;
}

/** The import chains (paths relative to the root, joined by arrows) of the modules `bad` picks. */
export function chainsTo(
  modules: Iterable<[string, string[]]>,
  bad: (specifier: string) => boolean,
): string[] {
  return [...modules].filter(([s]) => bad(s)).map(([, chain]) =>
    chain.map((s) => s.replace(ROOT, "")).join(" -> ")
  );
}
