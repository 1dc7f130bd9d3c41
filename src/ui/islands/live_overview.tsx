/**
 * The overview: jobs by state, agents online and busy, queues with their concurrency limits, the
 * last hour as a chart, and recent failures. Live through the `overview` topic; the queues are
 * read again from `GET /api/v1/queues` whenever it says something changed.
 * @module
 */

import { useRef, useState } from "preact/hooks";
import type { QueueView } from "../../protocol/mod.ts";
import { STATES } from "../lib/states.ts";
import { LiveDot, StateBadge } from "../components.tsx";
import { API, call } from "../lib/api.ts";
import { formatAgo, stateLabel } from "../lib/format.ts";
import { jobSummary } from "../lib/job_filter.ts";
import { useLive, useNow } from "../lib/live.ts";
import type { UiMinute, UiOverview } from "../../protocol/ui_wire.ts";

/** Props of {@linkcode LiveOverview}. */
export interface LiveOverviewProps {
  overview: UiOverview;
  queues: QueueView[];
  /** When the server rendered the page (ms). */
  now: number;
}

/** The overview island. */
export function LiveOverview(props: LiveOverviewProps) {
  const [data, setData] = useState(props.overview);
  const [queues, setQueues] = useState(props.queues);
  const now = useNow(props.now);
  const reading = useRef({ busy: false, again: false });
  const readQueues = async () => {
    const r = reading.current;
    if (r.busy) return void (r.again = true);
    r.busy = true;
    do {
      r.again = false;
      const list = await call<{ queues: QueueView[] }>("GET", `${API}/queues`).catch(() => null);
      if (list) setQueues(list.queues);
    } while (r.again);
    r.busy = false;
  };
  const status = useLive(["overview"], {
    onMessage(msg) {
      if (msg.type !== "overview") return;
      setData(msg.overview);
      readQueues();
    },
  });
  const { agents } = data;
  return (
    <>
      <h1>
        Overview <LiveDot status={status} />
      </h1>
      <section aria-label="Jobs by state" class="grid">
        {STATES.map((s) => (
          <a class="panel stat" href={`/jobs?state=${s}`} data-count={s}>
            <div class={`n s-${s}`}>{data.counts[s] ?? 0}</div>
            <div class="l">{stateLabel(s)}</div>
          </a>
        ))}
      </section>
      <h2>Agents</h2>
      <section aria-label="Agents" class="grid">
        <a class="panel stat" href="/agents">
          <div class="n" data-agents-online>{agents.online}</div>
          <div class="l">online of {agents.total}</div>
        </a>
        <a class="panel stat" href="/agents">
          <div class="n">{agents.busy}</div>
          <div class="l">busy</div>
        </a>
        <a class="panel stat" href="/agents">
          <div class="n">{agents.slots_used}/{agents.slots}</div>
          <div class="l">slots in use</div>
        </a>
      </section>
      <h2>Queues</h2>
      <Queues queues={queues} />
      <h2>Last hour</h2>
      <Chart minutes={data.minutes} />
      <h2>Recent failures</h2>
      {data.recent_failures.length === 0
        ? <p class="muted">No failed jobs.</p>
        : (
          <div class="panel table-wrap">
            <table class="jobs">
              <thead>
                <tr>
                  <th>Job</th>
                  <th>State</th>
                  <th>Command</th>
                  <th>Why</th>
                  <th>Finished</th>
                </tr>
              </thead>
              <tbody>
                {data.recent_failures.map((j) => (
                  <tr>
                    <td>
                      <a href={`/jobs/${j.id}`}>#{j.id}</a>
                    </td>
                    <td>
                      <StateBadge state={j.state} />
                    </td>
                    <td class="cmd" title={jobSummary(j)}>{j.name ?? jobSummary(j)}</td>
                    <td class="reason">{j.reason ?? ""}</td>
                    <td class="hide-sm">{formatAgo(j.finished_at, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
    </>
  );
}

/** Each queue's depth, the jobs of it holding an agent, and its concurrency limit. */
function Queues({ queues }: { queues: QueueView[] }) {
  if (queues.length === 0) return <p class="muted">No queued or running jobs, and no limits.</p>;
  return (
    <div class="panel table-wrap" style="max-width:720px">
      <table aria-label="Queues">
        <thead>
          <tr>
            <th>Queue</th>
            <th class="num">Queued</th>
            <th class="num">Active</th>
            <th class="num">Limit</th>
          </tr>
        </thead>
        <tbody>
          {queues.map((q) => (
            <tr key={q.name} data-queue={q.name}>
              <td>
                <a href={`/jobs?queue=${encodeURIComponent(q.name)}`}>{q.name}</a>
              </td>
              <td class="num" data-queued>{q.queued}</td>
              <td class="num" data-active>{q.active}</td>
              <td class="num" data-limit>
                {q.limit === null ? <span class="muted">none</span> : q.limit}
                {q.limit !== null && q.active >= q.limit && q.queued > 0 && (
                  <div class="reason" data-at-limit>full: jobs wait</div>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Finished jobs per minute as bars, queue depth as a line. */
function Chart({ minutes }: { minutes: UiMinute[] }) {
  const w = 600, h = 150, pad = 4;
  const bw = w / Math.max(1, minutes.length);
  const maxDone = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed));
  const maxDepth = Math.max(1, ...minutes.map((m) => m.queued));
  const y = (v: number, max: number) => h - pad - (v / max) * (h - 2 * pad);
  const total = minutes.reduce((n, m) => n + m.succeeded + m.failed, 0);
  const depthPath = minutes
    .map((m, i) => `${i ? "L" : "M"}${(i + 0.5) * bw},${y(m.queued, maxDepth).toFixed(1)}`)
    .join(" ");
  return (
    <figure class="panel chart" style="margin:0">
      <svg
        viewBox={`0 0 ${w} ${h}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`${total} jobs finished in the last hour; at most ${maxDone} in one minute`}
      >
        <line class="axis" x1="0" x2={w} y1={h - pad} y2={h - pad} />
        {minutes.map((m, i) => {
          const ok = y(m.succeeded, maxDone), bad = y(m.succeeded + m.failed, maxDone);
          return (
            <g>
              <title>
                {`${
                  new Date(m.t).toISOString().slice(11, 16)
                }Z: ${m.succeeded} succeeded, ${m.failed} failed, ${m.queued} queued`}
              </title>
              <rect class="ok" x={i * bw + 1} width={bw - 2} y={ok} height={h - pad - ok} />
              <rect class="bad" x={i * bw + 1} width={bw - 2} y={bad} height={ok - bad} />
            </g>
          );
        })}
        <path class="depth" d={depthPath} vector-effect="non-scaling-stroke" />
      </svg>
      <figcaption class="legend">
        <span>
          <i style="background:var(--ok)" />succeeded per minute
        </span>
        <span>
          <i style="background:var(--bad)" />failed, timed out or cancelled
        </span>
        <span>
          <i style="background:var(--warn)" />queue depth (max {maxDepth})
        </span>
        <span>{total} finished in the last hour</span>
      </figcaption>
    </figure>
  );
}
