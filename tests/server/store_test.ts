import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { parseJobSpec } from "../../src/protocol/job.ts";
import type { JobSpecInput } from "../../src/protocol/job.ts";
import { MIGRATIONS } from "../../src/server/migrations.ts";
import { type NewJob, openStore, type Store } from "../../src/server/store.ts";

const utf8 = new TextEncoder();

function job(spec: JobSpecInput = { shell: "true" }, extra: Partial<NewJob> = {}): NewJob {
  return {
    spec: parseJobSpec(spec),
    state: "queued",
    run_at: null,
    created_at: 1_000,
    owner: null,
    ...extra,
  };
}

/** Runs `fn` with an in-memory store and closes it afterwards. */
async function withStore(fn: (store: Store) => void | Promise<void>) {
  const store = openStore(":memory:");
  try {
    await fn(store);
  } finally {
    store.close();
  }
}

function userVersion(path: string): number {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  } finally {
    db.close();
  }
}

Deno.test("openStore() runs every migration and records it in user_version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-store-" });
  try {
    const path = `${dir}/jobdist.db`;
    openStore(path).close();
    assert.equal(userVersion(path), MIGRATIONS.length);
    const db = new DatabaseSync(path);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[]).map((r) => r.name).sort();
    db.close();
    for (const t of ["agents", "attempts", "jobs", "log_chunks"]) assert.ok(tables.includes(t), t);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openStore() re-opens a file database with its data and without re-migrating", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-store-" });
  try {
    const path = `${dir}/jobdist.db`;
    const first = openStore(path);
    const id = first.write(() => first.insertJob(job({ shell: "echo kept", name: "kept" })));
    await first.durable();
    first.close();

    // Re-running migration 1 would fail here: its CREATE TABLEs find the tables already there.
    const second = openStore(path);
    try {
      assert.equal(second.getJob(id)?.name, "kept");
      assert.equal(JSON.parse(second.getJob(id)!.spec).shell, "echo kept");
      assert.equal(second.integrityCheck(), "ok");
    } finally {
      second.close();
    }
    assert.equal(userVersion(path), MIGRATIONS.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openStore() refuses a database from a newer jobdist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-store-" });
  try {
    const path = `${dir}/jobdist.db`;
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => openStore(path), /schema version \d+ is newer than this jobdist/);
    assert.equal(userVersion(path), MIGRATIONS.length + 1, "left untouched");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("store.write() groups a turn's writes into one commit", () =>
  withStore(async (store) => {
    const before = store.commits;
    for (let i = 0; i < 100; i++) store.write(() => store.insertJob(job()));
    assert.equal(store.commits, before, "nothing committed within the turn");
    await store.durable();
    assert.equal(store.commits, before + 1);
    assert.equal(store.listJobs({ limit: 1000 }).length, 100);
  }));

Deno.test("store.write() spaces commits under load: a turn's writes after a commit wait for the next", () =>
  withStore(async (store) => {
    const before = store.commits;
    const t0 = performance.now();
    const turns = 200;
    for (let i = 0; i < turns; i++) {
      store.write(() => store.insertJob(job()));
      await new Promise((r) => setImmediate(r)); // one turn each
    }
    await store.durable();
    const elapsed = performance.now() - t0;
    const commits = store.commits - before;
    // Committing every turn would make one commit per write; spaced ones are one per 2 ms.
    assert.ok(commits <= Math.ceil(elapsed / 2) + 1, `${commits} commits in ${elapsed} ms`);
    assert.ok(commits < turns, `${commits} commits for ${turns} turns`);
    assert.equal(store.listJobs({ limit: 1000 }).length, turns, "every write committed");
  }));

Deno.test("store.durable() resolves only after the commit", () =>
  withStore(async (store) => {
    store.write(() => store.insertJob(job()));
    const commitsBefore = store.commits;
    let resolved = false;
    const p = store.durable().then(() => {
      resolved = true;
      return store.commits;
    });
    await Promise.resolve();
    assert.equal(resolved, false);
    assert.equal(await p, commitsBefore + 1);
  }));

Deno.test("store.durable() resolves at once when nothing is pending", () =>
  withStore(async (store) => {
    const before = store.commits;
    await store.durable();
    assert.equal(store.commits, before);
  }));

Deno.test("store.flush() commits at once and later writes open a new group", () =>
  withStore(async (store) => {
    const before = store.commits;
    store.write(() => store.insertJob(job()));
    const waiting = store.durable();
    store.flush();
    assert.equal(store.commits, before + 1);
    await waiting;
    store.write(() => store.insertJob(job()));
    await store.durable();
    assert.equal(store.commits, before + 2);
  }));

Deno.test("store.write() rolls back only its own statements when its callback throws", () =>
  withStore(async (store) => {
    const kept = store.write(() => store.insertJob(job({ shell: "kept" })));
    assert.throws(
      () =>
        store.write(() => {
          store.insertJob(job({ shell: "dropped-1" }));
          store.insertJob(job({ shell: "dropped-2" }));
          throw new Error("boom");
        }),
      /boom/,
    );
    const after = store.write(() => store.insertJob(job({ shell: "after" })));
    await store.durable();
    const shells = store.listJobs({ limit: 10 }).map((r) => JSON.parse(r.spec).shell);
    assert.deepEqual(shells, ["after", "kept"]);
    assert.ok(store.getJob(kept));
    assert.ok(store.getJob(after));
  }));

Deno.test("store.write() returns its callback's value", () =>
  withStore((store) => {
    assert.equal(store.write(() => 42), 42);
  }));

Deno.test("store.write() refuses to write after close()", () => {
  const store = openStore(":memory:");
  store.close();
  store.close(); // twice is fine
  assert.throws(() => store.write(() => 1), /closed/);
});

Deno.test("store.insertJob() stores the spec and its columns", () =>
  withStore((store) => {
    const id = store.write(() =>
      store.insertJob(job(
        { shell: "x", name: "n", queue: "q1", priority: 7, idempotency_key: "key-1" },
        { state: "scheduled", run_at: 5_000, owner: "admin" },
      ))
    );
    const row = store.getJob(id)!;
    assert.equal(row.state, "scheduled");
    assert.equal(row.name, "n");
    assert.equal(row.queue, "q1");
    assert.equal(row.priority, 7);
    assert.equal(row.run_at, 5_000);
    assert.equal(row.owner, "admin");
    assert.equal(row.created_at, 1_000);
    assert.equal(row.attempt_count, 0);
    assert.equal(row.output_bytes, 0);
    assert.equal(row.current_attempt, null);
    assert.equal(store.jobByIdempotencyKey("key-1")?.id, id);
    assert.equal(store.jobByIdempotencyKey("key-2"), undefined);
    assert.equal(store.getJob(id + 1000), undefined);
  }));

Deno.test("store.insertJob() refuses a second job with the same idempotency key", () =>
  withStore((store) => {
    store.write(() => store.insertJob(job({ shell: "x", idempotency_key: "same" })));
    assert.throws(() =>
      store.write(() => store.insertJob(job({ shell: "y", idempotency_key: "same" })))
    );
    assert.equal(store.listJobs({ limit: 10 }).length, 1);
  }));

Deno.test("store.assign() leases a job and opens its attempt", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    store.write(() => store.assign(id, `${id}.1`, 1, "agent-a", 2_000));
    const row = store.getJob(id)!;
    assert.equal(row.state, "assigned");
    assert.equal(row.current_attempt, `${id}.1`);
    assert.equal(row.agent_id, "agent-a");
    assert.equal(row.attempt_count, 1);
    const [a] = store.attemptsOf(id);
    assert.equal(a.id, `${id}.1`);
    assert.equal(a.state, "assigned");
    assert.equal(a.assigned_at, 2_000);
    assert.equal(a.started_at, null);
    assert.deepEqual(store.activeAttempts().map((x) => x.id), [`${id}.1`]);
  }));

Deno.test("store.markStarted() moves the job and its current attempt to running", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    store.write(() => store.assign(id, "a1", 1, "agent-a", 2_000));
    store.write(() => store.markStarted(id, "a1", 4242, 3_000));
    const row = store.getJob(id)!;
    assert.equal(row.state, "running");
    assert.equal(row.started_at, 3_000);
    const a = store.getAttempt("a1")!;
    assert.equal(a.state, "running");
    assert.equal(a.pid, 4242);
    assert.equal(a.started_at, 3_000);
  }));

Deno.test("store.markStarted() of a stale attempt leaves the job alone", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    store.write(() => store.assign(id, "a1", 1, "agent-a", 2_000));
    store.write(() => store.setJobState(id, "queued"));
    store.write(() => store.assign(id, "a2", 2, "agent-b", 2_500));
    store.write(() => store.markStarted(id, "a1", 1, 3_000));
    const row = store.getJob(id)!;
    assert.equal(row.state, "assigned");
    assert.equal(row.current_attempt, "a2");
    assert.equal(row.started_at, null);
  }));

Deno.test("store.markStarted() keeps the first started_at of the job across attempts", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    store.write(() => store.assign(id, "a1", 1, "agent-a", 1_000));
    store.write(() => store.markStarted(id, "a1", 1, 1_500));
    store.write(() => store.setJobState(id, "queued"));
    store.write(() => store.assign(id, "a2", 2, "agent-a", 2_000));
    store.write(() => store.markStarted(id, "a2", 2, 2_500));
    assert.equal(store.getJob(id)!.started_at, 1_500);
    assert.equal(store.getAttempt("a2")!.started_at, 2_500);
  }));

Deno.test("store.finishAttempt() records the outcome and ends the attempt", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    store.write(() => store.assign(id, "a1", 1, "agent-a", 1_000));
    store.write(() => store.markStarted(id, "a1", 1, 1_100));
    store.write(() =>
      store.finishAttempt("a1", "failed", { exit_code: 3, signal: null, error: null }, 1_900)
    );
    const a = store.getAttempt("a1")!;
    assert.equal(a.state, "failed");
    assert.equal(a.exit_code, 3);
    assert.equal(a.finished_at, 1_900);
    assert.deepEqual(store.activeAttempts(), []);
  }));

Deno.test("store.setJobState() records the outcome and clears the lease when requeued", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    store.write(() => store.assign(id, "a1", 1, "agent-a", 1_000));
    store.write(() => store.setJobState(id, "queued", { reason: "agent lost" }));
    let row = store.getJob(id)!;
    assert.equal(row.state, "queued");
    assert.equal(row.current_attempt, null);
    assert.equal(row.reason, "agent lost");
    store.write(() => store.assign(id, "a2", 2, "agent-a", 2_000));
    store.write(() =>
      store.setJobState(id, "succeeded", { exit_code: 0, signal: null, finished_at: 3_000 })
    );
    row = store.getJob(id)!;
    assert.equal(row.state, "succeeded");
    assert.equal(row.exit_code, 0);
    assert.equal(row.finished_at, 3_000);
    assert.equal(row.reason, null);
    assert.equal(row.current_attempt, "a2", "a finished job keeps its last attempt");
  }));

Deno.test("store.appendLog() stores chunks and readLog() reads them from an offset", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    const other = store.write(() => store.insertJob(job()));
    store.write(() => {
      store.appendLog(
        id,
        { offset: 0, attempt_id: "a1", seq: 0, stream: "stdout" },
        utf8.encode("hello"),
      );
      store.appendLog(
        id,
        { offset: 5, attempt_id: "a1", seq: 1, stream: "stderr" },
        utf8.encode("wörld"),
      );
      store.appendLog(
        id,
        { offset: 11, attempt_id: "a1", seq: 2, stream: "stdout" },
        utf8.encode("!"),
      );
      store.appendLog(
        other,
        { offset: 0, attempt_id: "b1", seq: 0, stream: "stdout" },
        utf8.encode("x"),
      );
    });
    assert.equal(store.getJob(id)!.output_bytes, 12);
    assert.equal(store.getJob(other)!.output_bytes, 1);
    assert.deepEqual(store.readLog(id).map((c) => c.data), ["hello", "wörld", "!"]);
    assert.deepEqual(store.readLog(id, 0).map((c) => c.offset), [0, 5, 11]);
    // From inside a chunk: that whole chunk and the rest.
    assert.deepEqual(store.readLog(id, 7).map((c) => c.offset), [5, 11]);
    assert.deepEqual(store.readLog(id, 5).map((c) => c.offset), [5, 11]);
    assert.deepEqual(store.readLog(id, 11).map((c) => c.offset), [11]);
    const [c] = store.readLog(id, 5);
    assert.deepEqual({ ...c }, {
      offset: 5,
      attempt_id: "a1",
      seq: 1,
      stream: "stderr",
      data: "wörld",
    });
    assert.deepEqual(store.readLog(id + 100), []);
  }));

Deno.test("store.nextLogSeq() counts the chunks stored per attempt", () =>
  withStore((store) => {
    const id = store.write(() => store.insertJob(job()));
    assert.equal(store.nextLogSeq(id, "a1"), 0);
    store.write(() => {
      store.appendLog(
        id,
        { offset: 0, attempt_id: "a1", seq: 0, stream: "stdout" },
        utf8.encode("a"),
      );
      store.appendLog(
        id,
        { offset: 1, attempt_id: "a1", seq: 1, stream: "stdout" },
        utf8.encode("b"),
      );
      store.appendLog(
        id,
        { offset: 2, attempt_id: "a2", seq: 0, stream: "stdout" },
        utf8.encode("c"),
      );
    });
    assert.equal(store.nextLogSeq(id, "a1"), 2);
    assert.equal(store.nextLogSeq(id, "a2"), 1);
    assert.equal(store.nextLogSeq(id, "a3"), 0);
  }));

Deno.test("store.listJobs() lists newest first and filters by state and queue", () =>
  withStore((store) => {
    const ids = store.write(() => [
      store.insertJob(job({ shell: "1", queue: "a" })),
      store.insertJob(job({ shell: "2", queue: "b" })),
      store.insertJob(job({ shell: "3", queue: "a" }, { state: "scheduled", run_at: 9_000 })),
      store.insertJob(job({ shell: "4", queue: "b" })),
    ]);
    store.write(() => store.setJobState(ids[3], "cancelled", { finished_at: 2_000 }));
    const list = (f: Parameters<Store["listJobs"]>[0]) => store.listJobs(f).map((r) => r.id);
    assert.deepEqual(list({ limit: 10 }), [...ids].reverse());
    assert.deepEqual(list({ limit: 10, queue: "a" }), [ids[2], ids[0]]);
    assert.deepEqual(list({ limit: 10, state: ["queued"] }), [ids[1], ids[0]]);
    assert.deepEqual(list({ limit: 10, state: ["scheduled", "cancelled"] }), [ids[3], ids[2]]);
    assert.deepEqual(list({ limit: 10, state: ["queued"], queue: "b" }), [ids[1]]);
    assert.deepEqual(list({ limit: 10, state: [] }), [...ids].reverse(), "empty means all");
    assert.deepEqual(list({ limit: 10, queue: "none" }), []);
    assert.deepEqual(store.countByState(), { queued: 2, scheduled: 1, cancelled: 1 });
    assert.deepEqual(store.jobsInState("queued").map((r) => r.id), [ids[0], ids[1]]);
  }));

Deno.test("store.listJobs() pages with limit and beforeId as a cursor", () =>
  withStore((store) => {
    const ids = store.write(() => Array.from({ length: 7 }, () => store.insertJob(job())));
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = store.listJobs({ limit: 3, beforeId: before });
      seen.push(...page.map((r) => r.id));
      if (page.length < 3) break;
      before = page[page.length - 1].id;
    }
    assert.deepEqual(seen, [...ids].reverse());
    assert.deepEqual(store.listJobs({ limit: 10, beforeId: ids[0] }), []);
  }));

Deno.test("store.upsertAgent() inserts and refreshes agents", () =>
  withStore((store) => {
    const base = {
      id: "a1",
      name: "build-1",
      hostname: "h",
      version: "0.1.0",
      labels: '{"zone":"eu"}',
      runtimes: "[]",
      slots: 2,
      status: "connected",
      connected_at: 1_000,
      last_seen: 1_000,
    };
    store.write(() => store.upsertAgent(base));
    store.write(() => store.upsertAgent({ ...base, slots: 8, last_seen: 2_000 }));
    store.write(() => store.setAgentDraining("a1", true));
    store.write(() => store.setAgentStatus("a1", "lost", null));
    const [a] = store.listAgents();
    assert.equal(store.listAgents().length, 1);
    assert.equal(a.slots, 8);
    assert.equal(a.status, "lost");
    assert.equal(a.last_seen, 2_000, "a null last_seen keeps the old one");
    assert.equal(a.draining, 1);
  }));

Deno.test("store fsyncs the WAL only for commits someone waits on, and before answering", async () => {
  const dir = await Deno.makeTempDir();
  const store = openStore(`${dir}/s.db`);
  try {
    const spec = parseJobSpec({ shell: "true" });
    const job = () => ({
      spec,
      state: "queued" as const,
      run_at: null,
      created_at: 0,
      owner: null,
    });
    store.write(() => store.insertJob(job()));
    store.flush();
    assert.equal(store.syncs, 0, "a commit nobody waits on is not fsynced");
    store.write(() => store.insertJob(job()));
    const acked = store.durable();
    store.flush();
    await acked;
    assert.equal(store.syncs, 1, "a commit with a waiter is fsynced before it resolves");
    store.write(() => store.insertJob(job()));
    store.flush();
    await store.durable();
    assert.equal(store.syncs, 2, "durable() after an unsynced commit fsyncs first");
    await store.durable();
    assert.equal(store.syncs, 2, "nothing new: no fsync");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
