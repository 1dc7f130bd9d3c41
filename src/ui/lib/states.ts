/**
 * Job states for the browser. The protocol's own list lives beside its zod schemas, and
 * importing it would pull zod into the bundle; this copy is checked against the protocol's
 * `JobState` type at compile time, so the two cannot drift apart.
 * @module
 */

import type { JobState } from "../../protocol/mod.ts";

/** Every job state, in lifecycle order. */
export const STATES = [
  "waiting",
  "scheduled",
  "queued",
  "assigned",
  "running",
  "succeeded",
  "failed",
  "timed_out",
  "cancelled",
] as const satisfies readonly JobState[];

// Fails to compile (naming the state) if the protocol gains a state this list lacks.
type Missing = Exclude<JobState, (typeof STATES)[number]>;
const _allStates: [Missing] extends [never] ? true : Missing = true;

/** Whether `state` is final. */
export function isFinal(state: JobState): boolean {
  return state === "succeeded" || state === "failed" || state === "timed_out" ||
    state === "cancelled";
}

/** Whether `text` names a job state. */
export function isJobState(text: string): text is JobState {
  return STATES.some((s) => s === text);
}
