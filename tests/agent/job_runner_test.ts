import assert from "node:assert/strict";
import { JobRunner, LineCap, utf8Boundary } from "../../src/agent/job_runner.ts";
import { detectRuntimes } from "../../src/agent/runtimes.ts";
import { type Assignment, type JobSpecInput, parseJobSpec } from "../../src/protocol/mod.ts";

function assignment(spec: JobSpecInput, extra: Partial<Assignment> = {}): Assignment {
  return {
    type: "assign",
    job_id: 1,
    attempt_id: "1.1",
    attempt: 1,
    spec: parseJobSpec(spec),
    timeout_ms: null,
    kill_grace_ms: 1_000,
    max_output_bytes: 16 * 1024 * 1024,
    ...extra,
  };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

async function run(a: Assignment, onStart?: (r: JobRunner, pid: number) => void) {
  const out: Array<[string, string]> = [];
  const marker = `test-${crypto.randomUUID()}`;
  const runner: JobRunner = new JobRunner(a, {
    runtimes: await detectRuntimes(),
    baseEnv: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    marker,
  }, {
    onStart: (pid) => onStart?.(runner, pid),
    // Each piece holds whole characters: it decodes on its own.
    onOutput: (stream, data) => void out.push([stream, strictUtf8.decode(data)]),
  });
  const result = await runner.run();
  const text = (s: string) => out.filter(([n]) => n === s).map(([, d]) => d).join("");
  return { result, stdout: text("stdout"), stderr: text("stderr"), marker };
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

Deno.test("LineCap.feed() cuts long lines with a marker and keeps short ones", () => {
  const cap = new LineCap(4);
  const enc = new TextEncoder();
  const dec = (parts: Uint8Array[]) => parts.map((p) => new TextDecoder().decode(p)).join("");
  assert.equal(
    dec(cap.feed(enc.encode("ab\nabcdefgh\nxy"))),
    "ab\nabcd[jobdist: line truncated 4 bytes]\nxy",
  );
  assert.equal(dec(cap.feed(enc.encode("zzzz"))), "zz");
  assert.equal(dec(cap.end()), "[jobdist: line truncated 2 bytes]");
});

Deno.test("JobRunner.run() reports exit code, stderr and the job's environment", async () => {
  const r = await run(
    assignment({
      shell: 'echo "$JOBDIST_JOB_ID $JOBDIST_ATTEMPT $FOO"; echo e >&2; exit 7',
      env: { FOO: "bar" },
    }),
  );
  assert.equal(r.result.exit_code, 7);
  assert.equal(r.result.signal, null);
  assert.equal(r.stdout, "1 1 bar\n");
  assert.equal(r.stderr, "e\n");
});

Deno.test("JobRunner.run() passes multi-byte output on in whole characters", async () => {
  // 10-byte lines: pipe reads (64 KiB) end inside characters; run() decodes each piece strictly.
  const r = await run(assignment({ shell: "yes 'é€😀' | head -n 50000" }));
  assert.equal(r.result.exit_code, 0);
  assert.equal(r.stdout, "é€😀\n".repeat(50_000));
});

Deno.test("JobRunner.run() passes a byte order mark on, with or without secrets to mask", async () => {
  for (const secrets of [undefined, { TOKEN: "hunter2-secret" }]) {
    const bytes: number[] = [];
    const runner = new JobRunner(
      assignment({ shell: "printf '\\357\\273\\277hi hunter2-secret\\n'" }, { secrets }),
      {
        runtimes: new Map(),
        baseEnv: { PATH: "/usr/bin:/bin" },
        marker: `test-${crypto.randomUUID()}`,
      },
      { onStart: () => {}, onOutput: (_, data) => void bytes.push(...data) },
    );
    assert.equal((await runner.run()).exit_code, 0);
    assert.deepEqual(bytes.slice(0, 3), [0xef, 0xbb, 0xbf], `BOM kept (secrets: ${!!secrets})`);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array(bytes));
    assert.equal(text, secrets ? "\ufeffhi ***\n" : "\ufeffhi hunter2-secret\n");
  }
});

Deno.test("utf8Boundary() keeps a character cut off at the end for later", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.equal(utf8Boundary(bytes("ab")), 2);
  assert.equal(utf8Boundary(bytes("a😀")), 5);
  assert.equal(utf8Boundary(bytes("a😀").subarray(0, 4)), 1);
  assert.equal(utf8Boundary(bytes("a😀").subarray(0, 2)), 1);
  assert.equal(utf8Boundary(bytes("é").subarray(0, 1)), 0);
  // Bytes that are not UTF-8 pass as they are.
  assert.equal(utf8Boundary(new Uint8Array([0x61, 0x80, 0x80, 0x80, 0x80])), 5);
});

Deno.test("JobRunner.run() caps output with a visible marker", async () => {
  const r = await run(assignment({ command: ["seq", "1", "100000"] }, { max_output_bytes: 5_000 }));
  assert.equal(r.result.exit_code, 0);
  assert.equal(r.stdout.length, 5_000);
  assert.ok(r.result.truncated_bytes > 500_000);
  assert.equal(r.stderr, `\n[jobdist: truncated ${r.result.truncated_bytes} bytes]\n`);
});

Deno.test("JobRunner.run() cuts one endless line", async () => {
  const r = await run(
    assignment({
      shell: "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo next",
      max_line_bytes: 1000,
    }),
  );
  assert.equal(r.stdout, "a".repeat(1000) + "[jobdist: line truncated 2999000 bytes]\nnext\n");
});

Deno.test("JobRunner.stop() on timeout KILLs a job that traps TERM after the grace", async () => {
  const t0 = performance.now();
  const r = await run(
    assignment({ shell: "trap '' TERM; sleep 30 & wait; sleep 30" }, {
      timeout_ms: 300,
      kill_grace_ms: 300,
    }),
  );
  assert.equal(r.result.killed_by, "timeout");
  assert.equal(r.result.signal, "SIGKILL");
  assert.ok(performance.now() - t0 < 10_000);
});

Deno.test("JobRunner.stop() kills the whole tree, including a setsid escapee", async () => {
  const tag = `${1000 + Math.floor(Math.random() * 1000)}.${Date.now() % 1000}`;
  const r = await run(
    assignment({
      shell: `setsid nohup sleep ${tag} >/dev/null 2>&1 & sleep ${tag} & echo started; wait`,
    }),
    (runner) => setTimeout(() => runner.stop("cancelled"), 500),
  );
  assert.equal(r.result.killed_by, "cancelled");
  assert.equal(r.stdout, "started\n");
  const left: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (cmd.includes(tag) && alive(Number(e.name))) left.push(Number(e.name));
    } catch {
      // gone
    }
  }
  assert.deepEqual(left, [], "no process of the job survives");
});

Deno.test("JobRunner.run() reports a missing runtime or command as an error", async () => {
  const r = await run(assignment({ command: ["/no/such/binary"] }));
  assert.equal(r.result.exit_code, null);
  assert.match(r.result.error ?? "", /cannot start \/no\/such\/binary: not found/);
  const s = await run(assignment({ script: { runtime: "cobol", source: "x" } }));
  assert.match(s.result.error ?? "", /no runtime cobol/);
});

Deno.test("LineCap.feed() passes a chunk of short lines through as one piece", () => {
  const cap = new LineCap(100);
  const chunk = new TextEncoder().encode("1\n2\n3\n".repeat(1000) + "tail");
  const parts = cap.feed(chunk);
  assert.equal(parts.length, 1);
  assert.equal(parts[0].length, chunk.length);
  const cut = new LineCap(3).feed(new TextEncoder().encode("abcdef\nab\nabcdefg"));
  assert.equal(
    cut.map((p) => new TextDecoder().decode(p)).join(""),
    "abc[jobdist: line truncated 3 bytes]\nab\nabc",
  );
});

Deno.test("LineCap.feed() cuts the same however the output is split into pieces", () => {
  const max = 8;
  // What a cap of `max` makes of a whole text, written from its definition.
  const expected = (text: string) => {
    const lines = text.split("\n");
    return lines.map((l) =>
      l.length > max ? `${l.slice(0, max)}[jobdist: line truncated ${l.length - max} bytes]` : l
    ).join("\n");
  };
  const random = (n: number) => Math.floor(Math.random() * n);
  for (let round = 0; round < 300; round++) {
    let text = "";
    while (text.length < 200) text += "x".repeat(random(3 * max)) + (random(4) ? "\n" : "");
    const cap = new LineCap(max);
    const out: string[] = [];
    for (let at = 0; at < text.length;) {
      const end = Math.min(text.length, at + 1 + random(2 * max));
      out.push(...cap.feed(new TextEncoder().encode(text.slice(at, end))).map(decode));
      at = end;
    }
    out.push(...cap.end().map(decode));
    assert.equal(out.join(""), expected(text), JSON.stringify(text));
  }
});

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

Deno.test("JobRunner.run() with on_output_limit fail stops the job at its cap", async () => {
  const r = await run(
    assignment({ command: ["yes"], on_output_limit: "fail" }, { max_output_bytes: 10_000 }),
  );
  assert.equal(r.result.killed_by, "output_limit");
  assert.equal(r.result.signal, "SIGTERM");
  assert.equal(r.stdout.length, 10_000);
});
