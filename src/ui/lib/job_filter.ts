/**
 * The jobs page's filter: parsed from the page's query string on the server, applied again in
 * the browser to live updates, so a job that starts to match appears without a reload.
 * @module
 */

import type { JobState, JobView } from "../../protocol/mod.ts";
import { isJobState } from "./states.ts";

/** What the jobs page filters on. Every field is optional; empty means "any". */
export interface JobFilter {
  states: JobState[];
  queue: string;
  agent: string;
  tag: string;
  /** Matched case-insensitively against id, name, queue and the command, shell or script. */
  text: string;
}

/** The filter of a query string (`state=queued,running&queue=&agent=&tag=&q=`). */
export function parseJobFilter(params: URLSearchParams): JobFilter {
  const states = params.getAll("state").flatMap((s) => s.split(","))
    .filter(isJobState);
  return {
    states: [...new Set(states)],
    queue: (params.get("queue") ?? "").trim(),
    agent: (params.get("agent") ?? "").trim(),
    tag: (params.get("tag") ?? "").trim(),
    text: (params.get("q") ?? "").trim(),
  };
}

/** The query string of a filter (without `?`), plus an optional cursor. */
export function jobFilterQuery(f: JobFilter, cursor?: string | null): string {
  const p = new URLSearchParams();
  if (f.states.length) p.set("state", f.states.join(","));
  if (f.queue) p.set("queue", f.queue);
  if (f.agent) p.set("agent", f.agent);
  if (f.tag) p.set("tag", f.tag);
  if (f.text) p.set("q", f.text);
  if (cursor) p.set("cursor", cursor);
  return p.toString();
}

/** Whether the filter only narrows by state and queue (which the store indexes). */
export function isStoreFilter(f: JobFilter): boolean {
  return !f.agent && !f.tag && !f.text;
}

/** Whether `job` passes the filter. */
export function matchesJobFilter(job: JobView, f: JobFilter): boolean {
  if (f.states.length && !f.states.includes(job.state)) return false;
  if (f.queue && job.queue !== f.queue) return false;
  if (f.agent) {
    const onAgent = job.agent_id === f.agent ||
      (job.attempts ?? []).some((a) => a.agent_id === f.agent || a.agent_name === f.agent);
    if (!onAgent) return false;
  }
  if (f.tag && !(job.spec.tags ?? []).includes(f.tag)) return false;
  if (f.text) {
    const needle = f.text.toLowerCase();
    const hay = [String(job.id), job.name ?? "", job.queue, jobSummary(job)].join("\n")
      .toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

/** One line that says what a job runs. */
export function jobSummary(job: Pick<JobView, "spec">): string {
  const { spec } = job;
  if (spec.command) return spec.command.join(" ");
  if (spec.shell) return spec.shell;
  if (spec.script) return `${spec.script.runtime}: ${spec.script.source}`;
  return "";
}
