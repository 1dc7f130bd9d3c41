/**
 * The `/ws/agent` endpoint: the hello handshake, frame size and shape checks, and routing of
 * frames to the scheduler. A malformed frame gets an `error` frame back; an oversized one closes
 * the socket with 1009; neither disturbs anyone else.
 * @module
 */

import {
  MAX_FRAME_BYTES,
  parseAgentMessage,
  PROTOCOL_VERSION,
  ProtocolError,
  type ServerMessage,
  VERSION,
} from "../protocol/mod.ts";
import type { Access } from "./access.ts";
import type { AgentLink, AgentState } from "./agent_registry.ts";
import type { Principal } from "./auth.ts";
import { TooManyRequests } from "./rate_limit.ts";
import type { Scheduler } from "./scheduler.ts";

/** Options of {@linkcode acceptAgentSocket}. */
export interface AgentHubOptions {
  scheduler: Scheduler;
  /** Authentication, its failure limits and the per-token connection cap. */
  access: Access;
  /** Token from the upgrade request's `Authorization` header, if any. */
  headerToken: string | null;
  /** The peer's address, for failure limits. */
  source: string;
  /** Time allowed for the hello frame (default 10 s). */
  helloTimeoutMs?: number;
}

/** Serves one agent connection on an upgraded WebSocket. */
export function acceptAgentSocket(socket: WebSocket, options: AgentHubOptions): void {
  const { scheduler } = options;
  const registry = scheduler.agents;
  let agent: AgentState | null = null;
  let closed = false;
  /** Ends the credential watch and frees the connection's place under the per-token cap. */
  const release = new AbortController();
  const link: AgentLink = {
    send: (text) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(text);
    },
    close: (code, reason) => {
      if (socket.readyState <= WebSocket.OPEN) socket.close(code, reason);
    },
  };
  const sendMsg = (msg: ServerMessage) => link.send(JSON.stringify(msg));
  const helloTimer = setTimeout(
    () => link.close(4002, "no hello frame in time"),
    options.helloTimeoutMs ?? 10_000,
  );
  // Frames are handled strictly in order; hello needs an async token check.
  let chain = Promise.resolve();

  // Job output arrives in binary frames (see `LogFrame`).
  socket.binaryType = "arraybuffer";
  socket.onmessage = (ev) => {
    const frame: string | Uint8Array = typeof ev.data === "string"
      ? ev.data
      : new Uint8Array(ev.data as ArrayBuffer);
    if (frame.length > MAX_FRAME_BYTES) {
      link.close(1009, `frame larger than ${MAX_FRAME_BYTES} bytes`);
      return;
    }
    if (agent) return handle(frame);
    chain = chain.then(() => handle(frame));
  };

  const handle = (frame: string | Uint8Array): void | Promise<void> => {
    if (closed) return;
    let msg;
    try {
      msg = parseAgentMessage(frame);
    } catch (e) {
      const message = e instanceof ProtocolError ? e.message : String(e);
      sendMsg({ type: "error", code: "bad_frame", message: `Invalid frame: ${message}` });
      return;
    }
    if (msg.type === "hello") {
      if (agent) {
        sendMsg({ type: "error", code: "bad_frame", message: "hello was already received" });
        return;
      }
      return hello(msg);
    }
    if (!agent) {
      sendMsg({ type: "error", code: "bad_frame", message: "the first frame must be hello" });
      return;
    }
    registry.touch(agent);
    scheduler.onAgentMessage(agent, msg);
  };

  const hello = async (msg: Extract<ReturnType<typeof parseAgentMessage>, { type: "hello" }>) => {
    clearTimeout(helloTimer);
    let principal: Principal | null;
    try {
      principal = await options.access.identify(msg.token ?? options.headerToken, options.source);
    } catch (e) {
      if (!(e instanceof TooManyRequests)) throw e;
      sendMsg({ type: "incompatible", reason: e.message });
      link.close(4429, "too many failed authentications");
      return;
    }
    if (closed) return;
    if (!principal) {
      sendMsg({ type: "incompatible", reason: "authentication failed: bad or missing token" });
      link.close(4401, "unauthorized");
      return;
    }
    const refusal = agentRefusal(principal, msg.agent_id);
    if (refusal) {
      sendMsg({ type: "incompatible", reason: refusal });
      link.close(4403, "forbidden");
      return;
    }
    if (principal.tokenId !== undefined) {
      const free = options.access.agentSockets.open(`token:${principal.tokenId}`);
      if (!free) {
        sendMsg({ type: "incompatible", reason: "too many connections with this agent token" });
        link.close(4429, "too many connections");
        return;
      }
      release.signal.addEventListener("abort", free, { once: true });
      // Revoking the token (or its expiry) ends the connection at once.
      options.access.auth.watch(principal, (why) => {
        sendMsg({ type: "incompatible", reason: `authentication failed: ${why}` });
        link.close(4401, why);
      }, release.signal);
    }
    if (msg.protocol !== PROTOCOL_VERSION) {
      sendMsg({
        type: "incompatible",
        reason: `protocol ${msg.protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`,
      });
      link.close(4400, "incompatible protocol");
      return;
    }
    agent = registry.connect(msg, link);
    const reconcile = scheduler.reconcile(agent, msg.inventory);
    sendMsg({
      type: "welcome",
      session: crypto.randomUUID(),
      agent_id: agent.id,
      heartbeat_ms: registry.heartbeatMs,
      server_version: VERSION,
      reconcile,
    });
    if (agent.draining) sendMsg({ type: "drain", enabled: true });
    scheduler.resendKills(agent);
    scheduler.kick();
  };

  socket.onclose = () => {
    closed = true;
    release.abort();
    clearTimeout(helloTimer);
    if (agent) registry.disconnect(agent, link);
  };
  socket.onerror = () => {};
}

/**
 * Why `p` may not connect as agent `agentId`, or null if it may: agent tokens and configured
 * tokens connect agents, users' tokens do not (an agent sees other people's job specs), and an
 * enrolled agent's token speaks only for its own agent id.
 */
function agentRefusal(p: Principal, agentId: string): string | null {
  if (p.role !== "agent" && !(p.role === "admin" && p.source !== "database")) {
    return `a ${p.role} token cannot connect an agent: use an agent token or --join-token`;
  }
  if (p.agentId !== undefined && p.agentId !== agentId) {
    return `this token belongs to agent ${p.agentId}, not ${agentId}`;
  }
  return null;
}
