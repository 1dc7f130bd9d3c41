/**
 * jobdist: one program, two roles. `jobdist server` keeps jobs and hands them out;
 * `jobdist agent` runs them; `jobdist dev` runs both; the other commands are clients.
 * SIGINT and SIGTERM abort one signal that every loop, socket and process listens to.
 * `jobdist agent` loads only its own modules (`src/cli/agent_role.ts`): not the other commands,
 * the server, the API client or zod, which would take about 20 MB of every agent's memory.
 * `jobdist server` and `dev` load the roles (`src/cli/roles.ts`) without the other commands
 * (about 1-2 MB of an idle server). The specifiers are literals, so `deno compile` embeds every
 * path.
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
  const [name, ...rest] = Deno.args;
  const code = name === "agent"
    ? await runCommand((await import("./src/cli/agent_role.ts")).agent, rest, controller.signal)
    : name === "server" || name === "dev"
    ? await runCommand((await import("./src/cli/roles.ts"))[name], rest, controller.signal)
    : await (await import("./src/cli/mod.ts")).main(Deno.args, controller.signal);
  Deno.exit(code);
}
