import assert from "node:assert/strict";
import { JobProcess, MARKER_ENV } from "../../src/agent/process.ts";
import { type PosixSpawner, posixSpawner } from "../../src/agent/posix_spawn.ts";
import { findProgram } from "../../src/agent/runtimes.ts";

const PATH = Deno.env.get("PATH") ?? "/usr/bin:/bin";
const sh = findProgram("sh", PATH)!;

/**
 * Both ways a job's process starts: `posix_spawn` (the default on Linux with glibc) and the
 * `setsid(1)` fallback, which `--run-as` takes (here as the agent's own user, which needs no
 * privilege).
 */
const modes = [
  { name: "posix_spawn", ids: { native: posixSpawner() } },
  {
    name: "setsid(1) fallback",
    ids: { uid: Deno.uid()!, gid: Deno.gid()!, native: posixSpawner() },
  },
];

async function run(
  script: string,
  ids: { uid?: number; gid?: number; native?: PosixSpawner | null },
  cwd = "/",
) {
  const p = await JobProcess.spawn({
    argv: [sh, "-c", script],
    cwd,
    env: { PATH, ONLY: "this" },
    marker: "process-test",
    setsid: "/usr/bin/setsid",
    ...ids,
  });
  const [stdout, stderr, status] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.status,
  ]);
  return { pid: p.pid, stdout, stderr, status, process: p };
}

Deno.test("posix_spawn is available here (Linux, glibc, --allow-ffi)", () => {
  assert.ok(posixSpawner(), "the tests below would only test the fallback");
});

for (const { name, ids } of modes) {
  Deno.test(`JobProcess (${name}) makes the job a session and group leader`, async () => {
    const r = await run("cut -d' ' -f5,6 /proc/$$/stat", ids);
    assert.equal(r.stdout.trim(), `${r.pid} ${r.pid}`, "process group and session are the job's");
  });

  Deno.test(`JobProcess (${name}) gives exactly the env, the cwd and an empty stdin`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const r = await run("env; pwd; cat; echo err >&2", ids, dir);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.pop(), await Deno.realPath(dir));
      // sh adds PWD (and may add SHLVL and _); nothing of the agent's own environment leaks in.
      const vars = lines.filter((l) => !/^(PWD|SHLVL|_)=/.test(l)).sort();
      assert.deepEqual(vars, [`${MARKER_ENV}=process-test`, "ONLY=this", `PATH=${PATH}`]);
      assert.equal(r.stderr, "err\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`JobProcess (${name}) passes megabytes of output on whole and in order`, async () => {
    const r = await run("seq 1 400000; seq 1 3 >&2", ids);
    const expected = Array.from({ length: 400000 }, (_, i) => `${i + 1}\n`).join("");
    assert.equal(r.stdout.length, expected.length);
    assert.ok(r.stdout === expected, "stdout differs");
    assert.equal(r.stderr, "1\n2\n3\n");
  });

  Deno.test(`JobProcess (${name}) passes output written before, during and after the leader's exit`, async () => {
    // posix_spawn reads the pipes directly for the first milliseconds, then on Deno's thread
    // pool; the grandchild writes after the leader has exited, when it holds the pipes alone.
    const r = await run(
      "echo early; sleep 0.05; echo middle; (sleep 0.1; echo late) & exit 3",
      ids,
    );
    assert.equal(r.stdout, "early\nmiddle\nlate\n");
    assert.deepEqual(r.status, { code: 3, signal: null });
  });

  Deno.test(`JobProcess (${name}) reports exit codes and the killing signal`, async () => {
    assert.deepEqual((await run("exit 7", ids)).status, { code: 7, signal: null });
    assert.deepEqual((await run("kill -TERM $$", ids)).status, { code: null, signal: "SIGTERM" });
  });

  Deno.test(`JobProcess (${name}) leaves SIGPIPE at its default, as a shell would`, async () => {
    // With SIGPIPE ignored (as in the agent itself), `yes` would complain of a broken pipe.
    const r = await run("yes | head -n 1", ids);
    assert.equal(r.stdout, "y\n");
    assert.equal(r.stderr, "");
  });

  Deno.test(`JobProcess (${name}) signals the whole group`, async () => {
    const p = await JobProcess.spawn({
      argv: [sh, "-c", "sleep 30 & echo $!; wait"],
      cwd: "/",
      env: { PATH },
      marker: "process-test-group",
      setsid: "/usr/bin/setsid",
      ...ids,
    });
    const reader = p.stdout.getReader();
    const child = Number(new TextDecoder().decode((await reader.read()).value).trim());
    assert.ok(p.signal("SIGKILL"));
    assert.equal((await p.status).signal, "SIGKILL");
    // The grandchild got the same signal (it is reaped by init once it is gone).
    for (let i = 0; i < 100 && alive(child); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(child), false, "the background sleep survived");
    reader.releaseLock();
    await p.stderr.cancel();
  });

  Deno.test(`JobProcess (${name}) throws NotFound for a missing program or cwd`, async () => {
    const spawn = (argv: string[], cwd: string) =>
      JobProcess.spawn({
        argv,
        cwd,
        env: { PATH },
        marker: "m",
        setsid: "/usr/bin/setsid",
        ...ids,
      });
    if (name === "posix_spawn") {
      await assert.rejects(() => spawn(["/no/such/program"], "/"), Deno.errors.NotFound);
    }
    await assert.rejects(() => spawn([sh, "-c", "true"], "/no/such/dir"), Deno.errors.NotFound);
  });
}

Deno.test("JobProcess starts many processes at once, each with its own pipes and status", async () => {
  // While others run, posix_spawn is called on worker threads: the starts overlap.
  const runs = await Promise.all(
    Array.from(
      { length: 24 },
      (_, i) => run(`echo out${i}; echo err${i} >&2; exit ${i}`, { native: posixSpawner() }),
    ),
  );
  runs.forEach((r, i) => {
    assert.equal(r.stdout, `out${i}\n`);
    assert.equal(r.stderr, `err${i}\n`);
    assert.deepEqual(r.status, { code: i, signal: null });
  });
  assert.equal(new Set(runs.map((r) => r.pid)).size, 24);
});

function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

Deno.test("posix_spawn on worker threads keeps what the call reads alive while the heap is collected", async () => {
  const script = new URL("./spawn_under_gc.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text), { wrong: 0 });
});
