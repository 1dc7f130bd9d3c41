import assert from "node:assert/strict";
import { type AgentConfig, runAgent } from "../../src/agent/mod.ts";
import { jobBaseEnv, JobPolicy } from "../../src/agent/isolation.ts";
import type { RuntimeTable } from "../../src/agent/runtimes.ts";
import { parseJobSpec } from "../../src/protocol/mod.ts";
import {
  logText,
  spawnJobdist,
  startTestServer,
  type TestServer,
  waitForJob,
  waitUntil,
} from "../helpers.ts";

/** Starts an agent in this process with `extra` settings; returns its stop function. */
function startAgent(server: TestServer, extra: Partial<AgentConfig> = {}): () => Promise<void> {
  const ac = new AbortController();
  const done = runAgent({
    server: server.url,
    name: "isolated",
    slots: 2,
    labels: {},
    runtimes: [],
    drainTimeoutMs: 2_000,
    log: () => {},
    ...extra,
  }, ac.signal);
  return async () => {
    ac.abort();
    await done;
  };
}

Deno.test("jobBaseEnv() drops JOBDIST_* settings and anything holding the agent's token", () => {
  const token = "agent-token-0123456789abcdef";
  const agentEnv = {
    PATH: "/usr/bin:/bin",
    HOME: "/root",
    LANG: "C.UTF-8",
    LC_TIME: "en_GB.UTF-8",
    JOBDIST_TOKEN: token,
    JOBDIST_SECRETS_KEY: "k",
    CI_TOKEN_COPY: `Bearer ${token}`,
    EDITOR: "vi",
  };
  assert.deepEqual(jobBaseEnv(agentEnv, { token }), {
    PATH: "/usr/bin:/bin",
    HOME: "/root",
    LANG: "C.UTF-8",
    LC_TIME: "en_GB.UTF-8",
    EDITOR: "vi",
  });
  const runAs = { user: "builder", uid: 1001, gid: 1001, home: "/home/builder", shell: "/bin/sh" };
  assert.deepEqual(jobBaseEnv(agentEnv, { token, runAs }), {
    PATH: "/usr/bin:/bin",
    LANG: "C.UTF-8",
    LC_TIME: "en_GB.UTF-8",
    HOME: "/home/builder",
    USER: "builder",
    LOGNAME: "builder",
    SHELL: "/bin/sh",
  });
});

Deno.test("JobPolicy offers only allowed runtimes and names the flag that refuses a job", () => {
  const rt = (name: string, program: string) => ({
    name,
    version: "1",
    argv: [program, "{file}"],
    fileName: `job.${name}`,
  });
  const detected: RuntimeTable = new Map([
    ["python", rt("python", "/usr/bin/python3")],
    ["node", rt("node", "/usr/bin/node")],
    ["bash", rt("bash", "/bin/bash")],
    ["sh", rt("sh", "/bin/sh")],
    ["ruby", rt("ruby", "/usr/bin/ruby")],
  ]);
  const policy = new JobPolicy(detected, { allowRuntimes: ["python", "bash"], denyShell: true });
  assert.deepEqual([...policy.runtimes.keys()], ["python"]);
  const refusal = (spec: unknown) => policy.refusal(parseJobSpec(spec));
  assert.equal(refusal({ shell: "ls" }), "shell jobs are not allowed on this agent (--deny-shell)");
  assert.equal(
    refusal({ script: { runtime: "node", source: "" } }),
    "runtime node is not allowed on this agent (--allow-runtime python,bash)",
  );
  assert.equal(
    refusal({ script: { runtime: "bash", source: "" } }),
    "runtime bash is not allowed on this agent (--deny-shell)",
  );
  assert.equal(
    refusal({ command: ["/usr/bin/dash", "-c", "id"] }),
    "command dash is a shell, not allowed on this agent (--deny-shell)",
  );
  assert.equal(
    refusal({ command: ["ruby", "-e", "1"] }),
    "command ruby runs runtime ruby, not allowed on this agent (--allow-runtime python,bash)",
  );
  assert.equal(
    refusal({ command: ["nodejs", "-e", "1"] }),
    "command nodejs runs runtime node, not allowed on this agent (--allow-runtime python,bash)",
  );
  assert.equal(refusal({ command: ["python3.12", "-c", "1"] }), null);
  assert.equal(refusal({ command: ["ls", "-la"] }), null);
  assert.equal(refusal({ script: { runtime: "python", source: "" } }), null);
  // Without flags, everything the agent has is offered and nothing is refused.
  const open = new JobPolicy(detected);
  assert.equal(open.runtimes.size, 5);
  assert.equal(open.refusal(parseJobSpec({ shell: "ls" })), null);
});

Deno.test("an agent refuses jobs its allowlist excludes, and the server shows why", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startTestServer();
  const stop = startAgent(server, { allowRuntimes: ["python"], denyShell: true });
  try {
    await waitUntil(async () => (await server.client.agents()).agents.length === 1);
    const shell = await server.client.submit({ shell: `touch ${dir}/shell` });
    const bash = await server.client.submit({ command: ["bash", "-c", `touch ${dir}/bash`] });
    const node = await server.client.submit({
      script: { runtime: "node", source: "console.log(1)" },
    });
    const python = await server.client.submit({
      script: { runtime: "python", source: "print('python ok')" },
    });
    const failed = await waitForJob(server.client, shell.id);
    assert.equal(failed.state, "failed");
    assert.equal(
      failed.reason,
      "refused by the agent: shell jobs are not allowed on this agent (--deny-shell)",
    );
    assert.match(
      (await waitForJob(server.client, bash.id)).reason ?? "",
      /^refused by the agent: command bash is a shell, not allowed on this agent \(--deny-shell\)$/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "neither refused job ran");
    assert.equal((await waitForJob(server.client, python.id)).state, "succeeded");
    assert.equal(await logText(server.client, python.id), "python ok\n");
    // A runtime the agent does not allow is not advertised: the job waits, and says why.
    const waiting = await server.client.job(node.id);
    assert.equal(waiting.state, "queued");
    assert.equal(waiting.reason, "no connected agent has runtime node");
    const agent = (await server.client.agents()).agents[0];
    assert.deepEqual(agent.runtimes.map((r) => r.name), ["python"]);
  } finally {
    await stop();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("each attempt runs in its own directory, removed afterwards unless the job set cwd", async () => {
  const cwd = await Deno.makeTempDir();
  const server = await startTestServer();
  const stop = startAgent(server);
  try {
    const own = await server.client.submit({ shell: "pwd; echo data > made.txt; ls" });
    const given = await server.client.submit({ shell: "pwd; echo data > made.txt", cwd });
    assert.equal((await waitForJob(server.client, own.id)).state, "succeeded");
    assert.equal((await waitForJob(server.client, given.id)).state, "succeeded");
    const [dir, listing] = (await logText(server.client, own.id)).trim().split("\n");
    assert.match(dir, /\/jobdist-attempt-[^/]+$/);
    assert.equal(listing, "made.txt");
    await assert.rejects(Deno.stat(dir), Deno.errors.NotFound, "the attempt's directory is gone");
    assert.equal((await logText(server.client, given.id)).trim(), await Deno.realPath(cwd));
    assert.equal(await Deno.readTextFile(`${cwd}/made.txt`), "data\n", "the job's cwd is kept");
  } finally {
    await stop();
    await server.stop();
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("jobs never see the agent's token or its JOBDIST_* settings", async () => {
  const token = `tok-${crypto.randomUUID()}`;
  const server = await startTestServer({ tokens: [token] });
  const state = await Deno.makeTempDir();
  const agent = spawnJobdist(["agent", "--server", server.url, "--state-dir", state], {
    JOBDIST_TOKEN: token,
    JOBDIST_SECRETS_KEY: "agent-side-setting",
    JOBDIST_LABELS: "zone=test",
    DEPLOY_CREDENTIALS: `user:${token}`,
    HARMLESS: "kept",
  });
  try {
    await waitUntil(async () => (await server.client.agents()).agents.length === 1);
    const job = await server.client.submit({ command: ["env"] });
    assert.equal((await waitForJob(server.client, job.id)).state, "succeeded");
    const env = await logText(server.client, job.id);
    assert.ok(!env.includes(token), env);
    assert.ok(!env.includes("agent-side-setting"), env);
    assert.match(env, /^HARMLESS=kept$/m);
    const names = env.split("\n").map((l) => l.split("=")[0]).filter((n) =>
      n.startsWith("JOBDIST")
    );
    assert.deepEqual(names.sort(), [
      "JOBDIST_ATTEMPT",
      "JOBDIST_ATTEMPT_ID",
      "JOBDIST_INDEX",
      "JOBDIST_JOB_ID",
      "JOBDIST_TRACE",
    ]);
  } finally {
    await agent.kill();
    await server.stop();
    await Deno.remove(state, { recursive: true });
  }
});

const RUN_AS_USER = "jobdist-runas";
const notRoot = Deno.uid() !== 0;
if (notRoot) {
  console.log(`isolation_test: skipping --run-as: it needs root (this test runs as ${Deno.uid()})`);
}

/** The uid of `user`, creating it (a system user without a home) if it does not exist. */
async function ensureUser(user: string): Promise<number> {
  const id = async () => {
    const out = await new Deno.Command("id", { args: ["-u", user], stderr: "null" }).output();
    return out.success ? Number(new TextDecoder().decode(out.stdout).trim()) : null;
  };
  const existing = await id();
  if (existing !== null) return existing;
  const add = await new Deno.Command("useradd", {
    args: ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
  }).output();
  assert.ok(add.success, new TextDecoder().decode(add.stderr));
  return (await id())!;
}

Deno.test({
  name: "--run-as runs jobs as the unprivileged user, in a directory it owns",
  ignore: notRoot,
  async fn() {
    const uid = await ensureUser(RUN_AS_USER);
    const secret = await Deno.makeTempFile();
    await Deno.writeTextFile(secret, "root only");
    await Deno.chmod(secret, 0o600);
    const server = await startTestServer();
    const stop = startAgent(server, { runAs: RUN_AS_USER });
    try {
      const shell = await server.client.submit({
        shell: `id -u; id -G; echo "$USER $HOME"; touch made && stat -c %U made; ` +
          `cat ${secret} || echo denied`,
      });
      const script = await server.client.submit({
        // A script file the agent writes, run by a runtime the user can reach.
        script: { runtime: "sh", source: 'echo "$(id -u) $(id -un)"' },
      });
      assert.equal((await waitForJob(server.client, shell.id)).state, "succeeded");
      const [jobUid, groups, who, owner, read] = (await logText(server.client, shell.id))
        .trim().split("\n").filter((l) => !l.startsWith("cat:"));
      assert.equal(Number(jobUid), uid);
      assert.ok(!groups.split(" ").includes("0"), `no root group: ${groups}`);
      assert.match(who, new RegExp(`^${RUN_AS_USER} /`));
      assert.equal(owner, RUN_AS_USER);
      assert.equal(read, "denied");
      assert.equal((await waitForJob(server.client, script.id)).state, "succeeded");
      assert.equal((await logText(server.client, script.id)).trim(), `${uid} ${RUN_AS_USER}`);
    } finally {
      await stop();
      await server.stop();
      await Deno.remove(secret);
    }
  },
});

Deno.test({
  name: "--run-as refuses root and unknown users before connecting",
  ignore: notRoot,
  async fn() {
    const server = await startTestServer();
    try {
      const run = (runAs: string) => startAgent(server, { runAs })();
      await assert.rejects(run("root"), /Refusing --run-as root: jobs would run as root/);
      await assert.rejects(run("no-such-user-x"), /Unknown --run-as user "no-such-user-x"/);
    } finally {
      await server.stop();
    }
  },
});
