/**
 * Turns off Nagle's algorithm on the agent's TCP connections. Deno's WebSocket client has no
 * switch for it, so a frame sent while an earlier one is unacknowledged waits for the server's
 * answer (or its delayed ACK, 40 ms on Linux). On Linux with glibc (and `--allow-ffi`) the agent
 * sets `TCP_NODELAY` itself through FFI on the sockets it holds; elsewhere this does nothing, and
 * the server's immediate `started_ack` keeps the common case (`started`, then `finished`) from
 * stalling.
 * @module
 */

import { libc } from "./libc.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

const ONE = new Uint8Array(new Int32Array([1]).buffer);

/**
 * Sets `TCP_NODELAY` on every TCP socket of this process (an agent holds only its connection to
 * the server); returns on how many it was set. Other sockets refuse the option and are skipped.
 */
export function noDelayOnSockets(): number {
  const set = libc()?.setsockopt;
  if (!set) return 0;
  let done = 0;
  let entries: Iterable<Deno.DirEntry>;
  try {
    entries = Deno.readDirSync("/proc/self/fd");
  } catch {
    return 0;
  }
  for (const e of entries) {
    const fd = Number(e.name);
    try {
      if (!Deno.readLinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) continue;
    } catch {
      continue; // closed meanwhile
    }
    if (set(fd, IPPROTO_TCP, TCP_NODELAY, ONE, ONE.length) === 0) done++;
  }
  return done;
}
