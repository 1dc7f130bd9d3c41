import assert from "node:assert/strict";
import { parseFlags, UsageError } from "../../src/cli/flags.ts";
import { specFromArgs } from "../../src/cli/spec_flags.ts";
import { submit } from "../../src/cli/submit.ts";
import { type JobSpecInput, parseJobSpec } from "../../src/protocol/job.ts";

/** The spec `jobdist submit ARGV` would send (no environment). */
async function specOf(argv: string[]): Promise<JobSpecInput> {
  const spec = await specFromArgs(parseFlags(submit, argv, () => undefined));
  parseJobSpec(spec); // what the CLI builds must pass the server's validation
  return spec;
}

async function usageError(argv: string[]): Promise<UsageError> {
  try {
    await specFromArgs(parseFlags(submit, argv, () => undefined));
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    return e;
  }
  assert.fail(`accepted ${argv.join(" ")}`);
}

async function withFile<T>(name: string, text: string, fn: (path: string) => Promise<T>) {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-spec-" });
  try {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text);
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("specFromArgs() makes an argv job from the words after --", async () => {
  assert.deepEqual(await specOf(["--", "ls", "-la", "/tmp"]), { command: ["ls", "-la", "/tmp"] });
  // Flags after -- belong to the job, not to jobdist.
  assert.deepEqual(await specOf(["--", "grep", "--shell", "x"]), {
    command: ["grep", "--shell", "x"],
  });
});

Deno.test("specFromArgs() makes a shell job from --shell", async () => {
  assert.deepEqual(await specOf(["--shell", "echo $HOME | tr a-z A-Z"]), {
    shell: "echo $HOME | tr a-z A-Z",
  });
});

Deno.test("specFromArgs() sends a --file with the runtime guessed from its extension", async () => {
  const cases: Array<[string, string]> = [
    ["hello.py", "python"],
    ["app.js", "node"],
    ["app.mjs", "node"],
    ["mod.ts", "deno"],
    ["Main.java", "java"],
    ["main.go", "go"],
    ["run.sh", "bash"],
    ["run.bash", "bash"],
  ];
  for (const [name, runtime] of cases) {
    const spec = await withFile(name, `source of ${name}\n`, (path) => specOf(["--file", path]));
    assert.deepEqual(spec.script, { runtime, source: `source of ${name}\n` }, name);
  }
});

Deno.test("specFromArgs() lets --runtime override the guess", async () => {
  const spec = await withFile(
    "task.py",
    "print(1)",
    (path) => specOf(["-r", "python3.12", "-f", path]),
  );
  assert.deepEqual(spec.script, { runtime: "python3.12", source: "print(1)" });
});

Deno.test("specFromArgs() asks for --runtime when the extension says nothing", async () => {
  await withFile("script", "x", async (path) => {
    assert.match((await usageError(["--file", path])).message, /--runtime/);
  });
  await withFile("notes.txt", "x", async (path) => {
    assert.match((await usageError(["--file", path])).message, /--runtime/);
  });
  assert.match((await usageError(["--code", "print(1)"])).message, /--runtime/);
});

Deno.test("specFromArgs() sends inline --code with its runtime", async () => {
  const spec = await specOf(["--runtime", "node", "--code", "console.log(1)"]);
  assert.deepEqual(spec.script, { runtime: "node", source: "console.log(1)" });
});

Deno.test("specFromArgs() reports a --file it cannot read", async () => {
  const e = await usageError(["--file", "/nonexistent/dir/x.py"]);
  assert.match(e.message, /^Cannot read \/nonexistent\/dir\/x\.py/);
});

Deno.test("specFromArgs() refuses conflicting kinds of job", async () => {
  const conflicts = [
    ["--shell", "ls", "--", "ls"],
    ["--shell", "ls", "--code", "x", "--runtime", "bash"],
    ["--code", "x", "--runtime", "bash", "--", "ls"],
  ];
  for (const argv of conflicts) {
    assert.match((await usageError(argv)).message, /only one of/, argv.join(" "));
  }
  await withFile("a.py", "x", async (path) => {
    assert.match((await usageError(["--file", path, "--code", "y"])).message, /--file or --code/);
  });
});

Deno.test("specFromArgs() refuses a call with nothing to run", async () => {
  assert.match((await usageError([])).message, /^Nothing to run/);
  assert.match((await usageError(["--name", "x"])).message, /^Nothing to run/);
});

Deno.test("specFromArgs() maps the option flags onto the spec", async () => {
  const spec = await specOf([
    "--shell",
    "make",
    "--name",
    "build",
    "-q",
    "ci",
    "--priority=-5",
    "--env",
    "A=1",
    "--env",
    "B=x=y",
    "--cwd",
    "/src",
    "--timeout",
    "10m",
    "--attempts",
    "3",
    "--delay",
    "30s",
    "-l",
    "zone=eu",
    "--label",
    "arch=arm64",
    "--idempotency-key",
    "k1",
    "--tag",
    "nightly",
    "--tag",
    "x",
  ]);
  assert.deepEqual(spec, {
    shell: "make",
    name: "build",
    queue: "ci",
    priority: -5,
    env: { A: "1", B: "x=y" },
    cwd: "/src",
    timeout: "10m",
    max_attempts: 3,
    delay: "30s",
    requires: { labels: { zone: "eu", arch: "arm64" } },
    idempotency_key: "k1",
    tags: ["nightly", "x"],
  });
});

Deno.test("specFromArgs() turns --runtime without a script into a requirement", async () => {
  const spec = await specOf(["--runtime", "python", "-l", "gpu=yes", "--", "nvidia-smi"]);
  assert.deepEqual(spec.requires, { runtimes: ["python"], labels: { gpu: "yes" } });
  assert.deepEqual(spec.command, ["nvidia-smi"]);
});

Deno.test("specFromArgs() reads a whole spec from --spec and lets flags override it", async () => {
  const base = {
    shell: "echo base",
    queue: "q",
    env: { A: "1" },
    requires: { labels: { a: "1" } },
  };
  const spec = await withFile(
    "spec.json",
    JSON.stringify(base),
    (path) => specOf(["--spec", path, "-q", "other", "--env", "B=2", "-l", "b=2"]),
  );
  assert.deepEqual(spec, {
    shell: "echo base",
    queue: "other",
    env: { A: "1", B: "2" },
    requires: { labels: { a: "1", b: "2" } },
  });
  await withFile("bad.json", "{nope", async (path) => {
    assert.match((await usageError(["--spec", path])).message, /not valid JSON/);
  });
  await withFile("arr.json", "[1]", async (path) => {
    assert.match((await usageError(["--spec", path])).message, /expected a JSON object/);
  });
});

Deno.test("specFromArgs() rejects bad numbers and pairs", async () => {
  assert.match((await usageError(["--shell", "x", "-p", "high"])).message, /--priority/);
  assert.match((await usageError(["--shell", "x", "--attempts", "0"])).message, /--attempts/);
  assert.match((await usageError(["--shell", "x", "--env", "NOEQUALS"])).message, /--env/);
  assert.match((await usageError(["--shell", "x", "-l", "=v"])).message, /--label/);
});

Deno.test("specFromArgs() takes dependencies, slots, concurrency and batch flags", async () => {
  const spec = await specOf([
    "--after",
    "3,4",
    "--after",
    "9",
    "--slots",
    "2",
    "--concurrency-key",
    "deploy-prod",
    "--completions",
    "10",
    "--parallelism",
    "3",
    "--backoff-limit",
    "4",
    "--success-count",
    "8",
    "--shell",
    "echo $JOBDIST_INDEX",
  ]);
  assert.deepEqual(spec.after, [3, 4, 9]);
  assert.equal(spec.slots, 2);
  assert.equal(spec.concurrency_key, "deploy-prod");
  assert.equal(spec.completions, 10);
  assert.equal(spec.parallelism, 3);
  assert.equal(spec.backoff_limit, 4);
  assert.deepEqual(spec.success_policy, { succeeded_count: 8 });
  await assert.rejects(specOf(["--after", "x", "--shell", "true"]), /Invalid --after "x"/);
  await assert.rejects(specOf(["--parallelism", "0", "--shell", "true"]), /--parallelism/);
});
