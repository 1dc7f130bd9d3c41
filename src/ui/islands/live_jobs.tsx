/**
 * The jobs page: a filtered, cursor-paginated table that updates live. Changed jobs replace
 * their rows; new jobs that match the filter appear on top of the first page; a burst too big to
 * send row by row makes the island refetch its page.
 * @module
 */

import { useRef, useState } from "preact/hooks";
import type { JobView } from "../../protocol/mod.ts";
import { isFinal, STATES } from "../lib/states.ts";
import { LiveDot, StateBadge } from "../components.tsx";
import { call } from "../lib/api.ts";
import { formatAgo, formatBetween, stateLabel } from "../lib/format.ts";
import { type JobFilter, jobFilterQuery, jobSummary, matchesJobFilter } from "../lib/job_filter.ts";
import { useLive, useNow } from "../lib/live.ts";

/** Props of {@linkcode LiveJobs}. */
export interface LiveJobsProps {
  jobs: JobView[];
  filter: JobFilter;
  /** The cursor this page started at (`null`: the newest page). */
  cursor: string | null;
  next_cursor: string | null;
  /** Page size. */
  limit: number;
  /** Queues seen, for the queue field's suggestions. */
  queues: string[];
  /** When the server rendered the page (ms). */
  now: number;
}

/** The jobs island. */
export function LiveJobs(props: LiveJobsProps) {
  const [jobs, setJobs] = useState(props.jobs);
  const [next, setNext] = useState(props.next_cursor);
  const now = useNow(props.now);
  const { filter, cursor } = props;
  const refetching = useRef(false);
  const refetch = async () => {
    if (refetching.current) return;
    refetching.current = true;
    try {
      const page = await call<{ jobs: JobView[]; next_cursor: string | null }>(
        "GET",
        `/ui/data/jobs?${jobFilterQuery(filter, cursor)}&limit=${props.limit}`,
      );
      setJobs(page.jobs);
      setNext(page.next_cursor);
    } catch {
      // The socket's next open retries.
    } finally {
      refetching.current = false;
    }
  };
  const status = useLive(["jobs"], {
    onOpen: refetch,
    onMessage(msg) {
      if (msg.type !== "jobs") return;
      if (msg.overflow) return void refetch();
      setJobs((list) => merge(list, msg.jobs, filter, cursor === null, props.limit));
    },
  });
  return (
    <>
      <h1>
        Jobs <LiveDot status={status} />
      </h1>
      <form class="filters" method="get" action="/jobs" role="search">
        <label>
          State
          <select name="state">
            <option value="">any</option>
            <option value={UNFINISHED.join(",")} selected={isWaiting(filter)}>
              not finished
            </option>
            {STATES.map((s) => (
              <option value={s} selected={filter.states.length === 1 && filter.states[0] === s}>
                {stateLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Queue
          <input name="queue" value={filter.queue} list="queues" size={10} />
          <datalist id="queues">
            {props.queues.map((q) => <option key={q} value={q} />)}
          </datalist>
        </label>
        <label>
          Agent
          <input name="agent" value={filter.agent} size={10} />
        </label>
        <label>
          Tag
          <input name="tag" value={filter.tag} size={8} />
        </label>
        <label>
          Text
          <input name="q" type="search" value={filter.text} placeholder="id, name, command" />
        </label>
        <button type="submit">Filter</button>
        <a class="button" href="/jobs">Clear</a>
      </form>
      <div class="panel table-wrap">
        <table class="jobs" aria-label="Jobs">
          <thead>
            <tr>
              <th>Job</th>
              <th>State</th>
              <th>Command</th>
              <th class="hide-sm">Queue</th>
              <th class="hide-sm">Created</th>
              <th class="hide-sm">Ran</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} data-job={j.id}>
                <td>
                  <a href={`/jobs/${j.id}`}>#{j.id}</a>
                </td>
                <td>
                  <StateBadge state={j.state} />
                  {j.attempt_count > 1 && <span class="muted">×{j.attempt_count}</span>}
                </td>
                <td class="cmd" title={jobSummary(j)}>
                  {j.name ? <b>{j.name}</b> : jobSummary(j)}
                  {j.reason && <div class="reason">{j.reason}</div>}
                </td>
                <td class="hide-sm">{j.queue}</td>
                <td class="hide-sm">{formatAgo(j.created_at, now)}</td>
                <td class="hide-sm">
                  {j.started_at ? formatBetween(j.started_at, j.finished_at, now) : "—"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {jobs.length === 0 && <p class="muted">No jobs match.</p>}
      </div>
      <nav class="pager" aria-label="Pages">
        {cursor !== null && <a class="button" href={`/jobs?${jobFilterQuery(filter)}`}>Newest</a>}
        {next !== null && (
          <a class="button" href={`/jobs?${jobFilterQuery(filter, next)}`}>
            Older
          </a>
        )}
      </nav>
    </>
  );
}

/** The states of a job not finished yet. */
const UNFINISHED = STATES.filter((s) => !isFinal(s));

/** Whether the filter is "not finished" (in any order). */
function isWaiting(f: JobFilter): boolean {
  return f.states.length === UNFINISHED.length && UNFINISHED.every((s) => f.states.includes(s));
}

/** Applies changed jobs to the rows on screen. */
function merge(
  list: JobView[],
  changed: JobView[],
  filter: JobFilter,
  firstPage: boolean,
  limit: number,
): JobView[] {
  const byId = new Map(changed.map((j) => [j.id, j]));
  const out = list.map((j) => byId.get(j.id) ?? j);
  if (!firstPage) return out;
  const shown = new Set(list.map((j) => j.id));
  const newest = list.length ? list[0].id : 0;
  const fresh = changed.filter((j) =>
    !shown.has(j.id) && j.id > newest && matchesJobFilter(j, filter)
  );
  if (fresh.length === 0) return out;
  // Keep up to twice the page size so a busy page does not grow without bound.
  return [...fresh.sort((a, b) => b.id - a.id), ...out].slice(0, Math.max(limit * 2, 100));
}
