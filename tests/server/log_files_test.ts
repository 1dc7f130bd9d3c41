import assert from "node:assert/strict";
import { parseJobSpec } from "../../src/protocol/job.ts";
import { outputText, readLog, storedBytes } from "../../src/server/logs.ts";
import { pruneFinished } from "../../src/server/retention.ts";
import { type LogPiece, openStore, type Store } from "../../src/server/store.ts";

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs `fn` with a scratch directory holding `jobdist.db`. */
async function withDir(fn: (db: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(`${dir}/jobdist.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function newJob(store: Store): number {
  return store.write(() =>
    store.insertJob({
      spec: parseJobSpec({ shell: "true" }),
      state: "queued",
      run_at: null,
      created_at: 1_000,
      owner: null,
    })
  );
}

/** Appends `data` at the job's current end, as the scheduler does. */
function append(store: Store, jobId: number, piece: Omit<LogPiece, "offset">, data: string) {
  const offset = store.getJob(jobId)!.output_bytes;
  store.write(() => store.appendLog(jobId, { offset, ...piece }, utf8.encode(data)));
}

const out = (attempt_id: string, seq: number): Omit<LogPiece, "offset"> => ({
  attempt_id,
  seq,
  stream: "stdout",
});
const err = (attempt_id: string, seq: number): Omit<LogPiece, "offset"> => ({
  attempt_id,
  seq,
  stream: "stderr",
});

Deno.test("output of several attempts and streams lands in the job's file in order", () =>
  withDir(async (db) => {
    let store = openStore(db);
    const id = newJob(store);
    const other = newJob(store);
    append(store, id, out("1.1", 0), "héllo\n");
    append(store, other, out("2.1", 0), "other job\n");
    append(store, id, err("1.1", 1), "oops\n");
    append(store, id, out("1.2", 0), "second attempt\n");
    await store.durable();
    const whole = "héllo\noops\nsecond attempt\n";
    assert.equal(await Deno.readTextFile(`${db}.logs/${id}.log`), whole);
    assert.equal(await Deno.readTextFile(`${db}.logs/${other}.log`), "other job\n");
    store.close();

    store = openStore(db);
    try {
      assert.equal(store.getJob(id)!.output_bytes, utf8.encode(whole).length);
      assert.deepEqual(
        store.readLog(id).map((c) => [c.offset, c.attempt_id, c.seq, c.stream, c.data]),
        [
          [0, "1.1", 0, "stdout", "héllo\n"],
          [7, "1.1", 1, "stderr", "oops\n"],
          [12, "1.2", 0, "stdout", "second attempt\n"],
        ],
      );
      assert.equal(text(readLog(store, id, { offset: 0 })), whole);
      assert.equal(text(readLog(store, id, { offset: 9 })), "ps\nsecond attempt\n");
      assert.equal(
        text(readLog(store, id, { offset: 0, stream: "stdout" })),
        "héllo\nsecond attempt\n",
      );
      assert.equal(text(readLog(store, id, { offset: 0, stream: "stderr" })), "oops\n");
      assert.equal(store.nextLogSeq(id, "1.1"), 2);
      assert.equal(store.nextLogSeq(id, "1.2"), 1);
      // Appending again after a restart goes on at the end.
      append(store, id, out("1.2", 1), "more\n");
      assert.equal(text(readLog(store, id, { offset: 0 })), whole + "more\n");
    } finally {
      store.close();
    }
    assert.equal(await Deno.readTextFile(`${db}.logs/${id}.log`), whole + "more\n");
  }));

Deno.test("bytes past the indexed end (a crash before the commit) are never output and are cut", () =>
  withDir(async (db) => {
    let store = openStore(db);
    const id = newJob(store);
    append(store, id, out("1.1", 0), "one\n");
    // A write whose transaction is undone: its bytes reached the file, its row did not.
    assert.throws(() =>
      store.write(() => {
        store.appendLog(id, { offset: 4, ...out("1.1", 1) }, utf8.encode("undone\n"));
        throw new Error("rolled back");
      }), /rolled back/);
    assert.deepEqual(store.readLog(id).map((c) => c.data), ["one\n"]);
    assert.equal(text(readLog(store, id, { offset: 0 })), "one\n");
    append(store, id, out("1.1", 1), "2\n");
    await store.durable();
    assert.equal(await Deno.readTextFile(`${db}.logs/${id}.log`), "one\n2\n", "cut at once");
    store.close();
    // The process died after writing more of the file than it committed.
    await Deno.writeTextFile(`${db}.logs/${id}.log`, "GARBAGE PAST THE INDEX", { append: true });

    store = openStore(db);
    try {
      assert.equal(store.getJob(id)!.output_bytes, 6);
      assert.deepEqual(store.readLog(id).map((c) => c.data), ["one\n", "2\n"]);
      assert.equal(text(readLog(store, id, { offset: 0 })), "one\n2\n");
      assert.equal(text(readLog(store, id, { offset: 2 })), "e\n2\n");
      assert.equal(store.nextLogSeq(id, "1.1"), 2, "the agent resends from seq 2");
      append(store, id, out("1.1", 2), "two\n");
      assert.equal(text(readLog(store, id, { offset: 0 })), "one\n2\ntwo\n");
      await store.durable();
    } finally {
      store.close();
    }
    assert.equal(await Deno.readTextFile(`${db}.logs/${id}.log`), "one\n2\ntwo\n");
  }));

Deno.test("a running job's index is cut back to its file when the file lost its tail", () =>
  withDir(async (db) => {
    let store = openStore(db);
    const id = newJob(store);
    store.assign(id, `${id}.1`, 1, "agent-1", 2_000);
    append(store, id, out(`${id}.1`, 0), "kept\n");
    append(store, id, out(`${id}.1`, 1), "lost with the power\n");
    append(store, id, out(`${id}.1`, 2), "lost too\n");
    store.close();
    // The rows reached the disk, the file's last bytes did not (never acknowledged).
    const file = await Deno.open(`${db}.logs/${id}.log`, { write: true });
    await file.truncate(9);
    file.close();

    store = openStore(db);
    try {
      assert.deepEqual(store.readLog(id).map((c) => c.data), ["kept\n"]);
      assert.equal(store.getJob(id)!.output_bytes, 5);
      assert.equal(store.nextLogSeq(id, `${id}.1`), 1, "the agent resends from seq 1");
      append(store, id, out(`${id}.1`, 1), "lost with the power\n");
      assert.equal(text(readLog(store, id, { offset: 0 })), "kept\nlost with the power\n");
    } finally {
      store.close();
    }
  }));

Deno.test("retention deletes a pruned job's output file, and only its", () =>
  withDir(async (db) => {
    const store = openStore(db);
    try {
      const old = newJob(store);
      const live = newJob(store);
      append(store, old, out("a", 0), "old output\n");
      append(store, live, out("b", 0), "live output\n");
      store.write(() => store.setJobState(old, "succeeded", { finished_at: 1_000 }));
      await store.durable();
      const result = await pruneFinished(store, undefined, 10_000, 5_000);
      assert.equal(result.jobs, 1);
      await assert.rejects(Deno.stat(`${db}.logs/${old}.log`), Deno.errors.NotFound);
      assert.deepEqual(store.readLog(old), []);
      assert.equal(await Deno.readTextFile(`${db}.logs/${live}.log`), "live output\n");
      // A new job that gets the freed id starts with an empty output.
      const reused = newJob(store);
      assert.deepEqual(store.readLog(reused), []);
    } finally {
      store.close();
    }
  }));

Deno.test("an in-memory store keeps output in a temporary directory it removes on close", async () => {
  const store = openStore(":memory:");
  assert.equal(store.logDir, null, "no directory before the first output");
  const id = newJob(store);
  append(store, id, out("a", 0), "in a temp dir\n");
  const dir = store.logDir!;
  assert.equal(await Deno.readTextFile(`${dir}/${id}.log`), "in a temp dir\n");
  assert.deepEqual(store.readLog(id).map((c) => c.data), ["in a temp dir\n"]);
  // A byte order mark is output like any other, read back as text too.
  append(store, id, out("a", 1), "\uFEFFbom\n");
  assert.equal(store.readLog(id).at(-1)!.data, "\uFEFFbom\n");
  store.close();
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
});

Deno.test("store.backup() writes one file that carries the output; a restore shows it", () =>
  withDir(async (db) => {
    const dir = db.slice(0, db.lastIndexOf("/"));
    const store = openStore(db);
    let id: number;
    try {
      id = newJob(store);
      append(store, id, out("1.1", 0), "before the backup\n");
      append(store, id, err("1.1", 1), "ünïcode\n");
      store.backup(`${dir}/backup.db`);
      append(store, id, out("1.1", 2), "after the backup\n");
    } finally {
      store.close();
    }
    const expected = "before the backup\nünïcode\n";
    // Into a fresh place: the backup file alone.
    await Deno.mkdir(`${dir}/fresh`);
    await Deno.copyFile(`${dir}/backup.db`, `${dir}/fresh/jobdist.db`);
    // Over the old database, whose output directory holds more than the backup.
    await Deno.copyFile(`${dir}/backup.db`, db);
    for (const f of ["-wal", "-shm"]) await Deno.remove(`${db}${f}`).catch(() => {});
    for (const path of [`${dir}/fresh/jobdist.db`, db]) {
      const restored = openStore(path);
      try {
        assert.equal(text(readLog(restored, id, { offset: 0 })), expected, path);
        assert.deepEqual(restored.readLog(id).map((c) => [c.seq, c.stream]), [
          [0, "stdout"],
          [1, "stderr"],
        ]);
        assert.equal(restored.nextLogSeq(id, "1.1"), 2);
      } finally {
        restored.close();
      }
      assert.equal(await Deno.readTextFile(`${path}.logs/${id}.log`), expected, path);
    }
  }));

Deno.test("store.durable() fsyncs the output files written since the last fsync, with the WAL", () =>
  withDir(async (db) => {
    const store = openStore(db);
    try {
      const a = newJob(store);
      const b = newJob(store);
      await store.durable();
      const base = store.logSyncs;
      append(store, a, out("a", 0), "x\n");
      append(store, a, out("a", 1), "y\n");
      append(store, b, out("b", 0), "z\n");
      assert.equal(store.logSyncs, base, "nothing is fsynced on the write path");
      await store.durable();
      assert.equal(store.logSyncs, base + 2, "one fsync per file written, however many pieces");
      await store.durable();
      assert.equal(store.logSyncs, base + 2, "a clean file is not fsynced again");
    } finally {
      store.close();
    }
  }));

Deno.test("storedBytes() keeps UTF-8 as it came (a BOM too) and turns other bytes into U+FFFD", () => {
  const valid = utf8.encode("\uFEFFhéllo\n");
  const kept = storedBytes(valid);
  assert.equal(kept, valid, "written as received, not re-encoded");
  assert.equal(outputText(kept), "\uFEFFhéllo\n");
  const bad = storedBytes(new Uint8Array([0x61, 0xff, 0x62, 0xc3]));
  assert.deepEqual(bad, utf8.encode("a\uFFFDb\uFFFD"));
  assert.equal(outputText(bad), "a\uFFFDb\uFFFD");
});
