/**
 * Reading and following a job's output. Offsets are byte offsets into the job's whole output
 * (both streams, every attempt, as `output_bytes` counts it); `stream` filters chunks.
 * @module
 */

import { Buffer, isUtf8 } from "node:buffer";
import { isTerminal } from "../protocol/mod.ts";
import type { Scheduler } from "./scheduler.ts";
import type { JobStore } from "./store.ts";

/** How to read a log. */
export interface LogQuery {
  stream?: "stdout" | "stderr";
  offset: number;
}

/** Bytes a follower may fall behind before it is dropped. */
const FOLLOW_BACKLOG_BYTES = 8 * 1024 * 1024;

// ignoreBOM: a byte order mark in the output is output, kept (and counted) like any other.
const utf8Text = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * A piece of output as it is stored, as UTF-8 (what is written, and what offsets count): the
 * bytes themselves when they are UTF-8 (the common case: no decoding at all), else their text
 * re-encoded, with U+FFFD for each byte that is not.
 */
export function storedBytes(data: Uint8Array): Uint8Array {
  return isUtf8(data) ? data : new TextEncoder().encode(utf8Text.decode(data));
}

/** Stored output (UTF-8) as text. */
export function outputText(bytes: Uint8Array): string {
  return utf8Text.decode(bytes);
}

/** The stored output from `offset` on. */
export function readLog(store: JobStore, jobId: number, q: LogQuery): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  for (const c of store.readLogBytes(jobId, q.offset)) {
    if (q.stream && c.stream !== q.stream) continue;
    parts.push(c.offset < q.offset ? c.bytes.subarray(q.offset - c.offset) : c.bytes);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** The stored output and then new output as it arrives, until the job ends. */
export function followLog(
  scheduler: Scheduler,
  jobId: number,
  q: LogQuery,
): ReadableStream<Uint8Array> {
  // The stream's cancel() (client gone) ends the subscription.
  const stop = new AbortController();
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let next = q.offset;
      const close = () => {
        if (stop.signal.aborted) return;
        stop.abort();
        controller.close();
      };
      const write = (bytes: Uint8Array) => {
        if (bytes.length === 0 || stop.signal.aborted) return;
        controller.enqueue(bytes);
        if ((controller.desiredSize ?? 0) < -FOLLOW_BACKLOG_BYTES) {
          controller.enqueue(new TextEncoder().encode("\n[jobdist: follower too slow, dropped]\n"));
          close();
        }
      };
      // Subscribing and reading happen in one synchronous turn, so no chunk falls between.
      scheduler.events.subscribeJob(jobId, (ev) => {
        if (ev.type === "log") {
          const bytes = ev.bytes;
          const end = ev.offset + bytes.length;
          if (end <= next) return;
          if (!q.stream || ev.stream === q.stream) {
            write(ev.offset < next ? bytes.subarray(next - ev.offset) : bytes);
          }
          next = end;
        } else if (ev.type === "job" && isTerminal(ev.state)) {
          close();
        }
      }, stop.signal);
      const row = scheduler.store.getJob(jobId);
      write(readLog(scheduler.store, jobId, q));
      next = Math.max(next, row?.output_bytes ?? 0);
      if (!row || isTerminal(row.state)) close();
    },
    cancel() {
      stop.abort();
    },
    // Count the backlog in bytes (the default strategy counts chunks).
  }, { highWaterMark: 1024 * 1024, size: (chunk) => chunk.byteLength });
}
