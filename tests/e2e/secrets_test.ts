import assert from "node:assert/strict";
import { ApiError } from "../../src/cli/client.ts";
import { logText, runCli, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

/** A fresh secrets key: 32 random bytes in base64. */
function newKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
}

const KEY = newKey();

function freshValue(): string {
  return `pw-${crypto.randomUUID()}`;
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every form of `value` that must not appear anywhere: the text and its base64 forms. */
function leaks(text: string, value: string): string[] {
  const b64 = btoa(value);
  return [value, b64.slice(0, -4), b64.slice(0, -4).replaceAll("+", "-").replaceAll("/", "_")]
    .filter((form) => text.includes(form));
}

// The job prints the secret whole, one character per write (each flushed: separate pipe
// reads), base64-encoded, and on stderr; and the SHA-256 of what it got, to prove it got it.
const PRINTER = `
import base64, hashlib, os, sys, time
v = os.environ["DB_PASS"]
time.sleep(0.3)  # the test is following the output by now
print("whole:", v, flush=True)
for c in v:
    sys.stdout.write(c)
    sys.stdout.flush()
    time.sleep(0.002)
print(flush=True)
print("b64:", base64.b64encode(v.encode()).decode(), flush=True)
print("b64url:", base64.urlsafe_b64encode(("xy" + v).encode()).decode(), flush=True)
print("err:", v, file=sys.stderr, flush=True)
print("sha256:", hashlib.sha256(v.encode()).hexdigest(), flush=True)
`;

Deno.test("secrets: encrypted at rest, never in the API, masked in stored and streamed output", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/jobdist.db`;
  const value = freshValue();
  let server = await startTestServer({ db, secretsKey: KEY });
  let agent = startTestAgent(server.url);
  try {
    const created = await server.client.setSecret("db", value);
    assert.deepEqual(Object.keys(created).sort(), [
      "created_at",
      "name",
      "namespace",
      "updated_at",
    ]);
    const listed = JSON.stringify(await server.client.secrets());
    assert.match(listed, /"name":"db"/);
    assert.deepEqual(leaks(listed, value), []);

    const job = await server.client.submit({
      script: { runtime: "python", source: PRINTER },
      env: { DB_PASS: { secret: "db" }, PLAIN: "visible" },
    });
    // Each stream on its own: how stdout and stderr interleave depends on when each is read.
    const follow = async (stream: "stdout" | "stderr") =>
      new Response(await server.client.logs(job.id, { follow: true, stream })).text();
    const followed = Promise.all([follow("stdout"), follow("stderr")]);
    const done = await waitForJob(server.client, job.id);
    assert.equal(done.state, "succeeded", done.reason ?? "");

    const stored = [
      await logText(server.client, job.id, "stdout"),
      await logText(server.client, job.id, "stderr"),
    ];
    for (const [what, [out, err]] of [["stored", stored], ["streamed", await followed]] as const) {
      for (const text of [out, err]) {
        assert.deepEqual(leaks(text, value), [], `${what} output leaks the secret:\n${text}`);
      }
      assert.match(out, /whole: \*\*\*\n\*\*\*\nb64: \*\*\*/, `${what}:\n${out}`);
      assert.match(out, /b64url: \S*\*\*\*/, `${what}:\n${out}`);
      assert.equal(err, "err: ***\n", `${what} stderr`);
      assert.ok(out.includes(`sha256: ${await sha256(value)}`), `${what}: the job got the value`);
    }
    // The API shows the reference, never the value.
    const view = JSON.stringify(await server.client.job(job.id));
    assert.ok(view.includes('"DB_PASS":{"secret":"db"}'), view);
    assert.deepEqual(leaks(view, value), []);
    assert.deepEqual(leaks(JSON.stringify(await server.client.listJobs()), value), []);

    // A restarted server decrypts what it stored, with the same key.
    await agent.stop();
    await server.stop();
    server = await startTestServer({ db, secretsKey: KEY });
    agent = startTestAgent(server.url);
    const again = await server.client.submit({
      shell: 'printf "%s" "$DB_PASS" | sha256sum',
      env: { DB_PASS: { secret: "db" } },
    });
    assert.equal((await waitForJob(server.client, again.id)).state, "succeeded");
    assert.ok((await logText(server.client, again.id)).includes(await sha256(value)));
  } finally {
    await agent.stop();
    await server.stop();
  }
  // At rest: neither the database, its WAL nor the jobs' output files hold the value.
  const files = (d: string): string[] =>
    [...Deno.readDirSync(d)].flatMap((e) =>
      e.isDirectory ? files(`${d}/${e.name}`) : [`${d}/${e.name}`]
    );
  const stored = files(dir);
  assert.ok(stored.some((f) => f.endsWith(".log")), "output files were scanned");
  for (const path of stored) {
    const bytes = new TextDecoder("latin1").decode(Deno.readFileSync(path));
    assert.equal(bytes.includes(value), false, `${path} holds the secret in clear`);
  }
  // Another key cannot read them, and says so instead of starting.
  await assert.rejects(
    startTestServer({ db, secretsKey: newKey() }),
    /Cannot decrypt secret db of namespace default: the secrets key is not the one/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("secrets: a job whose secret is missing fails with the reason and never runs", async () => {
  const dir = await Deno.makeTempDir();
  const server = await startTestServer({ secretsKey: KEY });
  const agent = startTestAgent(server.url);
  try {
    const job = await server.client.submit({
      shell: `touch ${dir}/ran`,
      env: { TOKEN: { secret: "nope" } },
    });
    const done = await waitForJob(server.client, job.id);
    assert.equal(done.state, "failed");
    assert.equal(
      done.reason,
      "cannot start: secret nope (for TOKEN) does not exist in namespace default",
    );
    assert.equal([...Deno.readDirSync(dir)].length, 0, "the job must not have run");

    // Deleting a secret takes it away from the jobs that come after.
    await server.client.setSecret("gone", "soon-gone-value");
    const deleted = await server.client.deleteSecret("gone");
    assert.equal(deleted.name, "gone");
    assert.deepEqual((await server.client.secrets()).secrets, []);
    const later = await server.client.submit({ shell: "true", env: { X: { secret: "gone" } } });
    assert.match((await waitForJob(server.client, later.id)).reason ?? "", /secret gone/);
  } finally {
    await agent.stop();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secrets: bad names, values and keys get clear errors", async () => {
  const keyless = await startTestServer();
  const server = await startTestServer({ secretsKey: KEY });
  const status = async (p: Promise<unknown>) => {
    try {
      await p;
      return "ok";
    } catch (e) {
      assert.ok(e instanceof ApiError, String(e));
      return `${e.status} ${e.message}`;
    }
  };
  try {
    assert.match(
      await status(keyless.client.setSecret("db", "some-value")),
      /^409 Cannot store secrets: the server has no secrets key \(start it with --secrets-key-file/,
    );
    assert.match(await status(server.client.setSecret("1db", "some-value")), /^400 name: /);
    assert.match(
      await status(server.client.setSecret("db", "abc")),
      /^400 value: expected at least 4 characters/,
    );
    assert.match(await status(server.client.deleteSecret("none")), /^404 No secret none/);
    const res = await fetch(`${server.url}/api/v1/secrets`, { method: "POST", body: "{" });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error.message, /not valid JSON/);
    // A replaced value answers 200, a new one 201; neither answer holds it.
    const first = await fetch(`${server.url}/api/v1/secrets`, {
      method: "POST",
      body: JSON.stringify({ name: "db", value: "first-value" }),
    });
    const second = await fetch(`${server.url}/api/v1/secrets`, {
      method: "POST",
      body: JSON.stringify({ name: "db", value: "second-value" }),
    });
    assert.deepEqual([first.status, second.status], [201, 200]);
    assert.ok(!(await second.text()).includes("second-value"));
    await first.body?.cancel();
    // A spec's reference is checked like any field.
    assert.match(
      await status(server.client.submit({ shell: "true", env: { X: { secret: "" } } })),
      /^400 env\.X/,
    );
  } finally {
    await keyless.stop();
    await server.stop();
  }
  await assert.rejects(
    startTestServer({ secretsKey: "too-short" }),
    /The secrets key must be 32 random bytes as base64 or 64 hex digits/,
  );
});

Deno.test("jobdist secrets set, list and delete", async () => {
  const server = await startTestServer({ secretsKey: KEY });
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "from-a-file-value\n");
  const s = ["--server", server.url];
  try {
    let r = await runCli(["secrets", "set", "api", "--from-file", file, ...s]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, "api stored in namespace default");
    r = await runCli(["secrets", ...s]);
    assert.match(r.out, /^NAME\s+NAMESPACE\s+CREATED\s+UPDATED\napi\s+default\s/);
    // The trailing newline of the file is not part of the value.
    const job = await server.client.submit({
      shell: 'test "$V" = from-a-file-value',
      env: { V: { secret: "api" } },
    });
    const agent = startTestAgent(server.url);
    try {
      assert.equal((await waitForJob(server.client, job.id)).state, "succeeded");
    } finally {
      await agent.stop();
    }
    r = await runCli(["secrets", "delete", "api", ...s]);
    assert.equal(r.out, "api deleted");
    r = await runCli(["secrets", "delete", "api", ...s]);
    assert.equal(r.code, 1);
    assert.match(r.err, /No secret api/);
    r = await runCli(["secrets", "set", ...s]);
    assert.equal(r.code, 2);
    assert.match(r.err, /Expected: jobdist secrets set NAME/);
  } finally {
    await server.stop();
    await Deno.remove(file);
  }
});
