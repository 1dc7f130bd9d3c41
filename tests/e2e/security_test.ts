/**
 * Security end to end, on a real server with real sockets and agents: revoking a token closes
 * open WebSockets (dashboard and agent), tokens expire, agents enrol once with a join token and
 * can be revoked one by one, agent tokens speak only for their own agent and attempts, abuse
 * limits answer 429 with Retry-After, the audit log records who did what from where, the
 * dashboard stream carries only the user's own jobs, and the web hardening holds.
 * @module
 */

import assert from "node:assert/strict";
import { FatalError } from "../../src/agent/connection.ts";
import { runAgent } from "../../src/agent/mod.ts";
import { Client } from "../../src/cli/client.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/mod.ts";
import { startServer } from "../../src/server/mod.ts";
import { MAIN, startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";

const ADMIN = "configured-admin-token-0123456789";

/** A server with a configured admin token, and users made through the API. */
async function secureServer(limits = {}) {
  const server = await startTestServer({
    tokens: [ADMIN],
    agentTokens: ["shared-agent-0123456789"],
    limits,
  });
  const admin = new Client({ server: server.url, token: ADMIN });
  const user = async (
    name: string,
    role: "admin" | "user" | "viewer" = "user",
    expires?: string,
  ) => {
    const created = await admin.createUser({ name, role, expires_in: expires });
    return {
      token: created.token!.token,
      id: created.token!.id,
      client: new Client({ server: server.url, token: created.token!.token }),
    };
  };
  return { server, admin, user };
}

/** Opens `/ws/ui` with a bearer token; collects messages. */
async function uiSocket(url: string, token: string, topics: string) {
  const ws = new (WebSocket as unknown as new (u: string, o: unknown) => WebSocket)(
    `${url.replace("http", "ws")}/ws/ui?topics=${topics}`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  const messages: Array<Record<string, unknown>> = [];
  const closed = new Promise<CloseEvent>((r) => ws.onclose = r);
  ws.onmessage = (e) => messages.push(JSON.parse(e.data));
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = () => j(new Error("ui socket refused"));
  });
  return { ws, messages, closed };
}

/** A raw agent socket that said hello with `token` as `agentId`. */
async function rawAgent(url: string, token: string, agentId: string) {
  const ws = new WebSocket(url.replace("http", "ws") + "/ws/agent");
  const frames: Array<Record<string, unknown>> = [];
  const closed = new Promise<CloseEvent>((r) => ws.onclose = r);
  ws.onmessage = (e) => frames.push(JSON.parse(e.data));
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  ws.send(JSON.stringify({
    type: "hello",
    protocol: PROTOCOL_VERSION,
    agent_id: agentId,
    name: agentId,
    token,
    slots: 1,
    version: "test",
    runtimes: [],
    labels: {},
    inventory: [],
  }));
  const frame = (type: string) =>
    waitUntil(() => frames.find((f) => f.type === type), 10_000, `a ${type} frame`);
  return { ws, frames, closed, frame };
}

Deno.test("revoking a token closes the user's open dashboard stream and refuses the token", async () => {
  const { server, admin, user } = await secureServer();
  try {
    const alice = await user("alice");
    const ui = await uiSocket(server.url, alice.token, "jobs");
    assert.equal((await alice.client.listJobs()).jobs.length, 0);
    await admin.revokeToken(alice.id);
    const ev = await ui.closed;
    assert.equal(ev.code, 4401);
    assert.match(ev.reason, /revoked/);
    await assert.rejects(alice.client.listJobs(), /Missing or invalid bearer token/);
    // Disabling a user does the same to every token of theirs.
    const bob = await user("bob");
    const bobUi = await uiSocket(server.url, bob.token, "jobs");
    await admin.setUserDisabled("bob", true);
    assert.match((await bobUi.closed).reason, /disabled/);
    await assert.rejects(
      bob.client.listJobs(),
      (e: Error & { status?: number }) => e.status === 401,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("an expired token is refused and its open stream closes when it expires", async () => {
  const { server, user } = await secureServer();
  try {
    const short = await user("shorty", "viewer", "1s");
    const ui = await uiSocket(server.url, short.token, "jobs");
    assert.equal((await ui.closed).reason, "token expired");
    await assert.rejects(
      short.client.listJobs(),
      (e: Error & { status?: number }) => e.status === 401,
    );
  } finally {
    await server.stop();
  }
});

Deno.test("an agent enrols once with a join token, keeps its own token, and is revoked alone", async () => {
  const { server, admin } = await secureServer();
  const stateDir = await Deno.makeTempDir({ prefix: "jobdist-enrol-" });
  const other = startTestAgent(server.url, { name: "shared", token: "shared-agent-0123456789" });
  try {
    const join = await admin.createToken({ kind: "join", name: "for build-1" });
    assert.match(join.token, /^jd_j_[A-Za-z0-9_-]{43}$/);
    const ac = new AbortController();
    const logs: string[] = [];
    const config = {
      server: server.url,
      name: "build-1",
      slots: 1,
      labels: { who: "enrolled" },
      runtimes: [],
      joinToken: join.token,
      stateDir,
      drainTimeoutMs: 1_000,
      log: (l: string) => logs.push(l),
    };
    // Settled early so its rejection (expected once revoked) is never unhandled.
    const done = runAgent(config, ac.signal).then(() => null, (e) => e);
    const job = await admin.submit({
      shell: "echo enrolled",
      requires: { labels: { who: "enrolled" } },
    });
    assert.equal((await waitForJob(admin, job.id)).state, "succeeded");
    const kept = (await Deno.readTextFile(`${stateDir}/agent_token`)).trim();
    assert.match(kept, /^jd_a_/);
    assert.equal((await Deno.stat(`${stateDir}/agent_token`)).mode! & 0o777, 0o600);
    const agentId = (await Deno.readTextFile(`${stateDir}/agent_id`)).trim();
    // The join token worked once.
    const again = await fetch(`${server.url}/api/v1/agents/enrol`, {
      method: "POST",
      headers: { authorization: `Bearer ${join.token}` },
      body: JSON.stringify({ agent_id: "thief-1" }),
    });
    assert.equal(again.status, 401);
    await again.body?.cancel();
    // The agent's own token cannot call the API.
    await assert.rejects(
      new Client({ server: server.url, token: kept }).listJobs(),
      /Agent tokens/,
    );
    const tokens = (await admin.tokens()).tokens;
    assert.equal(tokens.find((t) => t.id === join.id)?.status, "used");
    assert.equal(
      tokens.find((t) => t.agent_id === agentId && t.kind === "agent")?.status,
      "active",
    );

    // Revoking this agent disconnects it for good; the other agent keeps working.
    assert.equal((await admin.revokeAgent("build-1")).revoked_tokens, 1);
    const ended = await done;
    assert.ok(ended instanceof FatalError, String(ended));
    assert.match(ended.message, /token revoked/);
    const next = await admin.submit({ shell: "echo still-served" });
    assert.equal((await waitForJob(admin, next.id)).state, "succeeded");
    const agents = (await admin.agents()).agents;
    assert.equal(agents.find((a) => a.id === agentId)?.status === "idle", false);
    // Restarting with the revoked token stored fails at once with a clear message.
    await assert.rejects(
      runAgent({ ...config, joinToken: undefined }, new AbortController().signal),
      (e) => e instanceof FatalError && /authentication failed/.test(e.message),
    );
  } finally {
    await other.stop();
    await server.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("an agent token speaks only for its own agent and the attempts leased to it", async () => {
  const { server, admin } = await secureServer();
  try {
    const enrol = async (agentId: string) => {
      const join = await admin.createToken({ kind: "join" });
      const res = await fetch(`${server.url}/api/v1/agents/enrol`, {
        method: "POST",
        headers: { authorization: `Bearer ${join.token}` },
        body: JSON.stringify({ agent_id: agentId }),
      });
      return (await res.json()).token as string;
    };
    const tokenA = await enrol("agent-a");
    const tokenB = await enrol("agent-b");
    // B's token cannot pose as A.
    const impostor = await rawAgent(server.url, tokenB, "agent-a");
    assert.match(String((await impostor.frame("incompatible")).reason), /belongs to agent agent-b/);
    assert.equal((await impostor.closed).code, 4403);
    // A user's token cannot connect an agent at all.
    const alice = await admin.createUser({ name: "alice" });
    const userAgent = await rawAgent(server.url, alice.token!.token, "agent-x");
    assert.match(
      String((await userAgent.frame("incompatible")).reason),
      /user token cannot connect/,
    );

    const a = await rawAgent(server.url, tokenA, "agent-a");
    await a.frame("welcome");
    const job = await admin.submit({ shell: "sleep 30" });
    const assign = await a.frame("assign");
    const attemptId = String(assign.attempt_id);
    a.ws.send(JSON.stringify({ type: "started", attempt_id: attemptId, pid: 1 }));
    await waitUntil(async () => (await admin.job(job.id)).state === "running");

    const b = await rawAgent(server.url, tokenB, "agent-b");
    await b.frame("welcome");
    b.ws.send(JSON.stringify({
      type: "finished",
      attempt_id: attemptId,
      log_seq: 0,
      result: { exit_code: 0, signal: null, duration_ms: 1 },
    }));
    const reject = await b.frame("reject");
    assert.equal(reject.attempt_id, attemptId);
    assert.equal((await admin.job(job.id)).state, "running");
    a.ws.close();
    b.ws.close();
    await Promise.all([a.closed, b.closed]);
  } finally {
    await server.stop();
  }
});

Deno.test("abuse limits: failed logins, submissions, queued jobs and sockets get 429 with Retry-After", async () => {
  const { server } = await secureServer({ authFailureBurst: 3 });
  try {
    const get = (token: string) =>
      fetch(`${server.url}/api/v1/jobs`, { headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 3; i++) {
      const res = await get(`wrong-${i}`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="jobdist"');
      await res.body?.cancel();
    }
    // The source is now blocked, even with a good token, until the bucket refills.
    const blocked = await get(ADMIN);
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get("retry-after")) >= 1);
    assert.match((await blocked.json()).error.message, /Too many failed authentications/);
  } finally {
    await server.stop();
  }
  const second = await secureServer({
    submitBurst: 3,
    submitsPerSecond: 0.01,
    maxQueuedPerUser: 4,
    maxUiSocketsPerPrincipal: 1,
  });
  try {
    const alice = await second.user("alice");
    const post = (body: unknown, path = "/api/v1/jobs") =>
      fetch(`${second.server.url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${alice.token}` },
        body: JSON.stringify(body),
      });
    for (let i = 0; i < 3; i++) {
      assert.equal((await (await post({ shell: "true" })).json()).state, "queued");
    }
    const limited = await post({ shell: "true" });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.match((await limited.json()).error.message, /Too many submissions by alice/);
    // Admins are not limited, and the cap counts alice's unfinished jobs only.
    await second.admin.submit({ shell: "true" });
    const bob = await second.user("bob");
    const bobPost = await bob.client.submitBatch([{ shell: "true" }, { shell: "true" }, {
      shell: "true",
    }]);
    assert.equal(bobPost.jobs.length, 3);
    const capped = await bob.client.submit({ shell: "true" }).catch((e) => e);
    assert.equal(capped.status, 429);
    assert.match(
      capped.message,
      /bob has 3 unfinished jobs and the limit is 4|Too many submissions/,
    );
    // A second dashboard stream of the same principal is refused.
    const first = await uiSocket(second.server.url, alice.token, "jobs");
    await assert.rejects(uiSocket(second.server.url, alice.token, "jobs"), /refused/);
    first.ws.close();
    await first.closed;
    // Oversized bodies are refused before they are read whole.
    const big = await post({ shell: "x".repeat(17 * 1024 * 1024) });
    assert.equal(big.status, 413);
    await big.body?.cancel();
  } finally {
    await second.server.stop();
  }
});

Deno.test("the audit log records logins, failures, changes, submissions, cancels and enrolments", async () => {
  const { server, admin, user } = await secureServer();
  try {
    const alice = await user("alice");
    const job = await alice.client.submit({ shell: "sleep 30" });
    await alice.client.cancel(job.id);
    const join = await admin.createToken({ kind: "join" });
    const enrolled = await fetch(`${server.url}/api/v1/agents/enrol`, {
      method: "POST",
      headers: { authorization: `Bearer ${join.token}` },
      body: JSON.stringify({ agent_id: "audited-1" }),
    });
    assert.equal(enrolled.status, 201);
    await enrolled.body?.cancel();
    const bad = await fetch(`${server.url}/api/v1/jobs`, {
      headers: { authorization: "Bearer nope" },
    });
    await bad.body?.cancel();
    const login = await fetch(`${server.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ token: alice.token, next: "/" }),
      redirect: "manual",
    });
    assert.equal(login.status, 303);
    await login.body?.cancel();
    await admin.revokeToken(alice.id);

    const { entries } = await admin.audit();
    const seen = entries.map((e) =>
      `${e.action} ${e.principal ?? "-"} ${e.target ?? "-"} ${e.outcome}`
    );
    for (
      const want of [
        "user.create admin user alice ok",
        `token.create admin token ${alice.id} ok`,
        `job.submit alice job ${job.id} ok`,
        `job.cancel alice job ${job.id} ok`,
        `token.create admin token ${join.id} ok`,
        "agent.enrol join-token-" + join.id + " agent audited-1 ok",
        "auth_failed - - denied",
        "login alice - ok",
        `token.revoke admin token ${alice.id} ok`,
      ]
    ) assert.ok(seen.includes(want), `${want} in\n${seen.join("\n")}`);
    assert.ok(entries.every((e) => e.source === "127.0.0.1"), JSON.stringify(entries));
    // Admins only, and it pages.
    await assert.rejects((await user("vera", "viewer")).client.audit(), /Only admins/);
    const page = await admin.audit({ limit: 2 });
    assert.equal(page.entries.length, 2);
    const rest = await admin.audit({ cursor: page.next_cursor!, limit: 1000 });
    assert.equal(rest.entries[0].id, page.entries[1].id - 1);
  } finally {
    await server.stop();
  }
});

Deno.test("a user's dashboard stream carries only their own jobs", async () => {
  const { server, admin, user } = await secureServer();
  try {
    const alice = await user("alice");
    const bob = await user("bob");
    const bobJob = await bob.client.submit({ shell: "echo bob" });
    const ui = await uiSocket(server.url, alice.token, `jobs,agents,overview,job:${bobJob.id}`);
    const mine = await alice.client.submit({ shell: "echo alice" });
    const theirs = await bob.client.submit({ shell: "echo bob-again" });
    await admin.cancel(theirs.id);
    await admin.cancel(mine.id);
    await waitUntil(
      () =>
        ui.messages.some((m) =>
          m.type === "jobs" &&
          (m.jobs as Array<{ id: number; state: string }>).some((j) =>
            j.id === mine.id && j.state === "cancelled"
          )
        ),
      10_000,
      "alice's cancelled job on her stream",
    );
    const text = JSON.stringify(ui.messages);
    assert.ok(!text.includes("bob"), text);
    assert.ok(!ui.messages.some((m) => m.type === "job"), "no detail of bob's job");
    ui.ws.close();
    await ui.closed;
  } finally {
    await server.stop();
  }
});

Deno.test("web hardening: security headers, CSP, CSRF on the cookie session, escaped output", async () => {
  const { server, admin, user } = await secureServer();
  const agent = startTestAgent(server.url, { token: ADMIN });
  try {
    const alice = await user("alice");
    const job = await alice.client.submit({
      shell: "echo '<script>alert(1)</script><img src=x onerror=alert(2)>'",
    });
    await waitForJob(admin, job.id);
    const cookie = `jobdist_token=${encodeURIComponent(alice.token)}`;
    const page = await fetch(`${server.url}/jobs/${job.id}`, { headers: { cookie } });
    assert.equal(page.status, 200);
    const csp = page.headers.get("content-security-policy")!;
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    const html = await page.text();
    assert.ok(!html.includes("<script>alert(1)"), "job output is not markup");
    assert.ok(!html.includes("<img src=x"), "job output is not markup");
    // Escaped in the spec and again in the output.
    const escaped = "&lt;script>alert(1)&lt;/script>&lt;img src=x onerror=alert(2)>";
    assert.ok(html.split(escaped).length - 1 >= 2, html);
    const api = await alice.client.listJobs();
    assert.equal(api.jobs.length, 1);
    const json = await fetch(`${server.url}/api/v1/jobs`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    assert.equal(
      json.headers.get("content-security-policy"),
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    );
    assert.equal(json.headers.get("cross-origin-resource-policy"), "same-origin");
    await json.body?.cancel();

    // The cookie works only from the dashboard's own pages.
    const viaGateway = (headers: Record<string, string>) =>
      fetch(`${server.url}/ui/api/v1/jobs`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", ...headers },
        body: JSON.stringify({ shell: "echo csrf" }),
      });
    const crossSite: Record<string, string>[] = [
      { "sec-fetch-site": "cross-site" },
      { origin: "https://evil.example" },
    ];
    for (const headers of crossSite) {
      const res = await viaGateway(headers);
      assert.equal(res.status, 403, JSON.stringify(headers));
      await res.body?.cancel();
    }
    const ok = await viaGateway({ "sec-fetch-site": "same-origin", origin: server.url });
    assert.equal(ok.status, 201);
    await ok.body?.cancel();
    // An agent or join token cannot log in to the dashboard.
    const login = await fetch(`${server.url}/login`, {
      method: "POST",
      body: new URLSearchParams({ token: "shared-agent-0123456789" }),
      redirect: "manual",
    });
    assert.equal(login.status, 401);
    assert.match(await login.text(), /cannot log in/);
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("first start beyond loopback prints an admin token once; --admin-token-file is adopted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-bootstrap-" });
  const db = `${dir}/j.db`;
  try {
    const printed: string[] = [];
    for (let i = 0; i < 2; i++) {
      const ac = new AbortController();
      const running = await startServer({
        listen: "0.0.0.0:0",
        db,
        tokens: [],
        onAdminToken: (t) => printed.push(t),
      }, ac.signal);
      const url = `http://127.0.0.1:${running.port}`;
      const anonymous = await fetch(`${url}/api/v1/jobs`);
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      const client = new Client({ server: url, token: printed[0] });
      assert.deepEqual((await client.users()).users.map((u) => [u.name, u.role]), [[
        "admin",
        "admin",
      ]]);
      ac.abort();
      await running.finished;
    }
    assert.equal(printed.length, 1, "printed on the first start only");
    assert.match(printed[0], /^jd_u_[A-Za-z0-9_-]{43}$/);

    const chosen = "chosen-admin-token-0123456789abcdef";
    const ac = new AbortController();
    const running = await startServer(
      { listen: "127.0.0.1:0", db: ":memory:", tokens: [], adminToken: chosen },
      ac.signal,
    );
    const client = new Client({ server: running.url, token: chosen });
    assert.equal((await client.users()).users[0].role, "admin");
    const anonymous = await fetch(`${running.url}/api/v1/jobs`);
    assert.equal(anonymous.status, 401, "a loopback server with an admin token is not open");
    await anonymous.body?.cancel();
    ac.abort();
    await running.finished;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobdist users and tokens: create prints a token once, lists never show secrets", async () => {
  const { server } = await secureServer();
  const cli = async (args: string[], token = ADMIN) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      env: { JOBDIST_SERVER: server.url, JOBDIST_TOKEN: token },
      stdin: "null",
    }).output();
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
  };
  try {
    const created = await cli(["users", "create", "alice", "--role", "viewer"]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^jd_u_[A-Za-z0-9_-]{43}$/);
    const list = await cli(["tokens", "list"]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /alice +first token +active/);
    assert.ok(!list.stdout.includes(token.slice(12)), "the secret is never listed");
    const denied = await cli(["users", "list"], token);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Only admins may do this; you are viewer alice/);
    const bad = await cli(["tokens", "revoke", "abc"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"abc" is not a token id/);
  } finally {
    await server.stop();
  }
});
