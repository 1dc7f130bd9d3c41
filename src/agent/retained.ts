/**
 * Output an agent keeps until the server says it is durable (`log_ack`). It lives in memory up
 * to an agent-wide budget; past it (a long disconnect from a chatty job), further frames of that
 * attempt go to a spool file on disk, so the agent's memory stays bounded whatever the jobs print.
 * Frames come back in order for a resend after a reconnect.
 * @module
 */

import { encodeLogFrame, type LogFrame, parseLogFrame } from "../protocol/agent_frames.ts";

/** Memory shared by every attempt's retained output. */
export class MemoryBudget {
  used = 0;
  constructor(readonly limit: number) {}

  /** Whether `n` more bytes fit. */
  fits(n: number): boolean {
    return this.used + n <= this.limit;
  }

  /** Reserves `n` bytes if they fit. */
  take(n: number): boolean {
    if (!this.fits(n)) return false;
    this.used += n;
    return true;
  }

  /** Gives `n` bytes back. */
  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** The unacknowledged output of one attempt. */
export class RetainedOutput {
  readonly #budget: MemoryBudget;
  readonly #spoolPath: string;
  #mem: LogFrame[] = [];
  #memBytes = 0;
  /** Frames with seq in [#fileFirst, #fileLast] are in the spool file. */
  #fileFirst = -1;
  #fileLast = -1;

  constructor(budget: MemoryBudget, spoolPath: string) {
    this.#budget = budget;
    this.#spoolPath = spoolPath;
  }

  /** Whether any frame went to disk (for tests and logs). */
  get spilled(): boolean {
    return this.#fileFirst >= 0;
  }

  /** Number of frames kept in memory. */
  get inMemory(): number {
    return this.#mem.length;
  }

  /** Keeps `frame` until acknowledged. */
  add(frame: LogFrame): void {
    // Once spilling, stay on disk: the file must hold only frames newer than memory's.
    if (this.#fileFirst < 0 && this.#budget.take(frame.data.byteLength)) {
      this.#mem.push(frame);
      this.#memBytes += frame.data.byteLength;
      return;
    }
    // The spool holds the frames as sent, each behind its length (32-bit big-endian).
    const bytes = encodeLogFrame(frame);
    const record = new Uint8Array(4 + bytes.byteLength);
    new DataView(record.buffer).setUint32(0, bytes.byteLength);
    record.set(bytes, 4);
    Deno.writeFileSync(this.#spoolPath, record, { append: true, mode: 0o600 });
    if (this.#fileFirst < 0) this.#fileFirst = frame.seq;
    this.#fileLast = frame.seq;
  }

  /** Drops every frame before `seq` (the server stored them). */
  ack(seq: number): void {
    let n = 0;
    let bytes = 0;
    while (n < this.#mem.length && this.#mem[n].seq < seq) {
      bytes += this.#mem[n++].data.byteLength;
    }
    if (n) {
      this.#mem.splice(0, n);
      this.#memBytes -= bytes;
      this.#budget.release(bytes);
    }
    if (this.#fileFirst >= 0 && seq > this.#fileLast) this.#removeFile();
  }

  /** The kept frames from `seq` on, in order. */
  from(seq: number): LogFrame[] {
    const out = this.#mem.filter((f) => f.seq >= seq);
    if (this.#fileFirst >= 0 && seq <= this.#fileLast) {
      const file = Deno.readFileSync(this.#spoolPath);
      const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
      for (let at = 0; at + 4 <= file.byteLength;) {
        const end = at + 4 + view.getUint32(at);
        const frame = parseLogFrame(file.subarray(at + 4, end));
        if (frame.seq >= seq) out.push(frame);
        at = end;
      }
    }
    return out;
  }

  /** Forgets everything (the attempt is over or stale). */
  discard(): void {
    this.#budget.release(this.#memBytes);
    this.#mem = [];
    this.#memBytes = 0;
    if (this.#fileFirst >= 0) this.#removeFile();
  }

  #removeFile(): void {
    try {
      Deno.removeSync(this.#spoolPath);
    } catch {
      // already gone
    }
    this.#fileFirst = this.#fileLast = -1;
  }
}
