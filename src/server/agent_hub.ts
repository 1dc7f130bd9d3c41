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
import type { AgentLink, AgentState } from "./agent_registry.ts";
import type { Authenticator } from "./auth.ts";
import type { Scheduler } from "./scheduler.ts";

/** Options of {@linkcode acceptAgentSocket}. */
export interface AgentHubOptions {
  scheduler: Scheduler;
  auth: Authenticator;
  /** Token from the upgrade request's `Authorization` header, if any. */
  headerToken: string | null;
  /** Time allowed for the hello frame (default 10 s). */
  helloTimeoutMs?: number;
}

/** Serves one agent connection on an upgraded WebSocket. */
export function acceptAgentSocket(socket: WebSocket, options: AgentHubOptions): void {
  const { scheduler } = options;
  const registry = scheduler.agents;
  let agent: AgentState | null = null;
  let closed = false;
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

  socket.onmessage = (ev) => {
    if (typeof ev.data !== "string") {
      sendMsg({ type: "error", code: "bad_frame", message: "expected a JSON text frame" });
      return;
    }
    if (ev.data.length > MAX_FRAME_BYTES) {
      link.close(1009, `frame larger than ${MAX_FRAME_BYTES} bytes`);
      return;
    }
    const text = ev.data;
    if (agent) return handle(text);
    chain = chain.then(() => handle(text));
  };

  const handle = (text: string): void | Promise<void> => {
    if (closed) return;
    let msg;
    try {
      msg = parseAgentMessage(text);
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
    const principal = await options.auth.authenticate(msg.token ?? options.headerToken);
    if (closed) return;
    if (!principal) {
      sendMsg({ type: "incompatible", reason: "authentication failed: bad or missing token" });
      link.close(4401, "unauthorized");
      return;
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
    clearTimeout(helloTimer);
    if (agent) registry.disconnect(agent, link);
  };
  socket.onerror = () => {};
}
