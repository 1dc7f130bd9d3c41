/**
 * jobdist: one program, two roles. `jobdist server` keeps jobs and hands them out;
 * `jobdist agent` runs them; `jobdist dev` runs both; the other commands are clients.
 * SIGINT and SIGTERM abort one signal that every loop, socket and process listens to.
 * `jobdist agent` loads only its own modules (`src/cli/agent_role.ts`): not the other commands,
 * the server, the API client or zod, which would take about 20 MB of every agent's memory. The
 * specifiers are literals, so `deno compile` embeds both paths.
 * @module
 */

import { runCommand } from "./src/cli/run_command.ts";

if (import.meta.main) {
  const controller = new AbortController();
  let stops = 0;
  const stop = () => {
    if (++stops > 1) Deno.exit(130); // a second Ctrl-C means now
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  const code = Deno.args[0] === "agent"
    ? await runCommand(
      (await import("./src/cli/agent_role.ts")).agent,
      Deno.args.slice(1),
      controller.signal,
    )
    : await (await import("./src/cli/mod.ts")).main(Deno.args, controller.signal);
  Deno.exit(code);
}
