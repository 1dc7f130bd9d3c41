import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MIGRATIONS } from "../../src/server/migrations.ts";
import { openStore } from "../../src/server/store.ts";

Deno.test("the log_chunks migration keeps stored output and its key, in a rowid table", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/jobdist.db`;
  try {
    // A database from before the migration, with output stored.
    const before = MIGRATIONS.length - 1;
    const db = new DatabaseSync(path);
    for (const m of MIGRATIONS.slice(0, before)) db.exec(m);
    db.exec(`PRAGMA user_version = ${before}`);
    const insert = db.prepare(
      "INSERT INTO log_chunks (job_id, offset, attempt_id, seq, stream, data) VALUES (?, ?, ?, ?, ?, ?)",
    );
    insert.run(7, 0, "7.1", 0, "stdout", "héllo\n");
    insert.run(7, 7, "7.1", 1, "stderr", "oops\n");
    db.close();

    const store = openStore(path);
    try {
      assert.deepEqual(store.readLog(7).map((c) => [c.offset, c.stream, c.data]), [
        [0, "stdout", "héllo\n"],
        [7, "stderr", "oops\n"],
      ]);
      assert.equal(store.nextLogSeq(7, "7.1"), 2);
    } finally {
      store.close();
    }
    const after = new DatabaseSync(path);
    try {
      const sql =
        (after.prepare("SELECT sql FROM sqlite_master WHERE name = 'log_chunks'").get() as {
          sql: string;
        }).sql;
      assert.doesNotMatch(sql, /WITHOUT ROWID/);
      assert.throws(
        () => after.exec("INSERT INTO log_chunks VALUES (7, 0, '7.2', 0, 'stdout', 'again')"),
        /UNIQUE/,
        "(job_id, offset) is still the key",
      );
    } finally {
      after.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
