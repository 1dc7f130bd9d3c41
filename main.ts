/**
 * jobdist: one program, two roles. `jobdist server` keeps jobs and hands them out;
 * `jobdist agent` runs them; `jobdist dev` runs both; the other commands are clients.
 * SIGINT and SIGTERM abort one signal that every loop, socket and process listens to.
 * @module
 */

import { main } from "./src/cli/mod.ts";

if (import.meta.main) {
  const controller = new AbortController();
  let stops = 0;
  const stop = () => {
    if (++stops > 1) Deno.exit(130); // a second Ctrl-C means now
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const code = await main(Deno.args, controller.signal);
  Deno.exit(code);
}
