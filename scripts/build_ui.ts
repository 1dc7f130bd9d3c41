/**
 * Builds the dashboard's browser bundle: `deno bundle` of `src/ui/client.tsx` into
 * `src/ui/bundle.gen.js`, which `src/ui/bundle.ts` embeds with a text import (so `deno compile`
 * carries it and nothing under `src/ui` is read at run time). Run with `deno task build:ui`.
 * @module
 */

const root = new URL("../", import.meta.url);
const entry = new URL("src/ui/client.tsx", root).pathname;
const output = new URL("src/ui/bundle.gen.js", root).pathname;

const started = performance.now();
const { code, stderr } = await new Deno.Command(Deno.execPath(), {
  args: [
    "bundle",
    "--quiet",
    "--platform",
    "browser",
    "--format",
    "esm",
    "--minify",
    "--output",
    output,
    entry,
  ],
  cwd: root.pathname,
  stdout: "inherit",
  stderr: "piped",
}).output();
if (code !== 0) {
  console.error(new TextDecoder().decode(stderr));
  console.error("Cannot build the dashboard bundle: deno bundle failed");
  Deno.exit(1);
}
const size = (await Deno.stat(output)).size;
console.error(
  `Built ${output.slice(root.pathname.length)} (${(size / 1024).toFixed(1)} KiB) in ${
    Math.round(performance.now() - started)
  } ms`,
);
