/**
 * `deno task compile`: builds the single-file binaries `dist/jobdist-<target>` for every
 * supported OS. `deno compile` downloads Deno's runtime for each target, so this needs network
 * access to Deno's release host.
 * @module
 */

const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const only = Deno.args.length ? TARGETS.filter((t) => Deno.args.includes(t)) : TARGETS;
let failed = 0;
for (const target of only) {
  const out = `dist/jobdist-${target}`;
  console.error(`compiling ${out}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["compile", "-A", "--target", target, "--output", out, "main.ts"],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) failed++;
}
if (failed) {
  console.error(`${failed} target(s) failed; deno compile needs network access to fetch runtimes`);
  Deno.exit(1);
}
