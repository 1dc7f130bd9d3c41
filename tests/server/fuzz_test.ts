/**
 * Fuzzing the two doors into the server: every REST route with a body (and every path and query
 * parameter) gets thousands of hostile variants generated from its schema (wrong types, values
 * past each bound, unknown fields, prototype keys, deep nesting, broken and oversized JSON), and
 * the agent WebSocket gets malformed, mutated and oversized frames before and after its hello.
 * The server must answer only documented statuses, accept nothing its schema refuses, and keep
 * serving.
 */

import assert from "node:assert/strict";
import { z } from "zod";
import { API, type Route } from "../../src/protocol/api.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/mod.ts";
import { fullApp } from "./full_app.ts";
import { startTestAgent, startTestServer, waitForJob } from "../helpers.ts";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  maxLength?: number;
  maximum?: number;
  minimum?: number;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
};

/** A valid body of each route that takes one: the seeds the mutations start from. */
const SEEDS: Partial<Record<keyof typeof API, Json>> = {
  submitJob: {
    shell: "true",
    name: "seed",
    env: { A: "1" },
    queue: "default",
    priority: 1,
    requires: { labels: { zone: "eu" }, runtimes: ["bash"] },
    timeout: "1m",
    max_attempts: 2,
    backoff: { initial: "1s", max: "1m", factor: 2 },
    tags: ["a"],
    delay: "1h",
  },
  submitJobs: { jobs: [{ shell: "true", delay: "1h" }, { command: ["true"], delay: "1h" }] },
  setQueue: { concurrency: 2 },
  drainAgent: { enabled: true },
  updateAgent: { name: "renamed", labels: { zone: "eu" } },
  createSchedule: {
    name: "nightly",
    cron: "0 3 * * *",
    timezone: "Europe/Berlin",
    job: { shell: "true" },
  },
  replaceSchedule: { name: "nightly", cron: "0 4 * * *", job: { shell: "true" } },
  setSecret: { name: "db", value: "hunter2" },
  createUser: { name: "ann", role: "user" },
  createToken: { user: "ann", name: "ci", expires_in: "1d" },
  enrolAgent: { join_token: "jd_j_x", name: "agent" },
};

/** Values that break assumptions: types, bounds, encodings, nesting, prototype keys. */
function hostileValues(s: JsonSchema | undefined): Json[] {
  const long = "x".repeat(Math.min((s?.maxLength ?? 1_000) + 1, 2_000_000));
  const deep: Json = JSON.parse("[".repeat(5_000) + "]".repeat(5_000));
  const values: Json[] = [
    null,
    true,
    0,
    -1,
    1.5,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    "",
    long,
    "\u0000",
    "\ud800",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    [],
    [null],
    {},
    JSON.parse('{"__proto__": {"polluted": 1}}'),
    { constructor: { prototype: { polluted: 1 } } },
    deep,
  ];
  if (s?.maximum !== undefined) values.push(s.maximum + 1);
  if (s?.minimum !== undefined) values.push(s.minimum - 1);
  return values;
}

/** Variants of `seed`: each property (of the schema, present or not) set to each hostile value or
 * removed, one level of nesting deep, plus unknown fields. */
function mutations(seed: Json, schema: JsonSchema, depth = 0): Json[] {
  const out: Json[] = [];
  if (!seed || typeof seed !== "object" || Array.isArray(seed)) return out;
  const props = { ...schema.properties };
  for (const key of Object.keys(seed)) props[key] ??= {};
  for (const [key, sub] of Object.entries(props)) {
    for (const v of hostileValues(sub)) out.push({ ...seed, [key]: v });
    const { [key]: _dropped, ...without } = seed;
    out.push(without);
    const inner = seed[key];
    if (depth < 1 && inner && typeof inner === "object") {
      const innerSchema = sub.properties ? sub : (sub.anyOf?.find((a) => a.properties) ?? {});
      for (const m of mutations(inner, innerSchema, depth + 1)) out.push({ ...seed, [key]: m });
      if (Array.isArray(inner) && inner.length) {
        for (const m of mutations(inner[0], sub.items ?? {}, depth + 1)) {
          out.push({ ...seed, [key]: [m, ...inner.slice(1)] });
        }
      }
    }
  }
  out.push({ ...seed, unknown_field: 1 });
  return out;
}

/** Whole-body mutations: not JSON, the wrong kind of JSON, too deep, too big. */
const RAW_BODIES: string[] = [
  "",
  "{",
  '{"shell": "true"',
  "not json",
  "[]",
  '"text"',
  "42",
  "null",
  "[".repeat(100_000) + "]".repeat(100_000),
  '{"a":'.repeat(10_000) + "1" + "}".repeat(10_000),
  "\ufeff{}",
  JSON.stringify({ shell: "x".repeat(2 * 1024 * 1024) }), // past maxBodyBytes (1 MiB)
];

const HOSTILE_PARAMS = [
  "-1",
  "0",
  "1e5",
  "99999999999999999999",
  "%00",
  "..%2F..%2Fetc",
  "%3Cscript%3E",
  "x".repeat(5_000),
  "%F0%9F%92%A9",
];

function fill(route: Route, value: string): string {
  return route.path.replace(/:[a-z_]+/g, value);
}

function allowedStatuses(route: Route): Set<number> {
  return new Set([route.status, 400, 401, 403, 404, 413, 429, ...(route.errors ?? [])]);
}

Deno.test("fuzz: thousands of hostile REST requests get documented 4xx, and nothing invalid is accepted", async () => {
  const { app, close } = fullApp();
  let sent = 0;
  const send = async (op: string, route: Route, path: string, body?: string) => {
    sent++;
    const res = await app.request(path, {
      method: route.method,
      headers: { "content-type": "application/json" },
      body: route.method === "GET" ? undefined : body,
    });
    const allowed = allowedStatuses(route);
    assert.ok(
      allowed.has(res.status),
      `${op} ${route.method} ${path} answered ${res.status} to ${body?.slice(0, 200)}: ${await res
        .clone().text()}`,
    );
    const text = await res.text();
    if (res.status >= 400 && res.status !== 413) {
      const err = JSON.parse(text);
      assert.equal(typeof err.error?.message, "string", `${op}: error body ${text}`);
    }
    return res.status;
  };
  try {
    // Users and tokens last: once one exists, anonymous callers are refused (401).
    const access = new Set(["createUser", "createToken", "enrolAgent"]);
    const ops = (Object.entries(API) as Array<[keyof typeof API, Route]>)
      .sort(([a], [b]) => Number(access.has(a)) - Number(access.has(b)));
    let beforeAccess = true;
    for (const [op, route] of ops) {
      if (access.has(op) && beforeAccess) {
        beforeAccess = false;
        // Still serving after everything else: a plain submission works.
        const ok = await app.request("/api/v1/jobs", {
          method: "POST",
          body: JSON.stringify({ shell: "echo still here", delay: "1h" }),
        });
        assert.equal(ok.status, 201);
      }
      if (route.method === "GET" && route.path.endsWith("openapi.json")) continue;
      const seed = SEEDS[op];
      const params = route.path.includes(":") ? "1" : "";
      if (seed !== undefined && route.body) {
        const schema = z.toJSONSchema(route.body, { io: "input", unrepresentable: "any" });
        for (const body of mutations(seed, schema as JsonSchema)) {
          const text = JSON.stringify(body);
          const status = await send(op, route, fill(route, params || "x"), text);
          if (status < 300) {
            assert.ok(
              route.body.safeParse(JSON.parse(text)).success,
              `${op} accepted a body its schema refuses: ${text.slice(0, 300)}`,
            );
          }
        }
        for (const raw of RAW_BODIES) await send(op, route, fill(route, params || "x"), raw);
      }
      if (route.path.includes(":")) {
        for (const p of HOSTILE_PARAMS) {
          const body = seed === undefined ? undefined : JSON.stringify(seed);
          await send(op, route, fill(route, p), body);
        }
      }
      if (route.query) {
        for (const key of Object.keys(route.query.shape)) {
          for (const v of ["-1", "abc", "", "x".repeat(10_000), "%00", "1e999"]) {
            const path = `${fill(route, "1")}?${key}=${encodeURIComponent(v)}`;
            await send(op, route, path, seed === undefined ? undefined : JSON.stringify(seed));
          }
        }
      }
    }
    assert.ok(sent > 2_000, `sent ${sent} requests`);
    assert.equal((await app.request("/healthz")).status, 200);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "no prototype pollution");
  } finally {
    close();
  }
});

Deno.test("fuzz: malformed, mutated and oversized agent frames never break the server", async () => {
  const server = await startTestServer();
  const url = `${server.url.replace(/^http/, "ws")}/ws/agent`;
  const hello = {
    type: "hello",
    protocol: PROTOCOL_VERSION,
    agent_id: "fuzz-agent",
    name: "fuzz",
    labels: {},
    runtimes: [],
    slots: 1,
    version: "fuzz",
    inventory: [],
  };
  /** Opens a socket, sends `frames`, and resolves with what came back once it settles. */
  const session = (frames: string[]) =>
    new Promise<{ replies: string[]; closed: number | null }>((resolve) => {
      const ws = new WebSocket(url);
      const replies: string[] = [];
      let closed: number | null = null;
      const done = () => resolve({ replies, closed });
      ws.onopen = () => {
        for (const f of frames) ws.send(f);
        setTimeout(() => {
          ws.close();
        }, 150);
      };
      ws.onmessage = (e) => replies.push(String(e.data));
      ws.onclose = (e) => {
        closed = e.code;
        done();
      };
      ws.onerror = () => {};
    });
  const helloMutations = mutations(hello as Json, {}).map((m) => JSON.stringify(m));
  const frameMutations = [
    ...["{", "[]", "null", '"hello"', "\u0000", "x".repeat(1000)],
    ...mutations({ type: "heartbeat", running: [] }, {}).map((m) => JSON.stringify(m)),
    ...mutations({
      type: "finished",
      attempt_id: "999.1",
      log_seq: 0,
      result: { exit_code: 0, signal: null, duration_ms: 1 },
    }, {}).map((m) => JSON.stringify(m)),
    ...mutations({ type: "log", attempt_id: "999.1", seq: 0, stream: "stdout", data: "x" }, {})
      .map((m) => JSON.stringify(m)),
    JSON.stringify(hello), // a second hello
  ];
  try {
    let frames = 0;
    // Before the hello: every mutated hello on its own connection.
    for (let i = 0; i < helloMutations.length; i += 10) {
      const batch = helloMutations.slice(i, i + 10);
      const results = await Promise.all(batch.map((h) => session([h])));
      frames += batch.length;
      for (const r of results) {
        for (const reply of r.replies) {
          const msg = JSON.parse(reply);
          assert.ok(["welcome", "error", "incompatible"].includes(msg.type), reply);
        }
      }
    }
    // After a valid hello: a barrage of bad frames on one connection.
    const after = await session([JSON.stringify(hello), ...frameMutations]);
    frames += frameMutations.length;
    const types = after.replies.map((r) => JSON.parse(r).type);
    assert.equal(types[0], "welcome");
    assert.ok(types.includes("error"), "bad frames are answered with error frames");
    assert.ok(!types.includes("ack"), "no result was accepted for an attempt never leased");
    // Oversized: closed with 1009.
    const big = await session([JSON.stringify(hello), "x".repeat(32 * 1024 * 1024)]);
    assert.equal(big.closed, 1009);
    assert.ok(frames > 400, `sent ${frames} frames`);
    // Nothing bogus was stored, and the server still runs real work.
    assert.equal((await server.client.listJobs()).jobs.length, 0);
    const agent = startTestAgent(server.url, { name: "real" });
    try {
      const job = await server.client.submit({ shell: "echo survived" });
      assert.equal((await waitForJob(server.client, job.id)).state, "succeeded");
    } finally {
      await agent.stop();
    }
  } finally {
    await server.stop();
  }
});
