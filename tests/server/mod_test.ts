import assert from "node:assert/strict";
import { parseListen, startServer } from "../../src/server/mod.ts";

Deno.test("parseListen() splits host and port", () => {
  assert.deepEqual(parseListen("127.0.0.1:7420"), { hostname: "127.0.0.1", port: 7420 });
  assert.deepEqual(parseListen("0.0.0.0:0"), { hostname: "0.0.0.0", port: 0 });
  assert.deepEqual(parseListen("[::1]:80"), { hostname: "::1", port: 80 });
  assert.deepEqual(parseListen("localhost:65535"), { hostname: "localhost", port: 65535 });
  assert.deepEqual(parseListen(":7420"), { hostname: "0.0.0.0", port: 7420 });
});

Deno.test("parseListen() rejects what is not host:port", () => {
  for (const bad of ["7420", "host", "host:", "host:port", "::1:80", "host:123456"]) {
    assert.throws(() => parseListen(bad), /Cannot listen on/, bad);
  }
  assert.throws(() => parseListen("host:65536"), /port out of range/);
});

Deno.test("startServer() refuses a non-loopback address without a token", async () => {
  const ac = new AbortController();
  for (const listen of ["0.0.0.0:0", ":0", "[::]:0"]) {
    await assert.rejects(
      startServer({ listen, db: ":memory:", tokens: [] }, ac.signal),
      /Refusing to listen on .* without a token/,
      listen,
    );
    await assert.rejects(
      startServer({ listen, db: ":memory:", tokens: [""] }, ac.signal),
      /without a token/,
      `${listen} with an empty token`,
    );
  }
});
