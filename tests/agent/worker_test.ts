import assert from "node:assert/strict";
import { Worker } from "../../src/agent/worker.ts";
import { parseLogFrame } from "../../src/protocol/agent_frames.ts";

function worker(id: string): Worker {
  return new Worker({ id, name: id, slots: 1, labels: {}, runtimes: new Map() });
}

async function markedSleep(marker: string): Promise<Deno.ChildProcess> {
  const p = new Deno.Command("sleep", {
    args: ["30"],
    env: { JOBDIST_TRACE: marker },
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 100));
  return p;
}

Deno.test("Worker.reapOrphans() kills processes of a dead agent and its own unheld attempts", async () => {
  const dead = new Deno.Command("true").spawn();
  await dead.status;
  const orphan = await markedSleep(`gone-agent/${dead.pid}/7.1`);
  const mineStale = await markedSleep(`me/${Deno.pid}/8.1`);
  const mineOldRun = await markedSleep(`me/${dead.pid}/9.1`);
  const othersLive = await markedSleep(`other-agent/${Deno.pid}/10.1`);
  try {
    // Agents of tests running in parallel may reap the two whose agent process is dead first;
    // the stale one of a live agent ("me", this process) only its own agent may kill.
    const killed = worker("me").reapOrphans();
    assert.ok(killed >= 1, `killed ${killed}`);
    for (const p of [orphan, mineStale, mineOldRun]) {
      assert.equal((await p.status).signal, "SIGKILL");
    }
    const race = await Promise.race([
      othersLive.status.then(() => "died"),
      new Promise((r) => setTimeout(() => r("alive"), 200)),
    ]);
    assert.equal(race, "alive", "a live agent's job is left alone");
  } finally {
    othersLive.kill("SIGKILL");
    await othersLive.status;
  }
});

/** The server's `welcome` to agent `agentId`, as a frame. */
function welcome(agentId: string, session: string, reconcile: unknown[] = []): string {
  return JSON.stringify({
    type: "welcome",
    session,
    agent_id: agentId,
    heartbeat_ms: 60_000,
    server_version: "test",
    reconcile,
  });
}

/** A worker welcomed on a fake socket that records what the worker sends. */
function welcomed(startReportDelayMs: number) {
  const sent: Array<Record<string, unknown> | "log"> = [];
  const socket = {
    readyState: WebSocket.OPEN,
    bufferedAmount: 0,
    send: (f: string | Uint8Array) => sent.push(typeof f === "string" ? JSON.parse(f) : "log"),
  } as unknown as WebSocket;
  const w = new Worker({
    id: "frames",
    name: "frames",
    slots: 2,
    labels: {},
    runtimes: new Map(),
    startReportDelayMs,
  });
  const frame = (f: Record<string, unknown>) => w.receive(JSON.stringify(f), socket);
  w.receive(welcome("frames", "s"), socket);
  const assign = (id: string, command: string[]) =>
    frame({
      type: "assign",
      job_id: 1,
      attempt_id: id,
      attempt: 1,
      spec: { command, queue: "default", priority: 0 },
      timeout_ms: null,
      kill_grace_ms: 1000,
      max_output_bytes: 1 << 20,
    });
  const of = (id: string) =>
    sent.filter((f) => f !== "log" && f.attempt_id === id) as Array<Record<string, unknown>>;
  return { w, sent, assign, of, frame, socket };
}

async function until(ok: () => boolean) {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), "timed out");
}

Deno.test("Worker reports a job that ends at once in one finished frame that carries its pid", async () => {
  // Held back longer than `true` can take, however busy the machine.
  const { w, assign, of, frame } = welcomed(60_000);
  assign("1.1", ["true"]);
  await until(() => of("1.1").some((f) => f.type === "finished"));
  const frames = of("1.1");
  assert.deepEqual(frames.map((f) => f.type), ["finished"], "no separate started frame");
  assert.ok(Number.isInteger(frames[0].pid) && (frames[0].pid as number) > 0);
  frame({ type: "ack", attempt_id: "1.1" });
  await w.whenIdle();
});

Deno.test("Worker reports a long job's start on its own", async () => {
  const { w, assign, of, frame } = welcomed(50);
  assign("2.1", ["sleep", "1"]);
  await until(() => of("2.1").some((f) => f.type === "finished"));
  const frames = of("2.1");
  assert.deepEqual(frames.map((f) => f.type), ["started", "finished"]);
  assert.ok((frames[0].pid as number) > 0);
  assert.equal(frames[1].pid, undefined, "the pid went with started");
  frame({ type: "ack", attempt_id: "2.1" });
  await w.whenIdle();
});

Deno.test("Worker reports a printing job's start before its first output", async () => {
  const { w, sent, assign, frame } = welcomed(60_000);
  assign("3.1", ["echo", "hi"]);
  await until(() => sent.some((f) => f !== "log" && f.type === "finished"));
  assert.deepEqual(sent.map((f) => f === "log" ? f : f.type), ["started", "log", "finished"]);
  frame({ type: "ack", attempt_id: "3.1" });
  await w.whenIdle();
});

Deno.test("Worker keeps a start it could not report for the finished frame it resends", async () => {
  const { w, sent, assign, of, socket } = welcomed(20);
  assign("4.1", ["sleep", "0.3"]);
  w.closed(); // the connection drops before the start is reported
  await new Promise((r) => setTimeout(r, 600)); // the job ends meanwhile
  assert.deepEqual(of("4.1"), [], "nothing goes out while disconnected");
  // Reconnected: the server says keep, and the agent resends the result with the pid.
  w.opened(socket);
  const hello = sent.at(-1) as { type: string; inventory: Array<{ pid: number }> };
  assert.equal(hello.type, "hello");
  w.receive(welcome("frames", "s2", [{ attempt_id: "4.1", action: "keep", log_seq: 0 }]), socket);
  const frames = of("4.1");
  assert.deepEqual(frames.map((f) => f.type), ["finished"]);
  assert.equal(frames[0].pid, hello.inventory[0].pid);
  assert.ok((frames[0].pid as number) > 0);
  w.receive(JSON.stringify({ type: "ack", attempt_id: "4.1" }), socket);
  await w.whenIdle();
});

Deno.test("Worker reports a start it could not report once it is connected again", async () => {
  const { w, sent, assign, of, socket } = welcomed(20);
  assign("5.1", ["sleep", "1"]);
  w.closed();
  await new Promise((r) => setTimeout(r, 100)); // started, its report due while disconnected
  assert.deepEqual(of("5.1"), []);
  w.opened(socket);
  const hello = sent.at(-1) as { inventory: Array<{ attempt_id: string; pid: number }> };
  w.receive(welcome("frames", "s2", [{ attempt_id: "5.1", action: "keep", log_seq: 0 }]), socket);
  // While the job still runs: its start goes out now, not with its end.
  assert.deepEqual(of("5.1").map((f) => [f.type, f.pid]), [["started", hello.inventory[0].pid]]);
  await until(() => of("5.1").some((f) => f.type === "finished"));
  assert.equal(of("5.1").at(-1)!.pid, undefined);
  w.receive(JSON.stringify({ type: "ack", attempt_id: "5.1" }), socket);
  await w.whenIdle();
});

Deno.test("Worker holds a job's output back for a server that acknowledges slowly, rather than spill it to disk", async () => {
  const dir = await Deno.makeTempDir();
  let bytes = 0;
  let finished = false;
  const socket = {
    readyState: WebSocket.OPEN,
    bufferedAmount: 0,
    send: (f: string | Uint8Array) => {
      if (typeof f === "string") {
        finished ||= JSON.parse(f).type === "finished";
        return;
      }
      const log = parseLogFrame(f);
      bytes += log.data.byteLength;
      // A server that stores each piece a few milliseconds later.
      setTimeout(() => {
        const ack = { type: "log_ack", attempt_id: log.attempt_id, log_seq: log.seq + 1 };
        w.receive(JSON.stringify(ack), socket);
      }, 5);
    },
  } as unknown as WebSocket;
  const w = new Worker({
    id: "slow-acks",
    name: "slow-acks",
    slots: 1,
    labels: {},
    runtimes: new Map(),
    workRoot: dir,
    outputMemoryBytes: 512 * 1024, // twice the largest piece the agent reads at once
  });
  const frame = (f: Record<string, unknown>) => w.receive(JSON.stringify(f), socket);
  try {
    w.receive(welcome("slow-acks", "s"), socket);
    const size = 8 * 1024 * 1024; // 16 times the memory for unacknowledged output
    frame({
      type: "assign",
      job_id: 1,
      attempt_id: "1.1",
      attempt: 1,
      spec: { shell: `yes 0123456789abcdef | head -c ${size}`, queue: "default", priority: 0 },
      timeout_ms: null,
      kill_grace_ms: 1000,
      max_output_bytes: 2 * size,
    });
    let spilled = false;
    await until(() => {
      spilled ||= [...Deno.readDirSync(dir)].some((e) => e.name.startsWith("jobdist-spool-"));
      return finished;
    });
    assert.equal(bytes, size, "every byte sent");
    assert.equal(spilled, false, "nothing went to the spool file");
    frame({ type: "ack", attempt_id: "1.1" });
    await w.whenIdle();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
