/**
 * The agents page: each agent's status, slots, runtimes, labels, liveness, uptime and current
 * jobs, with drain and resume buttons. Live through the `agents` topic; uptime is fetched again
 * when an agent comes or goes, and once a minute.
 * @module
 */

import { useEffect, useRef, useState } from "preact/hooks";
import type { AgentView } from "../../protocol/mod.ts";
import { Labels, LiveDot, StateBadge } from "../components.tsx";
import { API, ApiError, call } from "../lib/api.ts";
import { formatAgo, formatBytes, formatInstant } from "../lib/format.ts";
import { useLive, useNow } from "../lib/live.ts";
import { loadUptimes, type UiUptime } from "../lib/uptime.ts";
import { Uptime } from "../uptime.tsx";

/** Props of {@linkcode LiveAgents}. */
export interface LiveAgentsProps {
  agents: AgentView[];
  /** When the server rendered the page (ms). */
  now: number;
  /** Uptime by agent id, as of `now`. */
  uptime: Record<string, UiUptime>;
}

/** How often uptime is fetched again while nothing comes or goes. */
const UPTIME_REFRESH_MS = 60_000;

const isOnline = (a: AgentView) => a.status !== "disconnected" && a.status !== "lost";

/** Reads the API through the gateway (it throws on a refusal, which loadUptimes skips). */
const apiGet = <T,>(path: string) => call<T>("GET", `${API}${path}`);

const ORDER = { busy: 0, idle: 1, draining: 2, disconnected: 3, lost: 4 };

/** The agents island. */
export function LiveAgents(props: LiveAgentsProps) {
  const [agents, setAgents] = useState(props.agents);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(props.now);
  const [uptime, setUptime] = useState(props.uptime);
  const online = useRef(new Map(props.agents.map((a) => [a.id, isOnline(a)])));
  const refreshUptime = (ids: string[]) => {
    if (ids.length === 0) return;
    loadUptimes(apiGet, ids, Date.now()).then((got) => setUptime((u) => ({ ...u, ...got })));
  };
  useEffect(() => {
    const timer = setInterval(() => refreshUptime([...online.current.keys()]), UPTIME_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const status = useLive(["agents"], {
    onMessage(msg) {
      if (msg.type !== "agents") return;
      setAgents(msg.agents);
      // A session began or ended: the timeline and the percentages moved.
      const changed = msg.agents.filter((a) => online.current.get(a.id) !== isOnline(a));
      for (const a of changed) online.current.set(a.id, isOnline(a));
      refreshUptime(changed.map((a) => a.id));
    },
  });
  const sorted = [...agents].sort((a, b) =>
    ORDER[a.status] - ORDER[b.status] || a.name.localeCompare(b.name)
  );
  const drain = async (agent: AgentView, enabled: boolean) => {
    setError(null);
    try {
      const view = await call<AgentView>(
        "POST",
        `${API}/agents/${encodeURIComponent(agent.id)}/drain`,
        { enabled },
      );
      setAgents((list) => list.map((a) => (a.id === view.id ? view : a)));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <>
      <h1>
        Agents <LiveDot status={status} />
      </h1>
      {error && <p class="error" role="alert">{error}</p>}
      {sorted.length === 0 && (
        <p class="muted">
          No agent has connected yet. Start one with <code>jobdist agent --server URL</code>.
        </p>
      )}
      <div class="cards">
        {sorted.map((a) => (
          <AgentCard
            key={a.id}
            agent={a}
            now={now}
            uptime={uptime[a.id]}
            onDrain={(enabled) => drain(a, enabled)}
          />
        ))}
      </div>
    </>
  );
}

function AgentCard(
  { agent: a, now, uptime, onDrain }: {
    agent: AgentView;
    now: number;
    uptime: UiUptime | undefined;
    onDrain: (enabled: boolean) => void;
  },
) {
  const online = isOnline(a);
  const pct = a.slots ? Math.round((a.slots_used / a.slots) * 100) : 0;
  return (
    <article class="panel agent" data-agent={a.name} aria-label={`Agent ${a.name}`}>
      <h3>
        {a.name} <StateBadge state={a.status} />
      </h3>
      <dl class="kv">
        <dt>Slots</dt>
        <dd>
          <span>{a.slots_used}/{a.slots} used</span>
          <div
            class="bar"
            role="meter"
            aria-label="slots used"
            aria-valuemin={0}
            aria-valuemax={a.slots}
            aria-valuenow={a.slots_used}
          >
            <span style={`width:${pct}%`} />
          </div>
        </dd>
        <dt>Running</dt>
        <dd>
          {a.running.length === 0 ? <span class="muted">nothing</span> : (
            <span class="labels">
              {a.running.map((id) => <a key={id} href={`/jobs/${id}`}>#{id}</a>)}
            </span>
          )}
        </dd>
        <dt>Runtimes</dt>
        <dd class="labels">
          {a.runtimes.length === 0
            ? <span class="muted">none</span>
            : a.runtimes.map((r) => (
              <span class="tag" title={r.version}>
                {r.name} {shortVersion(r.version)}
              </span>
            ))}
        </dd>
        <dt>Labels</dt>
        <dd>
          <Labels labels={a.labels} />
        </dd>
        <dt>Host</dt>
        <dd>
          {a.hostname ?? "—"} <span class="muted">v{a.version ?? "?"}</span>
          {a.facts?.load1 !== undefined && (
            <span class="muted">
              · load {a.facts.load1.toFixed(2)}
              {a.facts.cpus ? `/${a.facts.cpus}` : ""}
            </span>
          )}
          {a.facts?.mem_available !== undefined && (
            <span class="muted">· {formatBytes(a.facts.mem_available)} free</span>
          )}
        </dd>
        <dt>Connected</dt>
        <dd title={formatInstant(a.connected_since)}>
          {online ? formatAgo(a.connected_since, now) : "—"}
        </dd>
        <dt>Last heartbeat</dt>
        <dd title={formatInstant(a.last_seen)}>{formatAgo(a.last_seen, now)}</dd>
        <dt>Uptime</dt>
        <dd>
          <Uptime uptime={uptime} />
        </dd>
      </dl>
      <div class="actions">
        {a.status === "draining"
          ? <button type="button" onClick={() => onDrain(false)}>Resume</button>
          : (
            <button type="button" disabled={!online} onClick={() => onDrain(true)}>
              Drain
            </button>
          )}
      </div>
    </article>
  );
}

function shortVersion(v: string): string {
  return v.match(/\d+(\.\d+)+/)?.[0] ?? v.slice(0, 12);
}
