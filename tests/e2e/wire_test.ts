/**
 * End to end over real sockets: hostile frames on `/ws/agent` get an error frame or a 1009
 * close while the server keeps serving, and agents that drop and come back get new work.
 */

import assert from "node:assert/strict";
import { encodeLogFrame, MAX_FRAME_BYTES, PROTOCOL_VERSION } from "../../src/protocol/mod.ts";
import { spawnJobdist, startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

/** A raw WebSocket client that collects frames. */
async function rawSocket(url: string) {
  const ws = new WebSocket(url.replace("http", "ws") + "/ws/agent");
  const frames: Array<Record<string, unknown>> = [];
  const closed = new Promise<CloseEvent>((r) => ws.onclose = r);
  ws.onmessage = (e) => frames.push(JSON.parse(e.data));
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  const next = async () => {
    const n = frames.length;
    for (let i = 0; i < 200 && frames.length === n; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return frames[n];
  };
  return { ws, frames, closed, next };
}

const hello = (id: string) => ({
  type: "hello",
  protocol: PROTOCOL_VERSION,
  agent_id: id,
  name: id,
  slots: 1,
  version: "test",
  runtimes: [],
  labels: {},
  inventory: [],
});

Deno.test("agent hub: malformed frames get an error frame and the socket stays usable", async () => {
  const server = await startTestServer();
  try {
    const s = await rawSocket(server.url);
    s.ws.send("this is not json");
    assert.match(String((await s.next()).message), /not valid JSON/);
    s.ws.send(JSON.stringify({ type: "heartbeat", running: [] }));
    assert.match(String((await s.next()).message), /first frame must be hello/);
    s.ws.send(JSON.stringify({ type: "hello", protocol: 1 }));
    const bad = await s.next();
    assert.equal(bad.type, "error");
    assert.match(String(bad.message), /agent_id|name|slots|version/);
    s.ws.send(JSON.stringify({ type: "launch_missiles" }));
    assert.equal((await s.next()).type, "error");
    s.ws.send(new Uint8Array([1, 2, 3]));
    assert.match(String((await s.next()).message), /expected a log frame/);
    s.ws.send(JSON.stringify(hello("raw-1")));
    const welcome = await s.next();
    assert.equal(welcome.type, "welcome");
    s.ws.send(encodeLogFrame({
      type: "log",
      attempt_id: "999.1",
      seq: 0,
      stream: "stdout",
      data: new Uint8Array([120]),
    }));
    const reject = await s.next();
    assert.equal(reject.type, "reject");
    s.ws.send(JSON.stringify({ type: "heartbeat", running: "nope" }));
    assert.match(String((await s.next()).message), /running/);
    s.ws.close();
    await s.closed;
    const res = await fetch(`${server.url}/healthz`);
    assert.deepEqual(await res.json(), { ok: true });
  } finally {
    await server.stop();
  }
});

Deno.test("agent hub: an oversized frame closes the socket with 1009, others are unaffected", async () => {
  const server = await startTestServer();
  const agent = startTestAgent(server.url, { name: "good" });
  try {
    const s = await rawSocket(server.url);
    s.ws.send(JSON.stringify(hello("raw-big")));
    assert.equal((await s.next()).type, "welcome");
    s.ws.send("x".repeat(MAX_FRAME_BYTES + 10));
    const ev = await s.closed;
    assert.equal(ev.code, 1009);
    const job = await server.client.submit({ shell: "echo still fine" });
    const done = await waitForJob(server.client, job.id);
    assert.equal(done.state, "succeeded");
  } finally {
    await agent.stop();
    await server.stop();
  }
});

Deno.test("agent hub: a bad token and a wrong protocol version are refused with a reason", async () => {
  const token = "0123456789abcdef0123";
  const server = await startTestServer({ tokens: [token] });
  try {
    const s = await rawSocket(server.url);
    s.ws.send(JSON.stringify({ ...hello("x"), token: "wrong-token-wrong-token" }));
    const f = await s.next();
    assert.equal(f.type, "incompatible");
    assert.match(String(f.reason), /authentication failed/);
    assert.equal((await s.closed).code, 4401);
    const v = await rawSocket(server.url);
    v.ws.send(JSON.stringify({ ...hello("y"), token, protocol: 99 }));
    const g = await v.next();
    assert.equal(g.type, "incompatible");
    assert.match(String(g.reason), /protocol 99 is not supported/);
  } finally {
    await server.stop();
  }
});

Deno.test("e2e: an agent process killed and restarted reconnects and gets new work", async () => {
  const server = await startTestServer({ lostAfterMs: 1_000 });
  const stateDir = await Deno.makeTempDir();
  const args = [
    "agent",
    "--server",
    server.url,
    "--name",
    "phoenix",
    "--slots",
    "2",
    "--state-dir",
    stateDir,
  ];
  let child = spawnJobdist(args);
  try {
    await child.waitFor(/connected as phoenix/);
    const first = await server.client.submit({ shell: "echo one" });
    assert.equal((await waitForJob(server.client, first.id)).state, "succeeded");
    await child.kill("SIGKILL");
    child = spawnJobdist(args);
    await child.waitFor(/connected as phoenix/);
    const agents = await server.client.agents();
    assert.equal(agents.agents.length, 1, "the restarted agent kept its id");
    assert.equal(agents.agents[0].status, "idle");
    const second = await server.client.submit({ shell: "echo two" });
    assert.equal((await waitForJob(server.client, second.id)).state, "succeeded");
  } finally {
    await child.kill("SIGTERM");
    await server.stop();
    await Deno.remove(stateDir, { recursive: true });
  }
});
