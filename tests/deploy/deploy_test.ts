/**
 * What can be checked of deploy/ without Docker or Kubernetes: every YAML file parses; the
 * manifests, compose file, Dockerfile and systemd units use only commands, flags and JOBDIST_*
 * variables the CLI declares, and the server's port; the probe paths and the metric the
 * autoscaler reads exist on a real server; and the units pass `systemd-analyze verify` when it
 * is installed.
 */

import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import { checkTransport } from "../../src/agent/mod.ts";
import { COMMANDS } from "../../src/cli/mod.ts";
import { SMTP_PASSWORD_ENV } from "../../src/cli/report.ts";
import { startTestServer } from "../helpers.ts";

const DEPLOY = new URL("../../deploy/", import.meta.url).pathname;

/** Every file under deploy/, relative to it. */
function files(dir = DEPLOY, prefix = ""): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? files(`${dir}${e.name}/`, `${prefix}${e.name}/`) : [`${prefix}${e.name}`]
  ).sort();
}

const read = (path: string) => Deno.readTextFileSync(DEPLOY + path);

function command(name: string) {
  const cmd = COMMANDS.find((c) => c.name === name);
  assert.ok(cmd, `no command ${name}`);
  return cmd;
}
const server = command("server");
const agent = command("agent");

/** The JOBDIST_* variables a command reads. */
function envOf(cmd: typeof server): Set<string> {
  const names = cmd.flags.flatMap((f) => (f.env ? [f.env] : []));
  return new Set(cmd === server ? [...names, SMTP_PASSWORD_ENV] : names);
}

/** The port `jobdist server` listens on by default (from its --listen declaration). */
const PORT = Number(server.flags.find((f) => f.name === "listen")?.default?.split(":").pop());

/** Every YAML document under deploy/, parsed (merge keys on, as compose reads them). */
function yamlDocs(): Array<{ file: string; doc: Record<string, unknown> }> {
  return files().filter((f) => /\.ya?ml$/.test(f)).flatMap((file) =>
    parseAllDocuments(read(file), { merge: true, prettyErrors: true }).map((d) => {
      assert.deepEqual(d.errors.map(String), [], `${file} does not parse`);
      assert.deepEqual(d.warnings.map(String), [], `${file} has warnings`);
      return { file, doc: d.toJS() as Record<string, unknown> };
    })
  );
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** Containers of the Kubernetes workloads, with their kind and name. */
function containers() {
  return yamlDocs()
    .filter(({ doc }) => doc.kind === "StatefulSet" || doc.kind === "Deployment")
    .flatMap(({ file, doc }) =>
      ((doc as Any).spec.template.spec.containers as Any[]).map((c) => ({ file, doc, c }))
    );
}

/** Checks a role's argv (`["server", "--x", ...]`) names a real command and its flags. */
function checkArgv(where: string, argv: string[]): typeof server {
  const cmd = command(argv[0]);
  for (const arg of argv.slice(1)) {
    const m = arg.match(/^--([a-z-]+)/);
    if (m) {
      assert.ok(cmd.flags.some((f) => f.name === m[1]), `${where}: ${cmd.name} has no --${m[1]}`);
    }
  }
  return cmd;
}

function checkEnv(where: string, cmd: typeof server, names: Iterable<string>) {
  const known = envOf(cmd);
  for (const n of names) {
    if (n.startsWith("JOBDIST_")) assert.ok(known.has(n), `${where}: ${cmd.name} reads no ${n}`);
  }
}

/** Checks an agent's environment would pass the agent's own transport check (TLS or --insecure). */
function checkAgentTransport(where: string, env: Record<string, string | undefined>) {
  const url = env.JOBDIST_SERVER;
  assert.ok(url, `${where}: no JOBDIST_SERVER`);
  const insecure = env.JOBDIST_INSECURE === "1" || env.JOBDIST_INSECURE === "true";
  assert.doesNotThrow(
    () => checkTransport(url, insecure),
    `${where}: the agent would refuse ${url}`,
  );
}

Deno.test("deploy/ has the units, the image, compose, Kubernetes manifests and a README", () => {
  const all = files();
  for (
    const f of [
      "README.md",
      "Dockerfile",
      "compose.yaml",
      "systemd/jobdist-server.service",
      "systemd/jobdist-agent.service",
      "systemd/jobdist.sysusers.conf",
      "k8s/server.yaml",
      "k8s/agents.yaml",
      "k8s/keda.yaml",
      "k8s/kustomization.yaml",
    ]
  ) assert.ok(all.includes(f), `deploy/${f} is missing`);
  assert.equal(PORT, 7420);
});

Deno.test("every YAML file parses, and kustomization lists files that exist", () => {
  const docs = yamlDocs();
  assert.ok(docs.length >= 8, `only ${docs.length} YAML documents`);
  const kustomization = docs.find((d) => d.file === "k8s/kustomization.yaml")!.doc as Any;
  for (const r of kustomization.resources) {
    assert.ok(files().includes(`k8s/${r}`), `kustomization lists missing ${r}`);
  }
  const kinds = docs.map((d) => d.doc.kind).filter(Boolean).sort();
  for (const k of ["Deployment", "ScaledObject", "Secret", "Service", "StatefulSet"]) {
    assert.ok(kinds.includes(k), `no ${k} manifest`);
  }
});

Deno.test("Kubernetes manifests run real commands with real variables on the server's port", () => {
  const docs = yamlDocs();
  const service = docs.find((d) => d.doc.kind === "Service")!.doc as Any;
  assert.deepEqual(
    service.spec.ports.map((p: Any) => [p.port, p.targetPort]),
    [[PORT, "http"]],
  );
  for (const { file, doc, c } of containers()) {
    const cmd = checkArgv(`${file} ${c.name}`, c.args);
    const env = (c.env as Any[]).map((e) => e.name);
    checkEnv(`${file} ${c.name}`, cmd, env);
    if (cmd === server) {
      assert.equal(doc.kind, "StatefulSet");
      assert.deepEqual(c.ports, [{ name: "http", containerPort: PORT }]);
      const listen = (c.env as Any[]).find((e) => e.name === "JOBDIST_LISTEN").value;
      assert.ok(listen.endsWith(`:${PORT}`), listen);
      const mounts = c.volumeMounts.map((m: Any) => m.name);
      const claims = (doc as Any).spec.volumeClaimTemplates.map((v: Any) => v.metadata.name);
      assert.ok(mounts.some((m: string) => claims.includes(m)), "the database is on a PVC");
      for (const e of c.env as Any[]) {
        if (e.valueFrom?.secretKeyRef) {
          assert.equal(e.valueFrom.secretKeyRef.name, "jobdist-tokens");
        }
      }
    } else {
      assert.equal(cmd, agent);
      assert.equal(doc.kind, "Deployment");
      checkAgentTransport(
        `${file} ${c.name}`,
        Object.fromEntries((c.env as Any[]).map((e) => [e.name, e.value])),
      );
      const url = new URL((c.env as Any[]).find((e) => e.name === "JOBDIST_SERVER").value);
      assert.equal(Number(url.port), PORT);
      assert.equal(url.hostname.split(".")[0], service.metadata.name);
    }
  }
  const scaled = docs.find((d) => d.doc.kind === "ScaledObject")!.doc as Any;
  const target = docs.find((d) =>
    d.doc.kind === scaled.spec.scaleTargetRef.kind &&
    (d.doc as Any).metadata.name === scaled.spec.scaleTargetRef.name
  );
  assert.ok(target, "the ScaledObject scales the agents' Deployment");
});

Deno.test("compose runs one server and three agents with real variables on the server's port", () => {
  const compose = yamlDocs().find((d) => d.file === "compose.yaml")!.doc as Any;
  const services = Object.entries(compose.services as Record<string, Any>);
  const roles = services.map(([name, s]) => [name, checkArgv(`compose ${name}`, s.command)]);
  assert.deepEqual(roles.map(([, c]) => (c as typeof server).name).sort(), [
    "agent",
    "agent",
    "agent",
    "server",
  ]);
  for (const [name, s] of services) {
    const cmd = command(s.command[0]);
    checkEnv(`compose ${name}`, cmd, Object.keys(s.environment));
    if (cmd === server) {
      assert.ok(s.environment.JOBDIST_LISTEN.endsWith(`:${PORT}`));
      assert.ok(s.ports.some((p: string) => p.endsWith(`:${PORT}`)), "the port is published");
    } else {
      checkAgentTransport(`compose ${name}`, s.environment);
      const url = new URL(s.environment.JOBDIST_SERVER);
      assert.equal(url.hostname, "server");
      assert.equal(Number(url.port), PORT);
      assert.match(s.environment.JOBDIST_NAME, /^agent-\d$/);
    }
  }
});

Deno.test("the Dockerfile compiles with the compile task and exposes the server's port", () => {
  const text = read("Dockerfile");
  const compile = Deno.readTextFileSync(new URL("../../scripts/compile.ts", import.meta.url));
  for (const target of text.match(/\b(?:x86_64|aarch64)-unknown-linux-gnu\b/g) ?? []) {
    assert.ok(compile.includes(`"${target}"`), `scripts/compile.ts has no target ${target}`);
  }
  assert.match(text, /deno task compile "\$target"/);
  assert.match(text, new RegExp(`^EXPOSE ${PORT}$`, "m"));
  for (const tool of ["python3", "nodejs", "openjdk-17-jdk-headless", "golang-go"]) {
    assert.match(text, new RegExp(`\\b${tool}\\b`), `the runtime stage installs ${tool}`);
  }
  const env = [...text.matchAll(/\b(JOBDIST_[A-Z_]+)=/g)].map((m) => m[1]);
  assert.ok(env.length >= 3);
  for (const n of env) assert.ok(envOf(server).has(n) || envOf(agent).has(n), `no flag reads ${n}`);
  assert.match(text, /^ENTRYPOINT \["tini", "--", "jobdist"\]$/m);
  checkArgv("Dockerfile CMD", JSON.parse(text.match(/^CMD (\[.*\])$/m)![1]));
});

Deno.test("systemd units and env examples use real commands and variables, and one user", () => {
  const user = read("systemd/jobdist.sysusers.conf").match(/^u (\S+)/m)![1];
  for (const [unit, example] of [["server", "server"], ["agent", "agent"]]) {
    const text = read(`systemd/jobdist-${unit}.service`);
    const exec = text.match(/^ExecStart=\/usr\/local\/bin\/jobdist (.+)$/m);
    assert.ok(exec, `jobdist-${unit}.service runs /usr/local/bin/jobdist`);
    const cmd = checkArgv(`jobdist-${unit}.service`, exec[1].split(/\s+/));
    assert.equal(cmd.name, unit);
    assert.match(text, new RegExp(`^User=${user}$`, "m"));
    assert.match(text, new RegExp(`^EnvironmentFile=/etc/jobdist/${example}\\.env$`, "m"));
    assert.match(text, /^Restart=(on-failure|always)$/m);
    assert.match(text, /^NoNewPrivileges=yes$/m);
    const set = [...text.matchAll(/^Environment=(JOBDIST_[A-Z_]+)=/gm)].map((m) => m[1]);
    checkEnv(`jobdist-${unit}.service`, cmd, set);
    const vars = [...read(`systemd/${example}.env.example`).matchAll(/^#?(JOBDIST_[A-Z_]+)=/gm)]
      .map((m) => m[1]);
    assert.ok(vars.includes("JOBDIST_TOKEN"), `${example}.env.example sets the token`);
    if (cmd === agent) {
      const env = Object.fromEntries(
        [...read(`systemd/${example}.env.example`).matchAll(/^(JOBDIST_[A-Z_]+)=(.*)$/gm)]
          .map((m) => [m[1], m[2]]),
      );
      checkAgentTransport(`${example}.env.example`, env);
    }
    checkEnv(`${example}.env.example`, cmd, vars);
  }
  // The agent drains on SIGTERM: systemd must signal it alone and wait long enough.
  const agentUnit = read("systemd/jobdist-agent.service");
  assert.match(agentUnit, /^KillMode=mixed$/m);
  const drain = Number(agentUnit.match(/^Environment=JOBDIST_DRAIN_TIMEOUT=(\d+)s$/m)![1]);
  assert.ok(Number(agentUnit.match(/^TimeoutStopSec=(\d+)s$/m)![1]) > drain);
});

Deno.test("the probe paths and the autoscaler's metric exist on a real server", async () => {
  const docs = yamlDocs();
  const probes = containers().flatMap(({ c }) =>
    [c.readinessProbe, c.livenessProbe].filter(Boolean).map((p: Any) => p.httpGet.path)
  );
  assert.deepEqual(probes.sort(), ["/healthz", "/readyz"]);
  const query = (docs.find((d) => d.doc.kind === "ScaledObject")!.doc as Any).spec.triggers[0]
    .metadata.query as string;
  const wanted = [...new Set(query.match(/\bjobdist_[a-z_]+/g))];
  assert.deepEqual(wanted, ["jobdist_queue_depth"]);

  const s = await startTestServer();
  try {
    for (const path of probes) {
      const res = await fetch(s.url + path);
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
    }
    await s.client.submit({ shell: "true" }); // no agent: it stays queued
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    for (const name of wanted) {
      assert.match(metrics, new RegExp(`^${name}\\{queue="default"\\} 1$`, "m"));
    }
  } finally {
    await s.stop();
  }
});

const systemdAnalyze = (() => {
  try {
    return new Deno.Command("systemd-analyze", { args: ["--version"] }).outputSync().success;
  } catch {
    return false;
  }
})();
if (!systemdAnalyze) {
  console.log("deploy_test: skipping systemd-analyze verify: systemd-analyze is not on PATH");
}

Deno.test({
  name: "systemd-analyze verify accepts both units",
  ignore: !systemdAnalyze,
  async fn() {
    // verify checks that ExecStart's binary exists; point it at an executable stand-in.
    const dir = await Deno.makeTempDir({ prefix: "jobdist-units-" });
    try {
      const stub = `${dir}/jobdist`;
      await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      const units = ["jobdist-server.service", "jobdist-agent.service"];
      for (const u of units) {
        const text = read(`systemd/${u}`).replaceAll("/usr/local/bin/jobdist", stub);
        await Deno.writeTextFile(`${dir}/${u}`, text);
      }
      const out = await new Deno.Command("systemd-analyze", {
        args: ["verify", ...units.map((u) => `${dir}/${u}`)],
        env: { SYSTEMD_LOG_COLOR: "0" },
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      // Lines about the system's own units (e.g. syscalls this systemd does not know) are not ours.
      // So are system calls of the @system-service set that this systemd's libseccomp predates.
      const ours = err.split("\n").filter((l) =>
        units.some((u) => l.includes(u)) && !l.includes("Failed to parse system call")
      );
      assert.deepEqual(ours, []);
      assert.equal(out.code, 0, err);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
