/**
 * Job states for the browser, from the protocol's zod-free constants (the schemas would pull zod
 * into the bundle).
 * @module
 */

import type { JobState } from "../../protocol/mod.ts";
import { JOB_STATES } from "../../protocol/constants.ts";

/** Every job state, in lifecycle order. */
export const STATES = JOB_STATES;

/** Whether `state` is final. */
export function isFinal(state: JobState): boolean {
  return state === "succeeded" || state === "failed" || state === "timed_out" ||
    state === "cancelled";
}

/** Whether `text` names a job state. */
export function isJobState(text: string): text is JobState {
  return STATES.some((s) => s === text);
}
