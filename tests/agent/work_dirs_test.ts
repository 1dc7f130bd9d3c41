import assert from "node:assert/strict";
import { WorkDirs } from "../../src/agent/work_dirs.ts";

Deno.test("WorkDirs hands out fresh empty directories, each once, and removes its stock", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dirs = new WorkDirs(root, 2);
    const first = dirs.take(); // none ready yet: made at once
    await new Promise((r) => setTimeout(r, 50)); // the stock is made in the background
    const stocked = [...Deno.readDirSync(root)].map((e) => `${root}/${e.name}`);
    assert.equal(stocked.length, 3, "the one taken and two ready");
    const taken = [first, dirs.take(), dirs.take(), dirs.take()];
    assert.equal(new Set(taken).size, 4, "never the same directory twice");
    for (const dir of taken) assert.deepEqual([...Deno.readDirSync(dir)], []);
    await new Promise((r) => setTimeout(r, 50));
    dirs.close();
    const left = [...Deno.readDirSync(root)].map((e) => `${root}/${e.name}`).sort();
    assert.deepEqual(left, [...taken].sort(), "only the directories taken are left");
    assert.throws(() => new WorkDirs(`${root}/missing`, 1).take(), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("WorkDirs takes back an empty directory as made, and removes one left with files", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dirs = new WorkDirs(root, 1);
    const kept = dirs.take();
    const used = dirs.take();
    Deno.chmodSync(kept, 0o777); // what a job may do to its directory
    await Deno.mkdir(`${used}/sub/deeper`, { recursive: true });
    await Deno.writeTextFile(`${used}/sub/deeper/file`, "left behind");
    await dirs.release(used);
    assert.throws(() => Deno.statSync(used), Deno.errors.NotFound, "removed, with its contents");
    await dirs.release(kept);
    assert.equal(dirs.take(), kept, "the empty one is handed out again");
    assert.equal(Deno.statSync(kept).mode! & 0o777, 0o700, "with the mode it was made with");
    assert.deepEqual([...Deno.readDirSync(kept)], []);
    dirs.close();
    await dirs.release(kept);
    assert.throws(() => Deno.statSync(kept), Deno.errors.NotFound, "a closed stock keeps none");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
