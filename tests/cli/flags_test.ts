import assert from "node:assert/strict";
import { loadConfigParser } from "../../src/cli/config_file.ts";
import {
  CLIENT_FLAGS,
  type Command,
  helpText,
  intFlag,
  parseFlags,
  parsePairs,
  UsageError,
} from "../../src/cli/flags.ts";

// runCommand() loads the TOML parser when a file is given; these tests call parseFlags() directly.
await loadConfigParser();

const cmd: Command = {
  name: "demo",
  synopsis: "jobdist demo [flags] <id>",
  summary: "Demonstrates flags.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "slots",
      short: "s",
      type: "string",
      env: "JOBDIST_SLOTS",
      default: "4",
      value: "N",
      help: "parallel jobs",
    },
    {
      name: "label",
      short: "l",
      type: "string",
      multiple: true,
      env: "JOBDIST_LABELS",
      value: "K=V",
      help: "agent label",
    },
    { name: "json", type: "boolean", env: "JOBDIST_JSON", help: "print JSON" },
    { name: "follow", short: "f", type: "boolean", help: "keep following" },
    { name: "name", type: "string", help: "a name without env or default" },
  ],
  run: () => Promise.resolve(0),
};

const noEnv = () => undefined;
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("parseFlags() prefers the flag, then the env variable, then the default", () => {
  const env = envOf({ JOBDIST_SLOTS: "8", JOBDIST_SERVER: "http://env:1" });
  assert.equal(parseFlags(cmd, ["--slots", "2"], env).str("slots"), "2");
  assert.equal(parseFlags(cmd, ["-s", "3"], env).str("slots"), "3");
  assert.equal(parseFlags(cmd, ["--slots=5"], env).str("slots"), "5");
  assert.equal(parseFlags(cmd, [], env).str("slots"), "8");
  assert.equal(parseFlags(cmd, [], noEnv).str("slots"), "4");
  assert.equal(parseFlags(cmd, [], env).str("server"), "http://env:1");
  assert.equal(parseFlags(cmd, [], noEnv).str("server"), "http://127.0.0.1:7420");
  assert.equal(parseFlags(cmd, ["--server", "http://flag:2"], env).str("server"), "http://flag:2");
  assert.equal(parseFlags(cmd, [], noEnv).str("token"), undefined);
  assert.equal(parseFlags(cmd, [], noEnv).str("name"), undefined);
});

Deno.test("parseFlags() reads the process environment by default", () => {
  const before = Deno.env.get("JOBDIST_TOKEN");
  Deno.env.set("JOBDIST_TOKEN", "from-process-env");
  try {
    assert.equal(parseFlags(cmd, []).str("token"), "from-process-env");
    assert.equal(parseFlags(cmd, ["--token", "flag"]).str("token"), "flag");
  } finally {
    if (before === undefined) Deno.env.delete("JOBDIST_TOKEN");
    else Deno.env.set("JOBDIST_TOKEN", before);
  }
});

Deno.test("parseFlags() collects repeated flags, or splits the env variable on commas", () => {
  const env = envOf({ JOBDIST_LABELS: "zone=eu, gpu=yes,," });
  assert.deepEqual(
    parseFlags(cmd, ["-l", "a=1", "--label", "b=2"], env).list("label"),
    ["a=1", "b=2"],
  );
  assert.deepEqual(parseFlags(cmd, [], env).list("label"), ["zone=eu", "gpu=yes"]);
  assert.deepEqual(parseFlags(cmd, [], noEnv).list("label"), []);
});

Deno.test("parseFlags() reads booleans from flags and from 1 or true in the env", () => {
  assert.equal(parseFlags(cmd, ["--json"], noEnv).bool("json"), true);
  assert.equal(parseFlags(cmd, [], noEnv).bool("json"), false);
  assert.equal(parseFlags(cmd, [], envOf({ JOBDIST_JSON: "1" })).bool("json"), true);
  assert.equal(parseFlags(cmd, [], envOf({ JOBDIST_JSON: "true" })).bool("json"), true);
  assert.equal(parseFlags(cmd, [], envOf({ JOBDIST_JSON: "0" })).bool("json"), false);
  assert.equal(parseFlags(cmd, ["-f"], noEnv).bool("follow"), true);
  assert.equal(parseFlags(cmd, ["-h"], noEnv).bool("help"), true);
});

Deno.test("parseFlags() keeps positionals and everything after --", () => {
  const args = parseFlags(cmd, ["42", "--json", "--", "ls", "--slots", "-la"], noEnv);
  assert.deepEqual(args.positionals, ["42", "ls", "--slots", "-la"]);
  assert.equal(args.bool("json"), true);
  assert.equal(args.str("slots"), "4");
});

Deno.test("parseFlags() throws a UsageError for an unknown flag", () => {
  for (const argv of [["--nope"], ["-z"], ["--json=yes"], ["--slots"]]) {
    assert.throws(() => parseFlags(cmd, argv, noEnv), UsageError, argv.join(" "));
  }
  assert.throws(() => parseFlags(cmd, ["--nope"], noEnv), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /--nope/);
    assert.doesNotMatch(e.message, /To specify/);
    return true;
  });
});

Deno.test("helpText() lists every flag with its env name and default", () => {
  const text = helpText(cmd);
  assert.ok(text.startsWith("Usage: jobdist demo [flags] <id>"), text);
  assert.match(text, /Demonstrates flags\./);
  for (const env of ["JOBDIST_SERVER", "JOBDIST_TOKEN", "JOBDIST_SLOTS", "JOBDIST_LABELS"]) {
    assert.match(text, new RegExp(`env ${env}\\b`), env);
  }
  assert.match(text, /-s, --slots N +parallel jobs \(env JOBDIST_SLOTS, default 4\)/);
  assert.match(text, /--label K=V +agent label \(repeatable, env JOBDIST_LABELS\)/);
  assert.match(text, /default http:\/\/127\.0\.0\.1:7420/);
  assert.match(text, /--name +a name without env or default$/m);
  assert.match(text, /--help +show this help/);
});

Deno.test("parsePairs() splits KEY=VALUE at the first equals sign", () => {
  assert.deepEqual(parsePairs(["a=1", "b=x=y", "c="], "--env"), { a: "1", b: "x=y", c: "" });
  assert.deepEqual(parsePairs([], "--env"), {});
  for (const bad of ["novalue", "=x"]) {
    assert.throws(
      () => parsePairs([bad], "--label"),
      (e: unknown) =>
        e instanceof UsageError && e.message === `Invalid --label "${bad}": expected KEY=VALUE`,
    );
  }
});

Deno.test("intFlag() parses whole numbers within bounds", () => {
  assert.equal(intFlag(undefined, "slots", 1, 10), undefined);
  assert.equal(intFlag("3", "slots", 1, 10), 3);
  assert.equal(intFlag("-5", "priority", -10, 10), -5);
  for (const bad of ["0", "11", "2.5", "abc", ""]) {
    assert.throws(() => intFlag(bad, "slots", 1, 10), UsageError, JSON.stringify(bad));
  }
  assert.throws(
    () => intFlag("99", "slots", 1, 10),
    /Invalid --slots "99": expected a whole number from 1 to 10/,
  );
});

/** A command that reads the `[demo]` and `[other]` tables of a configuration file. */
const configured: Command = {
  ...cmd,
  flags: [
    ...cmd.flags,
    { name: "config", type: "string", env: "JOBDIST_CONFIG", value: "FILE", help: "file" },
    {
      name: "level",
      type: "string",
      env: "JOBDIST_LEVEL",
      default: "info",
      value: "info|debug",
      help: "",
    },
  ],
  config: {
    tables: {
      demo: [
        ...cmd.flags,
        { name: "level", type: "string", value: "info|debug", help: "" },
      ],
      other: [{ name: "slots", type: "string", value: "N", help: "" }],
    },
    reads: ["other", "demo"],
  },
};

async function tomlFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(path, text);
  return path;
}

Deno.test("parseFlags() takes the configuration file between the env variable and the default", async () => {
  const path = await tomlFile(
    '[demo]\nslots = 6\nserver = "http://file:3"\nlabel = ["a=1"]\njson = true\n',
  );
  try {
    const env = envOf({ JOBDIST_SLOTS: "8", JOBDIST_CONFIG: path });
    const fromFile = parseFlags(configured, [], envOf({ JOBDIST_CONFIG: path }));
    assert.equal(fromFile.str("slots"), "6");
    assert.equal(fromFile.source("slots"), `file ${path} [demo]`);
    assert.equal(fromFile.str("server"), "http://file:3");
    assert.deepEqual(fromFile.list("label"), ["a=1"]);
    assert.equal(fromFile.bool("json"), true);
    assert.equal(fromFile.str("level"), "info");
    assert.equal(fromFile.source("level"), "default");
    assert.equal(fromFile.source("name"), "unset");
    // env beats the file, the flag beats both; --config beats JOBDIST_CONFIG.
    assert.equal(parseFlags(configured, [], env).str("slots"), "8");
    assert.equal(parseFlags(configured, [], env).source("slots"), "env JOBDIST_SLOTS");
    assert.equal(parseFlags(configured, ["--slots", "2"], env).str("slots"), "2");
    assert.equal(parseFlags(configured, ["--slots", "2"], env).source("slots"), "flag");
    const none = await tomlFile("");
    assert.equal(
      parseFlags(configured, ["--config", none], env).str("server"),
      cmd.flags[0].default,
    );
    assert.deepEqual(parseFlags(configured, ["-l", "b=2"], env).list("label"), ["b=2"]);
    assert.deepEqual(
      parseFlags(configured, [], envOf({ JOBDIST_CONFIG: path, JOBDIST_LABELS: "c=3" })).list(
        "label",
      ),
      ["c=3"],
    );
    assert.equal(
      parseFlags(configured, [], envOf({ JOBDIST_CONFIG: path, JOBDIST_JSON: "0" })).bool("json"),
      false,
    );
    await Deno.remove(none);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("parseFlags() reads only the tables a command reads; the later one wins", async () => {
  const path = await tomlFile("[other]\nslots = 3\n[demo]\nslots = 5\n");
  try {
    assert.equal(parseFlags(configured, ["--config", path], noEnv).str("slots"), "5");
    assert.equal(
      parseFlags({ ...configured, config: { ...configured.config!, reads: ["demo", "other"] } }, [
        "--config",
        path,
      ], noEnv).str("slots"),
      "3",
    );
    assert.equal(
      parseFlags({ ...configured, config: { ...configured.config!, reads: [] } }, [
        "--config",
        path,
      ], noEnv).str("slots"),
      "4",
    );
    // Commands without a configuration schema never read the file.
    assert.equal(
      parseFlags(cmd, ["--slots", "1"], envOf({ JOBDIST_CONFIG: path })).str("slots"),
      "1",
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("parseFlags() refuses a value outside a choice flag's choices, naming its source", async () => {
  assert.equal(parseFlags(configured, ["--level", "debug"], noEnv).str("level"), "debug");
  assert.throws(
    () => parseFlags(configured, ["--level", "loud"], noEnv),
    (e: unknown) =>
      e instanceof UsageError && e.message === 'Invalid --level "loud": expected info or debug',
  );
  assert.throws(
    () => parseFlags(configured, [], envOf({ JOBDIST_LEVEL: "loud" })),
    /Invalid JOBDIST_LEVEL "loud": expected info or debug/,
  );
  const path = await tomlFile('[demo]\nlevel = "loud"\n');
  try {
    assert.throws(
      () => parseFlags(configured, ["--config", path], noEnv),
      (e: unknown) =>
        e instanceof UsageError &&
        e.message === `${path}: [demo] level: expected one of info, debug, got "loud"`,
    );
  } finally {
    await Deno.remove(path);
  }
});
