/**
 * Everything that crosses a wire: the job model, the agent protocol and the HTTP bodies.
 * Imports nothing from server, agent or ui, and uses no `Deno.*`.
 * @module
 */

export * from "./duration.ts";
export * from "./errors.ts";
export * from "./job.ts";
export * from "./agent_wire.ts";
export * from "./http.ts";
export * from "./schedule.ts";
export * from "./api.ts";
export { VERSION } from "./constants.ts";
