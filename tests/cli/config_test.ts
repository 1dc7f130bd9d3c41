import assert from "node:assert/strict";
import { loadConfigParser, readConfigFile } from "../../src/cli/config_file.ts";
import { parseFlags, UsageError } from "../../src/cli/flags.ts";
import { agent, CONFIG_TABLES, dev, server } from "../../src/cli/roles.ts";
import { MAIN } from "../helpers.ts";

// runCommand() loads the TOML parser when a file is given; these tests call parseFlags() directly.
await loadConfigParser();

async function tomlFile(text: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".toml" });
  await Deno.writeTextFile(path, text);
  return path;
}

/** The errors of checking `text` as a configuration file, without the file name. */
async function errorsOf(text: string): Promise<string[]> {
  const path = await tomlFile(text);
  try {
    const { errors } = readConfigFile(path, CONFIG_TABLES);
    for (const e of errors) assert.ok(e.includes(path), `names the file: ${e}`);
    return errors.map((e) => e.replace(path, "FILE"));
  } finally {
    await Deno.remove(path);
  }
}

const noEnv = () => undefined;

Deno.test("config file: the roles take flag > env > file > default", async () => {
  const path = await tomlFile(`
[server]
listen = "0.0.0.0:7000"
retention = "14d"
token = ["a-token-of-sixteen-chars"]
log-format = "json"

[agent]
slots = 3
label = { zone = "eu", gpu = "a100" }
once = true
`);
  try {
    const env = (vars: Record<string, string>) => (n: string) =>
      ({ JOBDIST_CONFIG: path, ...vars })[n];
    const s = parseFlags(server, [], env({ JOBDIST_RETENTION: "2d" }));
    assert.equal(s.str("listen"), "0.0.0.0:7000");
    assert.equal(s.str("retention"), "2d");
    assert.equal(s.source("retention"), "env JOBDIST_RETENTION");
    assert.equal(s.str("db"), "./jobdist.db");
    assert.deepEqual(s.list("token"), ["a-token-of-sixteen-chars"]);
    assert.equal(s.str("log-format"), "json");
    assert.equal(
      parseFlags(server, ["--listen", "127.0.0.1:1"], env({})).str("listen"),
      "127.0.0.1:1",
    );

    const a = parseFlags(agent, ["--config", path], noEnv);
    assert.equal(a.str("slots"), "3");
    assert.deepEqual(a.list("label"), ["zone=eu", "gpu=a100"]);
    assert.equal(a.bool("once"), true);
    assert.equal(a.str("log-format"), "text", "the agent does not read [server]");
    assert.equal(
      parseFlags(agent, ["--config", path], (n) => ({ JOBDIST_ONCE: "0" })[n]).bool("once"),
      false,
    );

    // dev reads both tables; on a key both set, [server] wins.
    const both = await tomlFile(
      '[server]\nlog-level = "warn"\n[agent]\nlog-level = "debug"\nslots = 2\n',
    );
    const d = parseFlags(dev, ["--config", both], noEnv);
    assert.equal(d.str("log-level"), "warn");
    assert.equal(d.str("slots"), "2");
    await Deno.remove(both);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("config file: unknown tables and keys are errors naming the file and the key", async () => {
  assert.deepEqual(await errorsOf('listen = "x"\n[servr]\nlisten = "x"\n[agent]\nslot = 2\n'), [
    "FILE: key listen outside a table: expected [server] or [agent]",
    "FILE: unknown table [servr]: expected [server] or [agent]",
    'FILE: [agent] unknown key "slot": did you mean "slots"?',
  ]);
  const [unknown] = await errorsOf("[server]\nbanana = 1\n");
  assert.match(unknown, /^FILE: \[server\] unknown key "banana": expected one of listen, db, /);
  // A file cannot name another file.
  const [config] = await errorsOf('[agent]\nconfig = "other.toml"\n');
  assert.match(config, /^FILE: \[agent\] unknown key "config": expected one of server, token, /);
  assert.deepEqual(await errorsOf("server = 3\n"), [
    "FILE: server: expected a table ([server]), got the number 3",
  ]);
});

Deno.test("config file: values of the wrong type are errors saying what was expected", async () => {
  assert.deepEqual(
    await errorsOf(`
[server]
listen = 7420
heartbeat = 5
token = [1, 2]
[agent]
once = "yes"
slots = 2.5
label = { zone = 1 }
`),
    [
      "FILE: [server] listen: expected a string, got the number 7420",
      'FILE: [server] heartbeat: expected a duration string such as "30s", got the number 5',
      "FILE: [server] token: expected a string, got the number 1 (in the list)",
      'FILE: [agent] once: expected true or false, got the string "yes"',
      'FILE: [agent] slots: expected a whole number of at least 1, got "2.5"',
      "FILE: [agent] label: zone: expected a string, got the number 1",
    ],
  );
});

Deno.test("config file: bad values are errors saying what was expected", async () => {
  assert.deepEqual(
    await errorsOf(`
[server]
retention = "a week"
log-level = "loud"
log-format = "xml"
[agent]
slots = 0
output-memory = -1
label = ["zone"]
idle-exit = "5 parsecs"
`),
    [
      'FILE: [server] retention: expected a duration such as 30s, 15m or 2h, got "a week"',
      'FILE: [server] log-level: expected one of debug, info, warn, error, got "loud"',
      'FILE: [server] log-format: expected one of text, json, got "xml"',
      'FILE: [agent] slots: expected a whole number of at least 1, got "0"',
      'FILE: [agent] output-memory: expected a whole number of bytes, got "-1"',
      'FILE: [agent] label: expected KEY=VALUE, got "zone" (in the list)',
      'FILE: [agent] idle-exit: expected a duration such as 30s, 15m or 2h, got "5 parsecs"',
    ],
  );
});

Deno.test("config file: a file that is missing or not TOML is one clear error", async () => {
  assert.deepEqual(
    await errorsOf("[server\nlisten = 1\n"),
    ["Configuration file FILE: not valid TOML: illegal character in key (line 1, column 8)"],
  );
  const missing = `${await Deno.makeTempDir()}/nope.toml`;
  assert.throws(
    () => parseFlags(server, ["--config", missing], noEnv),
    (e: unknown) =>
      e instanceof UsageError && e.message === `Configuration file ${missing}: no such file`,
  );
  const bad = await tomlFile("[server]\nlisten = 1\nretention = 2\n");
  try {
    assert.throws(
      () => parseFlags(server, [], (n) => ({ JOBDIST_CONFIG: bad })[n]),
      (e: unknown) =>
        e instanceof UsageError && e.message.startsWith("Invalid configuration:\n  ") &&
        e.message.split("\n").length === 3,
    );
  } finally {
    await Deno.remove(bad);
  }
});

async function configCheck(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "config", "check", ...args],
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("jobdist config check prints the effective configuration with sources, tokens redacted", async () => {
  const path = await tomlFile(
    '[server]\ntoken = ["secret-token-0123456789"]\nretention = "3d"\n[agent]\nslots = 3\n',
  );
  try {
    const r = await configCheck(["--config", path], {
      JOBDIST_DB: "/var/lib/jobdist/x.db",
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes("secret-token"), r.stdout);
    assert.match(r.stdout, new RegExp(`^# ${path}: valid$`, "m"));
    assert.match(r.stdout, /^token = \["<redacted>"\] +# file .* \[server\]$/m);
    assert.match(r.stdout, /^retention = "3d" +# file .* \[server\]$/m);
    assert.match(r.stdout, /^db = "\/var\/lib\/jobdist\/x\.db" +# env JOBDIST_DB$/m);
    assert.match(r.stdout, /^listen = "127\.0\.0\.1:7420" +# default$/m);
    assert.match(r.stdout, /^slots = "3" +# file .* \[agent\]$/m);
    assert.match(r.stdout, /^# token-file: not set$/m);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("jobdist config check exits 2 and lists every mistake", async () => {
  const path = await tomlFile('[server]\nlistn = "x"\n[agent]\nslots = 0\n');
  const short = await tomlFile('[server]\ntoken = ["short"]\n');
  try {
    const r = await configCheck(["--config", path]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /\[server\] unknown key "listn": did you mean "listen"\?/);
    assert.match(r.stderr, /\[agent\] slots: expected a whole number of at least 1, got "0"/);
    // Values only the role itself refuses are reported too.
    const s = await configCheck([], { JOBDIST_CONFIG: short });
    assert.equal(s.code, 2);
    assert.match(s.stderr, /\[server\] Tokens must be at least 16 characters long/);
    assert.equal((await configCheck(["lint"])).code, 2);
  } finally {
    await Deno.remove(path);
    await Deno.remove(short);
  }
});

Deno.test("jobdist agent and server read a configuration file given by flag or env", async () => {
  const path = await tomlFile('[agent]\nslotz = 3\n[server]\nretention = "soon"\n');
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  // Each form makes the process load the TOML parser and refuse the file's mistakes.
  for (
    const [args, env] of [
      [["agent", "--server", "http://127.0.0.1:9", "--config", path], {}],
      [["agent", "--server", "http://127.0.0.1:9", `--config=${path}`], {}],
      [["server", "--listen", "127.0.0.1:0"], { JOBDIST_CONFIG: path }],
    ] as const
  ) {
    const r = await run([...args], env);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /slotz/);
    assert.match(r.stderr, /retention/);
  }
  await Deno.remove(path);
});
