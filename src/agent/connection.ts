/**
 * The agent's link to the server: dials out, keeps one WebSocket open, and redials with
 * exponential backoff and full jitter after any recoverable failure. A fatal answer (bad token,
 * incompatible protocol) ends the loop with a {@linkcode FatalError}.
 * @module
 */

import { errStack, getLogger } from "../log.ts";
import { noDelayOnSockets } from "./tcp_nodelay.ts";

/** A failure that retrying cannot fix. */
export class FatalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FatalError";
  }
}

/** What the connection loop calls. */
export interface ConnectionHandlers {
  /** The socket opened: send hello. */
  onOpen(socket: WebSocket): void;
  /** A text frame arrived. Throw a FatalError to stop for good. */
  onMessage(text: string, socket: WebSocket): void;
  /** The socket closed (after onOpen). */
  onClose(code: number, reason: string): void;
}

/** Options of {@linkcode runConnection}. */
export interface ConnectionOptions {
  /** First redial delay (default 250 ms); doubles up to `maxBackoffMs` (default 5 s). */
  initialBackoffMs?: number;
  /** Longest redial delay. */
  maxBackoffMs?: number;
  /** Extra options for Deno's WebSocket (headers, TLS client). */
  init?: Record<string, unknown>;
  /** Called with each failure before the redial delay. */
  onRetry?: (error: string, delayMs: number) => void;
  /**
   * Whether the last connection got as far as being accepted by the server (welcomed); if so
   * the backoff starts over, so an agent redials fast after a server restart.
   */
  wasAccepted?: () => boolean;
}

/** Keeps a connection to `url` until `signal` aborts or a fatal error. */
export async function runConnection(
  url: string,
  handlers: ConnectionHandlers,
  signal: AbortSignal,
  options: ConnectionOptions = {},
): Promise<void> {
  const initial = options.initialBackoffMs ?? 250;
  // Kept well under the server's default grace (30 s) so a restart never costs running jobs.
  const max = options.maxBackoffMs ?? 5_000;
  let failures = 0;
  while (!signal.aborted) {
    const t0 = performance.now();
    const outcome = await connectOnce(url, handlers, signal, options.init);
    if (outcome.fatal) throw new FatalError(outcome.fatal);
    if (signal.aborted) return;
    // A connection that was accepted or lived a while was healthy: start the backoff over.
    const healthy = options.wasAccepted?.() || performance.now() - t0 > 10_000;
    failures = healthy ? 1 : failures + 1;
    const delay = Math.random() * Math.min(max, initial * 2 ** (failures - 1));
    options.onRetry?.(outcome.error, delay);
    await sleep(delay, signal);
  }
}

function connectOnce(
  url: string,
  handlers: ConnectionHandlers,
  signal: AbortSignal,
  init: Record<string, unknown> | undefined,
): Promise<{ error: string; fatal?: string }> {
  return new Promise((resolve) => {
    let socket: WebSocket;
    try {
      // Deno's WebSocket takes headers and a TLS client as a second argument.
      socket = init
        ? new (WebSocket as unknown as new (u: string, o: unknown) => WebSocket)(url, init)
        : new WebSocket(url);
    } catch (e) {
      resolve({ error: String(e), fatal: `Cannot connect to ${url}: ${e}` });
      return;
    }
    let opened = false;
    let fatal: string | undefined;
    const onAbort = () => socket.close(1000, "agent stopping");
    signal.addEventListener("abort", onAbort, { once: true });
    socket.onopen = () => {
      opened = true;
      noDelayOnSockets();
      handlers.onOpen(socket);
    };
    socket.onmessage = (ev) => {
      if (typeof ev.data !== "string") return;
      try {
        handlers.onMessage(ev.data, socket);
      } catch (e) {
        if (e instanceof FatalError) {
          fatal = e.message;
          socket.close(1000, "fatal");
        } else {
          getLogger().error("agent failed to handle a frame", { error: e, stack: errStack(e) });
        }
      }
    };
    let failure = "";
    socket.onerror = (ev) => {
      failure = ev instanceof ErrorEvent ? ev.message : "";
    };
    socket.onclose = (ev) => {
      signal.removeEventListener("abort", onAbort);
      if (opened) handlers.onClose(ev.code, ev.reason);
      // A server whose certificate does not verify is not the server: never send it the token.
      if (!opened && /certificate/i.test(failure)) {
        fatal ??= `Cannot verify the TLS certificate of ${url} (${
          failure.replace(/^.*?: (?=invalid peer certificate)/, "")
        }): give --ca FILE with the certificate of the CA that signed it`;
      }
      resolve({
        error: opened
          ? `connection closed (${ev.code} ${ev.reason})`
          : `cannot connect${failure ? ` (${failure})` : ""}`,
        fatal,
      });
    };
  });
}

/** Resolves after `ms` or when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
