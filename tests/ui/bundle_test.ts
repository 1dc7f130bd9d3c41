/**
 * The dashboard's bundle is embedded: `/` links it and `/ui/app.js` serves the text import, and a
 * server that may not read anything but its database still serves every page and asset.
 * @module
 */

import assert from "node:assert/strict";
import { BUNDLE_JS } from "../../src/ui/bundle.ts";
import { MAIN, startTestServer } from "../helpers.ts";

Deno.test("ui: / links the embedded bundle and /ui/app.js serves the text import", async () => {
  const server = await startTestServer();
  try {
    const page = await fetch(`${server.url}/`);
    assert.equal(page.status, 200);
    const html = await page.text();
    const src = html.match(/<script type="module" src="(\/ui\/app\.js\?v=\w+)"/)?.[1];
    assert.ok(src, "the overview links the bundle");
    assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const js = await fetch(`${server.url}${src}`);
    assert.equal(js.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    const body = await js.text();
    assert.equal(body, BUNDLE_JS);
    const onDisk = await Deno.readTextFile(new URL("../../src/ui/bundle.gen.js", import.meta.url));
    assert.equal(BUNDLE_JS, onDisk, "the text import holds the built bundle");
    assert.ok(body.length < 200_000, `the bundle stays small (${body.length} bytes)`);
  } finally {
    await server.stop();
  }
});

Deno.test("ui: a server that cannot read src/ui still serves the pages and the bundle", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-ui-" });
  // Module loading is not a file read at run time; any read of src/ui while serving would fail
  // with a permission error, since only the database directory may be read.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      "--allow-env",
      "--allow-sys",
      MAIN,
      "server",
      "--listen",
      "127.0.0.1:0",
      "--db",
      `${dir}/jobdist.db`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const url = await listenUrl(child.stderr);
    for (const path of ["/", "/jobs", "/agents", "/submit", "/ui/app.css"]) {
      const res = await fetch(`${url}${path}`);
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
    }
    const js = await fetch(`${url}/ui/app.js`);
    assert.equal(await js.text(), BUNDLE_JS);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

async function listenUrl(stderr: ReadableStream<Uint8Array<ArrayBuffer>>): Promise<string> {
  let seen = "";
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => reader.cancel(), 20_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Server exited before listening:\n${seen}`);
      seen += value;
      const m = seen.match(/listening on (http:\/\/\S+)/);
      if (m) {
        // Keep draining so the child never blocks on a full pipe.
        (async () => {
          while (!(await reader.read()).done);
        })().catch(() => {});
        return m[1];
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
