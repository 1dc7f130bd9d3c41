import assert from "node:assert/strict";
import {
  type AgentMessage,
  AgentTextMessage,
  assertNever,
  encodeLogFrame,
  parseAgentMessage,
  parseServerMessage,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../src/protocol/agent_wire.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";

const hello = {
  type: "hello",
  protocol: PROTOCOL_VERSION,
  agent_id: "a-1.x_y",
  name: "build-1",
  slots: 4,
  version: "0.1.0",
};

function agentError(value: unknown): ProtocolError {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  try {
    parseAgentMessage(text);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${e}`);
    return e;
  }
  assert.fail(`parseAgentMessage accepted ${text}`);
}

function serverError(value: unknown): ProtocolError {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  try {
    parseServerMessage(text);
  } catch (e) {
    assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${e}`);
    return e;
  }
  assert.fail(`parseServerMessage accepted ${text}`);
}

Deno.test("parseAgentMessage() reads a minimal hello and fills defaults", () => {
  const msg = parseAgentMessage(JSON.stringify(hello));
  assert.equal(msg.type, "hello");
  if (msg.type !== "hello") return;
  assert.deepEqual(msg.labels, {});
  assert.deepEqual(msg.runtimes, []);
  assert.deepEqual(msg.inventory, []);
  assert.equal(msg.token, undefined);
});

Deno.test("parseAgentMessage() reads a hello with inventory and a finished result", () => {
  const msg = parseAgentMessage(JSON.stringify({
    ...hello,
    token: "t",
    labels: { zone: "eu" },
    runtimes: [{ name: "python", version: "3.12.1" }],
    inventory: [
      { attempt_id: "7.1", job_id: 7, pid: 123, log_seq: 3, result: null },
      {
        attempt_id: "8.2",
        job_id: 8,
        pid: null,
        log_seq: 0,
        result: { exit_code: 1, signal: null, duration_ms: 12 },
      },
    ],
  }));
  assert.equal(msg.type, "hello");
  if (msg.type !== "hello") return;
  assert.equal(msg.inventory.length, 2);
  assert.deepEqual(msg.inventory[1].result, {
    exit_code: 1,
    signal: null,
    duration_ms: 12,
    killed_by: null,
    error: null,
    truncated_bytes: 0,
  });
});

Deno.test("parseAgentMessage() reads every agent frame type", () => {
  const frames: AgentMessage[] = [
    parseAgentMessage(JSON.stringify({ type: "heartbeat", running: ["1.1"], facts: { cpus: 4 } })),
    parseAgentMessage(JSON.stringify({ type: "started", attempt_id: "1.1", pid: 99 })),
    parseAgentMessage(encodeLogFrame({
      type: "log",
      attempt_id: "1.1",
      seq: 70_000,
      stream: "stderr",
      data: new TextEncoder().encode("é\n"),
    })),
    parseAgentMessage(JSON.stringify({
      type: "finished",
      attempt_id: "1.1",
      log_seq: 1,
      result: { exit_code: null, signal: "SIGKILL", duration_ms: 5, killed_by: "timeout" },
    })),
    parseAgentMessage(JSON.stringify({ type: "refuse", attempt_id: "1.1", reason: "draining" })),
  ];
  assert.deepEqual(frames.map((f) => f.type), [
    "heartbeat",
    "started",
    "log",
    "finished",
    "refuse",
  ]);
  const log = frames[2];
  assert.ok(log.type === "log");
  assert.equal(log.attempt_id, "1.1");
  assert.equal(log.seq, 70_000);
  assert.equal(log.stream, "stderr");
  assert.equal(new TextDecoder().decode(log.data), "é\n");
});

Deno.test("parseAgentMessage() names what is wrong with a binary log frame", () => {
  const frame = (data: number[]) => {
    try {
      parseAgentMessage(new Uint8Array(data));
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `expected a ProtocolError, got ${e}`);
      return e.message;
    }
    assert.fail(`parseAgentMessage accepted [${data}]`);
  };
  assert.match(frame([1, 2, 3]), /expected a log frame/);
  assert.match(frame([9, 0, 0, 0, 0, 0, 1, 0x31]), /expected a log frame/);
  assert.match(frame([1, 2, 0, 0, 0, 0, 1, 0x31]), /^stream:/);
  assert.match(frame([1, 0, 0, 0, 0, 0, 0]), /^attempt_id:/);
  assert.match(frame([1, 0, 0, 0, 0, 0, 5, 0x31]), /^attempt_id:/);
  assert.match(frame([1, 0, 0, 0, 0, 0, 1, 0x20]), /^attempt_id: expected printable ASCII/);
  // A text frame of type log is not a frame any more: output travels as bytes.
  assert.equal(agentError({ type: "log", attempt_id: "1.1", seq: 0, data: "" }).field, "type");
});

Deno.test("parseAgentMessage() rejects a frame that is not JSON", () => {
  const e = agentError("{not json");
  assert.equal(e.field, "");
  assert.match(e.message, /not valid JSON/);
});

Deno.test("parseAgentMessage() rejects unknown and missing types", () => {
  assert.equal(agentError({ type: "launch_missiles" }).field, "type");
  assert.equal(agentError({ attempt_id: "1.1" }).field, "type");
  agentError([]);
  agentError(null);
  agentError("42");
});

Deno.test("parseAgentMessage() names the bad field", () => {
  const cases: Array<[unknown, string]> = [
    [{ ...hello, agent_id: "has space" }, "agent_id"],
    [{ ...hello, agent_id: "" }, "agent_id"],
    [{ ...hello, slots: 0 }, "slots"],
    [{ ...hello, slots: 1.5 }, "slots"],
    [{ ...hello, protocol: "1" }, "protocol"],
    [{ ...hello, name: undefined }, "name"],
    [{ ...hello, runtimes: [{ name: "go" }] }, "runtimes.0.version"],
    [
      { ...hello, inventory: [{ attempt_id: "1.1", job_id: 0, pid: 1, log_seq: 0, result: null }] },
      "inventory.0.job_id",
    ],
    [{ type: "started", attempt_id: "", pid: 1 }, "attempt_id"],
    [{ type: "started", attempt_id: "1.1" }, "pid"],
    [{ type: "heartbeat" }, "running"],
    [
      {
        type: "finished",
        attempt_id: "1.1",
        log_seq: 0,
        result: { exit_code: 0, signal: null, duration_ms: -1 },
      },
      "result.duration_ms",
    ],
    [
      {
        type: "finished",
        attempt_id: "1.1",
        log_seq: 0,
        result: { exit_code: 0, signal: null, duration_ms: 1, killed_by: "boredom" },
      },
      "result.killed_by",
    ],
  ];
  for (const [frame, field] of cases) {
    const e = agentError(frame);
    assert.equal(e.field, field, `field of ${JSON.stringify(frame)}: ${e.message}`);
  }
});

Deno.test("parseAgentMessage() rejects extra keys in a frame", () => {
  const e = agentError({ type: "started", attempt_id: "1.1", pid: 1, evil: true });
  assert.match(e.message, /evil/);
});

Deno.test("parseServerMessage() reads an assign frame with the spec as the server sent it", () => {
  const msg = parseServerMessage(JSON.stringify({
    type: "assign",
    job_id: 3,
    attempt_id: "3.1",
    attempt: 1,
    spec: { shell: "echo hi" },
    timeout_ms: null,
    kill_grace_ms: 10_000,
    max_output_bytes: 1024,
  }));
  assert.equal(msg.type, "assign");
  if (msg.type !== "assign") return;
  assert.equal(msg.spec.shell, "echo hi");
  assert.deepEqual(msg.spec, { shell: "echo hi" }, "the server sends the stored, complete spec");
});

Deno.test("parseServerMessage() reads every server frame type", () => {
  const frames: ServerMessage[] = [
    {
      type: "welcome",
      session: "s",
      agent_id: "a",
      heartbeat_ms: 5000,
      server_version: "0.1.0",
      reconcile: [{ attempt_id: "1.1", action: "keep", log_seq: 2 }],
    },
    { type: "incompatible", reason: "protocol 2 is not supported" },
    { type: "cancel", attempt_id: "1.1", reason: "timeout" },
    { type: "log_ack", attempt_id: "1.1", log_seq: 3 },
    { type: "ack", attempt_id: "1.1" },
    { type: "reject", attempt_id: "1.1", reason: "stale" },
    { type: "drain", enabled: true },
    { type: "error", code: "invalid", message: "bad frame" },
  ];
  for (const f of frames) assert.deepEqual(parseServerMessage(JSON.stringify(f)), f);
});

Deno.test("parseServerMessage() rejects bad server frames", () => {
  assert.match(serverError("").message, /not valid JSON/);
  assert.equal(serverError({ type: "launch" }).field, "type");
  assert.equal(serverError([]).field, "");
  assert.equal(serverError({ type: "ack" }).field, "attempt_id");
  assert.equal(serverError({ type: "log_ack", attempt_id: "1.1", log_seq: -1 }).field, "log_seq");
  assert.equal(serverError({ type: "drain", enabled: "yes" }).field, "enabled");
  const assign = {
    type: "assign",
    job_id: 1,
    attempt_id: "1.1",
    attempt: 1,
    spec: { shell: "x" },
    timeout_ms: null,
    kill_grace_ms: 0,
    max_output_bytes: 0,
  };
  assert.equal(serverError({ ...assign, job_id: 0 }).field, "job_id");
  assert.equal(serverError({ ...assign, timeout_ms: 1.5 }).field, "timeout_ms");
  assert.equal(serverError({ ...assign, spec: { command: [] } }).field, "spec.command");
  assert.equal(
    serverError({ ...assign, spec: { script: { runtime: "go" } } }).field,
    "spec.script.source",
  );
  assert.equal(serverError({ ...assign, spec: { shell: "x", env: { A: 1 } } }).field, "spec.env.A");
  assert.equal(
    serverError({ ...assign, spec: { shell: "x", max_line_bytes: 0 } }).field,
    "spec.max_line_bytes",
  );
  assert.equal(serverError({ ...assign, secrets: { A: 1 } }).field, "secrets.A");
  assert.equal(serverError({ type: "cancel", attempt_id: "1.1", reason: "why" }).field, "reason");
  assert.equal(
    serverError({
      type: "assign",
      job_id: 1,
      attempt_id: "1.1",
      attempt: 1,
      spec: { shell: "x", command: ["y"] },
      timeout_ms: null,
      kill_grace_ms: 0,
      max_output_bytes: 0,
    }).field,
    "spec",
  );
  assert.equal(
    serverError({
      type: "welcome",
      session: "s",
      agent_id: "a",
      heartbeat_ms: 0,
      server_version: "x",
      reconcile: [],
    }).field,
    "heartbeat_ms",
  );
  assert.equal(
    serverError({
      type: "welcome",
      session: "s",
      agent_id: "a",
      heartbeat_ms: 1,
      server_version: "x",
      reconcile: [{ attempt_id: "1.1", action: "maybe", log_seq: 0 }],
    }).field,
    "reconcile.0.action",
  );
});

Deno.test("assertNever() throws naming the unexpected value", () => {
  assert.throws(() => assertNever({ type: "x" } as never), /Unexpected value: \{"type":"x"\}/);
});

Deno.test("parseAgentMessage() takes and refuses exactly the finished frames the schema does", () => {
  const result = {
    exit_code: 0,
    signal: null,
    duration_ms: 12,
    killed_by: null,
    error: null,
    truncated_bytes: 0,
  };
  const base = { type: "finished", attempt_id: "42.1", log_seq: 3, result, pid: 77 };
  const values = [
    undefined,
    null,
    -1,
    0,
    1.5,
    2 ** 53,
    "",
    "x",
    "SIGTERM",
    "timeout",
    "output_limit",
    "bogus",
    "a".repeat(32),
    "a".repeat(33),
    "a".repeat(100),
    "a".repeat(101),
    "a".repeat(4096),
    "a".repeat(4097),
    true,
    {},
    [],
  ];
  const variants: unknown[] = [base, { ...base, pid: undefined }];
  for (const key of Object.keys(base)) {
    for (const v of values) variants.push({ ...base, [key]: v });
  }
  for (const key of Object.keys(result)) {
    for (const v of values) variants.push({ ...base, result: { ...result, [key]: v } });
  }
  variants.push({ ...base, extra: 1 }, { ...base, result: { ...result, extra: 1 } });
  variants.push(JSON.parse(
    '{"type":"finished","attempt_id":"1.1","log_seq":0,"__proto__":1,' +
      '"result":{"exit_code":0,"signal":null,"duration_ms":0,"killed_by":null,"error":null,' +
      '"truncated_bytes":0}}',
  ));
  let accepted = 0;
  for (const v of variants) {
    const text = JSON.stringify(v);
    const expected = AgentTextMessage.safeParse(JSON.parse(text));
    if (expected.success) {
      accepted++;
      assert.deepEqual(parseAgentMessage(text), expected.data, text);
    } else {
      assert.throws(() => parseAgentMessage(text), ProtocolError, text);
    }
  }
  assert.ok(accepted > 20 && accepted < variants.length - 100, `accepted ${accepted}`);
});
