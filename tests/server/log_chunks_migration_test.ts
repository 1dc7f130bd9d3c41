import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "../../src/server/migrations.ts";
import { openStore } from "../../src/server/store.ts";

/** Makes a database at schema version `version` (the first `version` migrations). */
function databaseAt(path: string, version: number): DatabaseSync {
  const db = new DatabaseSync(path);
  for (const m of MIGRATIONS.slice(0, version)) db.exec(m);
  db.exec(`PRAGMA user_version = ${version}`);
  return db;
}

/** The migration that made `log_chunks` a rowid table. */
const ROWID_MIGRATION = 9;
/** The migration that moved output into files (`log_index`). */
const FILES_MIGRATION = 10;

Deno.test("migration 9 keeps stored output and its key, in a rowid table", async () => {
  assert.match(MIGRATIONS[ROWID_MIGRATION - 1], /CREATE TABLE log_chunks_v2/);
  const dir = await Deno.makeTempDir();
  try {
    const db = databaseAt(`${dir}/jobdist.db`, ROWID_MIGRATION - 1);
    const insert = db.prepare(
      "INSERT INTO log_chunks (job_id, offset, attempt_id, seq, stream, data) VALUES (?, ?, ?, ?, ?, ?)",
    );
    insert.run(7, 0, "7.1", 0, "stdout", "héllo\n");
    insert.run(7, 7, "7.1", 1, "stderr", "oops\n");
    db.exec(MIGRATIONS[ROWID_MIGRATION - 1]);
    try {
      assert.deepEqual(
        db.prepare("SELECT offset, stream, data FROM log_chunks ORDER BY offset").all().map((
          r,
        ) => [r.offset, r.stream, r.data]),
        [[0, "stdout", "héllo\n"], [7, "stderr", "oops\n"]],
      );
      const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'log_chunks'").get() as {
        sql: string;
      }).sql;
      assert.doesNotMatch(sql, /WITHOUT ROWID/);
      assert.throws(
        () => db.exec("INSERT INTO log_chunks VALUES (7, 0, '7.2', 0, 'stdout', 'again')"),
        /UNIQUE/,
        "(job_id, offset) is still the key",
      );
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an upgraded database shows its old output, moved into a file per job", async () => {
  assert.match(MIGRATIONS[FILES_MIGRATION - 1], /CREATE TABLE log_index/);
  const dir = await Deno.makeTempDir();
  const path = `${dir}/jobdist.db`;
  try {
    // A database from before output files: output of two jobs in rows, two attempts of job 7.
    const db = databaseAt(path, FILES_MIGRATION - 1);
    const job = db.prepare(
      `INSERT INTO jobs (id, state, queue, priority, spec, created_at, output_bytes)
        VALUES (?, 'succeeded', 'default', 0, '{"shell":"x"}', 0, ?)`,
    );
    job.run(7, 18);
    job.run(8, 3);
    const insert = db.prepare(
      "INSERT INTO log_chunks (job_id, offset, attempt_id, seq, stream, data) VALUES (?, ?, ?, ?, ?, ?)",
    );
    insert.run(7, 0, "7.1", 0, "stdout", "héllo\n");
    insert.run(7, 7, "7.1", 1, "stderr", "oops\n");
    insert.run(7, 12, "7.2", 0, "stdout", "again\n");
    insert.run(8, 0, "8.1", 0, "stdout", "hi\n");
    db.close();

    for (const round of ["first open", "second open"]) {
      const store = openStore(path);
      try {
        assert.deepEqual(
          store.readLog(7).map((c) => [c.offset, c.attempt_id, c.seq, c.stream, c.data]),
          [
            [0, "7.1", 0, "stdout", "héllo\n"],
            [7, "7.1", 1, "stderr", "oops\n"],
            [12, "7.2", 0, "stdout", "again\n"],
          ],
          round,
        );
        assert.deepEqual(store.readLog(7, 9).map((c) => c.offset), [7, 12], round);
        assert.deepEqual(store.readLog(8).map((c) => c.data), ["hi\n"], round);
        assert.equal(store.nextLogSeq(7, "7.1"), 2, round);
        assert.equal(store.nextLogSeq(7, "7.2"), 1, round);
        const rows = store.db.prepare("SELECT COUNT(*) AS n FROM log_chunks").get() as {
          n: number;
        };
        assert.equal(rows.n, 0, "the rows left the database");
      } finally {
        store.close();
      }
      assert.equal(
        await Deno.readTextFile(`${path}.logs/7.log`),
        "héllo\noops\nagain\n",
        round,
      );
      assert.equal(await Deno.readTextFile(`${path}.logs/8.log`), "hi\n", round);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
