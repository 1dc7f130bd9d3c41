/**
 * `jobdist server` with a `--synchronous FULL|NORMAL` switch, for B2's FULL-versus-NORMAL
 * comparison while the real CLI has no such flag. It calls the same `startServer` as
 * `main.ts server` and prints the same "listening" line; the harness prefers `main.ts` whenever
 * its `server --help` lists `--synchronous`.
 *
 * Usage: deno run -A bench/server_entry.ts --listen 127.0.0.1:0 --db PATH --synchronous NORMAL
 * @module
 */

import { parseArgs } from "node:util";
import { startServer } from "../src/server/mod.ts";

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      listen: { type: "string", default: "127.0.0.1:0" },
      db: { type: "string", default: ":memory:" },
      synchronous: { type: "string", default: "FULL" },
    },
  });
  const synchronous = values.synchronous === "NORMAL" ? "NORMAL" : "FULL";
  const controller = new AbortController();
  Deno.addSignalListener("SIGTERM", () => controller.abort());
  Deno.addSignalListener("SIGINT", () => controller.abort());
  const running = await startServer({
    listen: values.listen,
    db: values.db,
    tokens: [],
    synchronous,
    onListen: ({ url }) => console.error(`jobdist server listening on ${url}`),
  }, controller.signal);
  await running.finished;
  Deno.exit(0);
}
