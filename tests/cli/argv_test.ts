import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { type ArgSpec, splitArgv } from "../../src/cli/argv.ts";

const SPECS: Record<string, ArgSpec> = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean", short: "j" },
  slots: { type: "string", short: "s" },
  label: { type: "string", multiple: true, short: "l" },
  follow: { type: "boolean", multiple: true },
};

const TOKENS = [
  "--json",
  "--slots",
  "4",
  "--slots=5",
  "--slots=",
  "--slots=-1",
  "-h",
  "-s",
  "-s3",
  "-js",
  "-jh",
  "-sj",
  "--label",
  "a=b",
  "-l",
  "--follow",
  "--",
  "pos",
  "-",
  "-1",
  "--nope",
  "-z",
  "--json=yes",
  "--=x",
  "--constructor",
  "--toString",
];

/** What node:util's parseArgs makes of `argv` (as jobdist called it), or the error. */
function reference(argv: string[]) {
  try {
    const r = parseArgs({ args: argv, options: SPECS, allowPositionals: true, strict: true });
    return { values: { ...r.values }, positionals: r.positionals };
  } catch {
    return "error";
  }
}

function ours(argv: string[]) {
  try {
    return splitArgv(argv, SPECS);
  } catch {
    return "error";
  }
}

Deno.test("splitArgv() splits every command line as node:util's parseArgs does (strict)", () => {
  const pick = () => TOKENS[Math.floor(Math.random() * TOKENS.length)];
  let errors = 0;
  for (let round = 0; round < 5000; round++) {
    const argv = Array.from({ length: Math.floor(Math.random() * 6) }, pick);
    const expected = reference(argv);
    if (expected === "error") errors++;
    assert.deepEqual(ours(argv), expected, JSON.stringify(argv));
  }
  assert.ok(errors > 100 && errors < 4900, `${errors} errors: the cases must mix both`);
});

Deno.test("splitArgv() errors name the argument that is wrong", () => {
  for (
    const [argv, pattern] of [
      [["--nope"], /'--nope'/],
      [["-z"], /'-z'/],
      [["--json=yes"], /'--json' does not take an argument/],
      [["--slots"], /'--slots <value>' argument missing/],
      [["--slots", "-1"], /argument is ambiguous/],
    ] as const
  ) {
    assert.throws(() => splitArgv([...argv], SPECS), pattern);
  }
});
