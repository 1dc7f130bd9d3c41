import assert from "node:assert/strict";
import { noDelayOnSockets } from "../../src/agent/tcp_nodelay.ts";

const libc = Deno.dlopen("libc.so.6", {
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
});

/** TCP_NODELAY of each TCP socket of this process, by fd. */
function noDelayByFd(): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(e.name);
    let link = "";
    try {
      link = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (!link.startsWith("socket:")) continue;
    const value = new Int32Array(1), len = new Uint32Array([4]);
    if (libc.symbols.getsockopt(fd, 6, 1, value, len) === 0) out.set(fd, value[0]);
  }
  return out;
}

Deno.test("noDelayOnSockets() turns Nagle off on the agent's WebSocket connection", async () => {
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
  const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  try {
    await new Promise((r, j) => {
      ws.onopen = r;
      ws.onerror = j;
    });
    const before = noDelayByFd();
    // Deno's WebSocket client leaves Nagle on: at least one TCP socket here has it.
    assert.ok([...before.values()].includes(0), JSON.stringify([...before]));
    assert.ok(noDelayOnSockets() >= 1);
    const after = noDelayByFd();
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    assert.ok([...after.values()].every((v) => v === 1), JSON.stringify([...after]));
    // The connection still works.
    const echoed = new Promise((r) => ws.onmessage = (e) => r(e.data));
    ws.send("ping");
    assert.equal(await echoed, "ping");
  } finally {
    ws.close();
    await server.shutdown();
    libc.close();
  }
});
