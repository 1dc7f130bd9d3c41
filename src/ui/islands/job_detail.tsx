/**
 * The job page: state, timeline, attempts, spec and the live log tail, with cancel and retry; a
 * batch's progress and tasks, a task's batch, and the jobs a job waits on. Live through the
 * `job:<id>` topic, which carries the job's changes (a batch's, whenever a task changes) and its
 * new output; a batch or a job with `after` also follows the `jobs` topic for its tasks' and
 * dependencies' states.
 * @module
 */

import { useEffect, useState } from "preact/hooks";
import type { JobSpec, JobView, WebhookDeliveryView } from "../../protocol/mod.ts";
import { isFinal } from "../lib/states.ts";
import { LiveDot, StateBadge } from "../components.tsx";
import { API, ApiError, call } from "../lib/api.ts";
import { formatBetween, formatInstant } from "../lib/format.ts";
import { jobSummary } from "../lib/job_filter.ts";
import { useLive, useNow } from "../lib/live.ts";
import { addChunks, initialLog, LogTail } from "../log_tail.tsx";
import { applyChanges, type UiRelated } from "../lib/related.ts";
import { BatchPanel } from "../batch.tsx";
import type { UiLogPage, UiTopic } from "../../protocol/ui_wire.ts";

/** Props of {@linkcode JobDetail}. */
export interface JobDetailProps {
  job: JobView;
  log: UiLogPage;
  /** The jobs it waits on and, for a batch, its tasks. */
  related: UiRelated;
  /** When the server rendered the page (ms). */
  now: number;
}

/** The job page island. */
export function JobDetail(props: JobDetailProps) {
  const [job, setJob] = useState(props.job);
  const [log, setLog] = useState(() => initialLog(props.log));
  const [related, setRelated] = useState(props.related);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(props.now);
  const id = job.id;
  const catchUp = async () => {
    // Output written between the page's render and the socket's subscription.
    const end = log.end;
    const page = await call<UiLogPage>("GET", `/ui/data/jobs/${id}/log?from=${end}`).catch(
      () => null,
    );
    if (page) setLog((s) => addChunks(s, page.chunks));
  };
  const followsOthers = props.job.batch !== undefined || props.related.deps.length > 0;
  const refetchRelated = async () => {
    const fresh = await call<UiRelated>("GET", `/ui/data/jobs/${id}/related`).catch(() => null);
    if (fresh) setRelated(fresh);
  };
  const refetchJob = async () => {
    const fresh = await call<JobView>("GET", `${API}/jobs/${id}`).catch(() => null);
    if (fresh) setJob(fresh);
  };
  const topics: UiTopic[] = followsOthers ? [`job:${id}`, "jobs"] : [`job:${id}`];
  const status = useLive(topics, {
    onOpen() {
      catchUp();
      // Tasks and dependencies that changed before the socket opened.
      if (followsOthers) refetchRelated();
    },
    onMessage(msg) {
      if (msg.type === "job" && msg.job.id === id) setJob(msg.job);
      if (msg.type === "jobs" && followsOthers) {
        if (msg.overflow) refetchRelated();
        else setRelated((r) => applyChanges(r, msg.jobs, id));
        // The wait reason names the dependencies yet to succeed; the job itself did not change.
        const depChanged = msg.overflow ||
          msg.jobs.some((j) => related.deps.some((d) => d.id === j.id));
        if (job.state === "waiting" && depChanged) refetchJob();
      }
      if (msg.type === "log" && msg.job_id === id) {
        setLog((s) => addChunks(s, msg.chunks));
        if (msg.gap) catchUp();
      }
    },
  });
  usePendingDeliveries(job, setJob);
  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await what();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };
  const cancel = () =>
    act(async () => {
      setJob(await call<JobView>("POST", `${API}/jobs/${id}/cancel`));
    });
  const retry = () =>
    act(async () => {
      const copy = await call<JobView>("POST", `${API}/jobs`, resubmittable(job.spec));
      location.assign(`/jobs/${copy.id}`);
    });
  const done = isFinal(job.state);
  const last = job.attempts?.[job.attempts.length - 1];
  return (
    <>
      <h1>
        <span>Job #{job.id}{job.name ? ` · ${job.name}` : ""}</span>
        <StateBadge state={job.state} />
        <LiveDot status={status} />
      </h1>
      {job.reason && <p class="reason" data-reason>{job.reason}</p>}
      {error && <p class="error" role="alert">{error}</p>}
      <div class="actions" style="margin-bottom:14px">
        {!done && !confirming && (
          <button
            type="button"
            class="danger"
            disabled={busy}
            onClick={() => setConfirming(true)}
          >
            Cancel job
          </button>
        )}
        {!done && confirming && (
          <>
            <span>Kill this job?</span>
            <button type="button" class="danger" disabled={busy} onClick={cancel} autoFocus>
              Yes, cancel it
            </button>
            <button type="button" onClick={() => setConfirming(false)}>Keep running</button>
          </>
        )}
        <button type="button" disabled={busy} onClick={retry} title="Submit a copy of this job">
          {done ? "Retry" : "Run a copy"}
        </button>
      </div>
      <div class="split">
        <section class="panel" aria-label="Summary">
          <dl class="kv">
            <dt>Runs</dt>
            <dd class="mono" style="word-break:break-all;max-height:9em;overflow:auto">
              {jobSummary(job)}
            </dd>
            {job.parent_id != null && (
              <>
                <dt>Batch</dt>
                <dd data-parent={job.parent_id}>
                  <a href={`/jobs/${job.parent_id}`}>#{job.parent_id}</a>{" "}
                  <span class="muted">task index {job.batch_index}</span>
                </dd>
              </>
            )}
            {related.deps.length > 0 && (
              <>
                <dt>After</dt>
                <dd class="labels" aria-label="Runs after">
                  {related.deps.map((d) => (
                    <span key={d.id} data-dep={d.id} class="nowrap">
                      <a href={`/jobs/${d.id}`}>#{d.id}</a> <StateBadge state={d.state} />
                    </span>
                  ))}
                </dd>
              </>
            )}
            <dt>Queue</dt>
            <dd>
              {job.queue} <span class="muted">priority {job.priority}</span>
            </dd>
            <dt>Created</dt>
            <dd>{formatInstant(job.created_at)}</dd>
            {job.run_at && (
              <>
                <dt>Run at</dt>
                <dd>{formatInstant(job.run_at)}</dd>
              </>
            )}
            <dt>Started</dt>
            <dd>{formatInstant(job.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{formatInstant(job.finished_at)}</dd>
            <dt>Duration</dt>
            <dd>{formatBetween(job.started_at, job.finished_at, now)}</dd>
            <dt>Result</dt>
            <dd>
              {job.signal
                ? `killed by ${job.signal}`
                : job.exit_code !== null
                ? `exit code ${job.exit_code}`
                : "—"}
            </dd>
            <dt>Agent</dt>
            <dd>{last?.agent_name ?? last?.agent_id ?? "—"}</dd>
            {job.spec.tags?.length
              ? (
                <>
                  <dt>Tags</dt>
                  <dd class="labels">
                    {job.spec.tags.map((t) => <span key={t} class="tag">{t}</span>)}
                  </dd>
                </>
              )
              : null}
          </dl>
        </section>
        {job.batch
          ? (
            <BatchPanel
              id={id}
              batch={job.batch}
              spec={job.spec}
              tasks={related.tasks}
              moreTasks={related.more_tasks}
              now={now}
            />
          )
          : <Attempts job={job} now={now} />}
      </div>
      {job.webhooks?.length ? <Webhooks deliveries={job.webhooks} /> : null}
      {/* A batch runs nothing itself: the output is its tasks'. */}
      {!job.batch && (
        <LogTail
          jobId={id}
          log={log}
          setLog={setLog}
          active={!done}
          total={Math.max(job.output_bytes, log.end)}
        />
      )}
      <details>
        <summary>Spec</summary>
        <pre class="panel" style="overflow:auto">{JSON.stringify(job.spec, null, 2)}</pre>
      </details>
    </>
  );
}

/** The attempts of a job that runs itself (a batch's run in its tasks). */
function Attempts({ job, now }: { job: JobView; now: number }) {
  return (
    <section class="panel" aria-label="Attempts">
      <h2 style="margin-top:0">Attempts ({job.attempt_count}/{job.spec.max_attempts})</h2>
      {(job.attempts ?? []).length === 0
        ? <p class="muted">Not run yet.</p>
        : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th class="num">#</th>
                  <th>Agent</th>
                  <th>State</th>
                  <th>Exit</th>
                  <th>Took</th>
                </tr>
              </thead>
              <tbody>
                {(job.attempts ?? []).map((a) => (
                  <tr>
                    <td class="num">{a.n}</td>
                    <td>{a.agent_name ?? a.agent_id ?? "—"}</td>
                    <td>
                      <StateBadge state={a.state} />
                      {a.error && <div class="reason">{a.error}</div>}
                    </td>
                    <td>{a.signal ?? a.exit_code ?? "—"}</td>
                    <td>{formatBetween(a.started_at, a.finished_at, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
    </section>
  );
}

/**
 * A delivery's outcome changes no job state, so the live stream does not carry it: while one is
 * pending, the job is fetched again every 2 s.
 */
function usePendingDeliveries(job: JobView, setJob: (job: JobView) => void): void {
  const pending = job.webhooks?.some((d) => d.state === "pending") ?? false;
  useEffect(() => {
    if (!pending) return;
    const timer = setInterval(async () => {
      const fresh = await call<JobView>("GET", `${API}/jobs/${job.id}`).catch(() => null);
      if (fresh) setJob(fresh);
    }, 2_000);
    return () => clearInterval(timer);
  }, [pending, job.id]);
}

/** The job's webhook calls: one row per event, with the outcome of its last try. */
function Webhooks({ deliveries }: { deliveries: WebhookDeliveryView[] }) {
  return (
    <section class="panel" aria-label="Webhooks">
      <h2 style="margin-top:0">Webhooks</h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Event</th>
              <th>URL</th>
              <th>State</th>
              <th class="num">Tries</th>
              <th>Last try</th>
              <th>Next try</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => (
              <tr key={d.id} data-delivery={d.id}>
                <td>{d.event}</td>
                <td class="mono" style="word-break:break-all">{d.url}</td>
                <td>
                  <StateBadge state={d.state} />
                  {d.error && <div class="reason">{d.error}</div>}
                </td>
                <td class="num">{d.attempts}/{d.max_attempts}</td>
                <td>
                  {formatInstant(d.last_attempt_at)}
                  {d.status_code !== null && <span class="muted">{` HTTP ${d.status_code}`}</span>}
                </td>
                <td>{formatInstant(d.next_attempt_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The spec of a copy: a new job, not a duplicate of the old one's key or start time. */
function resubmittable(spec: JobSpec): JobSpec {
  const { idempotency_key: _key, run_at: _runAt, ...rest } = spec;
  return rest;
}
