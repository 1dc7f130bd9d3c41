/**
 * The submit form: a command, a shell line or an inline script for a runtime some agent has,
 * with the common options. It posts the job spec to the API and opens the new job's page.
 * @module
 */

import { useState } from "preact/hooks";
import type { AgentView, JobSpecInput, JobView } from "../../protocol/mod.ts";
import { LiveDot } from "../components.tsx";
import { API, ApiError, call } from "../lib/api.ts";
import { parseEnvLines, splitArgs } from "../lib/argv.ts";
import { useLive } from "../lib/live.ts";

/** Props of {@linkcode SubmitForm}. */
export interface SubmitFormProps {
  /** Runtimes of the agents that are not lost. */
  runtimes: string[];
  /** Queues seen, for suggestions. */
  queues: string[];
}

type Kind = "shell" | "command" | "script";
const KINDS: Kind[] = ["shell", "command", "script"];

/** The runtimes some agent that is not lost offers, sorted. */
export function runtimesOf(agents: AgentView[]): string[] {
  const names = agents.filter((a) => a.status !== "lost").flatMap((a) => a.runtimes)
    .map((r) => r.name);
  return [...new Set(names)].sort();
}

/** The submit island. */
export function SubmitForm(props: SubmitFormProps) {
  const [kind, setKind] = useState<Kind>("shell");
  const [runtimes, setRuntimes] = useState(props.runtimes);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const status = useLive(["agents"], {
    onMessage(msg) {
      if (msg.type === "agents") setRuntimes(runtimesOf(msg.agents));
    },
  });
  const onSubmit = async (e: Event) => {
    e.preventDefault();
    if (!(e.currentTarget instanceof HTMLFormElement)) return;
    setError(null);
    let spec: JobSpecInput;
    try {
      spec = specOf(new FormData(e.currentTarget), kind);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      return;
    }
    setBusy(true);
    try {
      const job = await call<JobView>("POST", `${API}/jobs`, spec);
      location.assign(`/jobs/${job.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };
  return (
    <>
      <h1>
        Submit a job <LiveDot status={status} />
      </h1>
      <form class="panel" onSubmit={onSubmit} aria-describedby={error ? "submit-error" : undefined}>
        <fieldset>
          <legend>What to run</legend>
          <div class="radios" role="radiogroup" aria-label="Kind">
            {KINDS.map((k) => (
              <label>
                <input
                  type="radio"
                  name="kind"
                  value={k}
                  checked={kind === k}
                  onChange={() => setKind(k)}
                />
                {k === "shell" ? "Shell line" : k === "command" ? "Command (no shell)" : "Script"}
              </label>
            ))}
          </div>
          {kind === "shell" && (
            <label>
              Shell (run by /bin/sh -c)
              <textarea name="shell" rows={4} required placeholder="echo hello; sleep 2" />
            </label>
          )}
          {kind === "command" && (
            <label>
              Command and arguments (quotes group words; nothing is expanded)
              <input name="command" required class="mono" placeholder={`python3 -c "print(42)"`} />
            </label>
          )}
          {kind === "script" && (
            <>
              <label style="max-width:260px">
                Runtime
                <select name="runtime" required>
                  {runtimes.length === 0 && <option value="">no agent offers a runtime</option>}
                  {runtimes.map((r) => <option key={r} value={r}>{r}</option>)}
                </select>
              </label>
              <label>
                Source
                <textarea name="source" rows={8} required placeholder={`print("hello")`} />
              </label>
            </>
          )}
        </fieldset>
        <fieldset>
          <legend>Options</legend>
          <div class="form-grid">
            <label>
              Name
              <input name="name" placeholder="optional" />
            </label>
            <label>
              Queue
              <input name="queue" value="default" list="submit-queues" required />
              <datalist id="submit-queues">
                {props.queues.map((q) => <option key={q} value={q} />)}
              </datalist>
            </label>
            <label>
              Priority
              <input name="priority" type="number" min={-1000} max={1000} value="0" />
            </label>
            <label>
              Timeout
              <input name="timeout" placeholder="e.g. 10m" />
            </label>
            <label>
              Retries
              <input name="retries" type="number" min={0} max={99} value="0" />
            </label>
            <label>
              Delay
              <input name="delay" placeholder="e.g. 30s" />
            </label>
          </div>
          <label style="margin-top:12px">
            Environment (KEY=value, one per line)
            <textarea name="env" rows={3} placeholder="GREETING=hello" />
          </label>
        </fieldset>
        {error && <p class="error" id="submit-error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Submitting…" : "Submit job"}
        </button>
      </form>
    </>
  );
}

/** The job spec the form describes; throws on what the form itself can tell is wrong. */
function specOf(form: FormData, kind: Kind): JobSpecInput {
  const text = (name: string) => {
    const v = form.get(name);
    return typeof v === "string" ? v.trim() : "";
  };
  const spec: JobSpecInput = {};
  if (kind === "shell") spec.shell = text("shell");
  else if (kind === "command") {
    spec.command = splitArgs(text("command"));
    if (spec.command.length === 0) throw new Error("Command is empty");
  } else {
    if (!text("runtime")) throw new Error("No runtime chosen: no connected agent offers one");
    spec.script = { runtime: text("runtime"), source: String(form.get("source") ?? "") };
  }
  if (text("name")) spec.name = text("name");
  if (text("queue")) spec.queue = text("queue");
  if (text("priority")) spec.priority = Number(text("priority"));
  if (text("timeout")) spec.timeout = text("timeout");
  if (text("delay")) spec.delay = text("delay");
  const retries = Number(text("retries") || "0");
  if (retries > 0) spec.max_attempts = retries + 1;
  const env = parseEnvLines(String(form.get("env") ?? ""));
  if (Object.keys(env).length) spec.env = env;
  return spec;
}
