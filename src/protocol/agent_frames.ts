/**
 * The parts of the agent protocol (see `agent_wire.ts`) an agent needs, without zod: the version,
 * the limits, the binary `log` frame codec and a reader of the server's frames, so an agent need
 * not load a schema library (zod and the schemas it builds take about 15 MB of memory). The frames' shapes are
 * defined once, by the zod schemas in `agent_wire.ts`; the reader here returns those types and
 * checks what the agent relies on. The server validates agent frames strictly with the schemas.
 * @module
 */

import { ProtocolError } from "./errors.ts";
import type { ServerMessage } from "./agent_wire.ts";

/**
 * Bumped on any incompatible change to the protocol's frames (2: output in binary frames; 3:
 * `finished` may carry the `pid` of a `started` never sent).
 */
export const PROTOCOL_VERSION = 3;

/** Largest frame either side accepts; larger ones close the socket with 1009. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

/** Largest `data` an agent puts in one `log` frame (bytes). */
export const LOG_CHUNK_BYTES = 256 * 1024;

/** Longest attempt id. */
export const ATTEMPT_ID_MAX = 100;

/**
 * A piece of a job's output, in order by `seq` per attempt; `data` is raw bytes, cut by the agent
 * only between UTF-8 characters. On the wire it is a binary frame: byte 0 is
 * {@linkcode LOG_FRAME_KIND}, byte 1 the stream (0 stdout, 1 stderr), bytes 2-5 `seq` (unsigned
 * 32-bit big-endian), byte 6 the length N of the attempt id, then the attempt id (ASCII), then
 * the data.
 */
export interface LogFrame {
  type: "log";
  attempt_id: string;
  seq: number;
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

/** First byte of a binary `log` frame. */
export const LOG_FRAME_KIND = 1;
const LOG_HEADER_BYTES = 7;

/** Encodes `frame` as a binary frame. */
export function encodeLogFrame(frame: LogFrame): Uint8Array<ArrayBuffer> {
  const id = frame.attempt_id;
  const out = new Uint8Array(LOG_HEADER_BYTES + id.length + frame.data.byteLength);
  const view = new DataView(out.buffer);
  out[0] = LOG_FRAME_KIND;
  out[1] = frame.stream === "stdout" ? 0 : 1;
  view.setUint32(2, frame.seq);
  out[6] = id.length;
  for (let i = 0; i < id.length; i++) out[LOG_HEADER_BYTES + i] = id.charCodeAt(i);
  out.set(frame.data, LOG_HEADER_BYTES + id.length);
  return out;
}

/** Decodes a binary frame from an agent (already size-checked); `data` is a view, not a copy. */
export function parseLogFrame(bytes: Uint8Array): LogFrame {
  if (bytes.byteLength < LOG_HEADER_BYTES || bytes[0] !== LOG_FRAME_KIND) {
    throw new ProtocolError("", `expected a log frame (binary, first byte ${LOG_FRAME_KIND})`);
  }
  if (bytes[1] > 1) throw new ProtocolError("stream", "expected 0 (stdout) or 1 (stderr)");
  const idLength = bytes[6];
  const dataAt = LOG_HEADER_BYTES + idLength;
  if (idLength < 1 || idLength > ATTEMPT_ID_MAX || bytes.byteLength < dataAt) {
    throw new ProtocolError("attempt_id", `expected 1 to ${ATTEMPT_ID_MAX} bytes`);
  }
  let attemptId = "";
  for (let i = LOG_HEADER_BYTES; i < dataAt; i++) {
    if (bytes[i] < 0x21 || bytes[i] > 0x7e) {
      throw new ProtocolError("attempt_id", "expected printable ASCII");
    }
    attemptId += String.fromCharCode(bytes[i]);
  }
  return {
    type: "log",
    attempt_id: attemptId,
    seq: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(2),
    stream: bytes[1] === 0 ? "stdout" : "stderr",
    data: bytes.subarray(dataAt),
  };
}

/** Parses a text frame from the server (the agent's side; see the module doc). */
export function parseServerMessage(text: string): ServerMessage {
  const m = object(parseJsonFrame(text), "");
  switch (m.type) {
    case "welcome":
      return {
        type: "welcome",
        session: str(m, "session"),
        agent_id: str(m, "agent_id"),
        heartbeat_ms: int(m, "heartbeat_ms", 1),
        server_version: str(m, "server_version"),
        reconcile: list(m, "reconcile").map((item, i) => {
          const r = object(item, `reconcile.${i}`);
          return {
            attempt_id: attemptId(r, `reconcile.${i}.attempt_id`),
            action: oneOf(r, "action", ["keep", "kill", "ack"] as const, `reconcile.${i}.`),
            log_seq: int(r, "log_seq", 0, `reconcile.${i}.`),
          };
        }),
      };
    case "incompatible":
      return { type: "incompatible", reason: str(m, "reason") };
    case "assign":
      return {
        type: "assign",
        job_id: int(m, "job_id", 1),
        attempt_id: attemptId(m, "attempt_id"),
        attempt: int(m, "attempt", 1),
        spec: spec(m.spec),
        timeout_ms: m.timeout_ms === null ? null : int(m, "timeout_ms", 1),
        kill_grace_ms: int(m, "kill_grace_ms", 0),
        max_output_bytes: int(m, "max_output_bytes", 0),
        ...(m.secrets === undefined ? {} : { secrets: strings(m.secrets, "secrets") }),
      };
    case "cancel":
      return {
        type: "cancel",
        attempt_id: attemptId(m, "attempt_id"),
        reason: oneOf(m, "reason", ["cancelled", "timeout", "stale", "drain"] as const),
      };
    case "log_ack":
      return {
        type: "log_ack",
        attempt_id: attemptId(m, "attempt_id"),
        log_seq: int(m, "log_seq", 0),
      };
    case "ack":
    case "started_ack":
      return { type: m.type, attempt_id: attemptId(m, "attempt_id") };
    case "reject":
      return { type: "reject", attempt_id: attemptId(m, "attempt_id"), reason: str(m, "reason") };
    case "drain":
      if (typeof m.enabled !== "boolean") throw new ProtocolError("enabled", "expected a boolean");
      return { type: "drain", enabled: m.enabled };
    case "error":
      return { type: "error", code: str(m, "code"), message: str(m, "message") };
    default:
      throw new ProtocolError("type", `unknown frame type ${JSON.stringify(m.type)}`);
  }
}

/** `JSON.parse` with a {@linkcode ProtocolError} for text that is not JSON. */
export function parseJsonFrame(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError("", "frame is not valid JSON");
  }
}

type Fields = Record<string, unknown>;
type Assign = Extract<ServerMessage, { type: "assign" }>;

function object(v: unknown, field: string): Fields {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ProtocolError(field, "expected an object");
  }
  return v as Fields;
}

function str(m: Fields, key: string, prefix = ""): string {
  if (typeof m[key] !== "string") throw new ProtocolError(prefix + key, "expected a string");
  return m[key];
}

function int(m: Fields, key: string, min: number, prefix = ""): number {
  const v = m[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new ProtocolError(prefix + key, `expected a whole number >= ${min}`);
  }
  return v;
}

function attemptId(m: Fields, field: string): string {
  const v = m[field.slice(field.lastIndexOf(".") + 1)];
  if (typeof v !== "string" || v.length < 1 || v.length > ATTEMPT_ID_MAX) {
    throw new ProtocolError(field, `expected an attempt id (1 to ${ATTEMPT_ID_MAX} characters)`);
  }
  return v;
}

function oneOf<T extends string>(m: Fields, key: string, values: readonly T[], prefix = ""): T {
  if (!values.includes(m[key] as T)) {
    throw new ProtocolError(prefix + key, `expected one of ${values.join(", ")}`);
  }
  return m[key] as T;
}

function list(m: Fields, key: string): unknown[] {
  if (!Array.isArray(m[key])) throw new ProtocolError(key, "expected an array");
  return m[key];
}

function strings(v: unknown, field: string): Record<string, string> {
  const m = object(v, field);
  for (const [k, value] of Object.entries(m)) {
    if (typeof value !== "string") throw new ProtocolError(`${field}.${k}`, "expected a string");
  }
  return m as Record<string, string>;
}

/**
 * The spec as the server stored it (validated, defaults applied, when the job was accepted);
 * checked here only in what the agent acts on.
 */
function spec(v: unknown): Assign["spec"] {
  const s = object(v, "spec");
  const kinds = ["command", "shell", "script"].filter((k) => s[k] !== undefined);
  if (kinds.length !== 1) {
    throw new ProtocolError("spec", "expected exactly one of command, shell and script");
  }
  if (
    s.command !== undefined &&
    (!Array.isArray(s.command) || s.command.length === 0 ||
      s.command.some((a) => typeof a !== "string"))
  ) throw new ProtocolError("spec.command", "expected a non-empty list of strings");
  if (s.shell !== undefined) str(s, "shell", "spec.");
  if (s.script !== undefined) {
    const script = object(s.script, "spec.script");
    str(script, "runtime", "spec.script.");
    str(script, "source", "spec.script.");
  }
  if (s.cwd !== undefined) str(s, "cwd", "spec.");
  if (s.max_line_bytes !== undefined) int(s, "max_line_bytes", 1, "spec.");
  if (s.on_output_limit !== undefined) {
    oneOf(s, "on_output_limit", ["truncate", "fail"] as const, "spec.");
  }
  if (s.env !== undefined) {
    for (const [k, value] of Object.entries(object(s.env, "spec.env"))) {
      if (typeof value !== "string" && typeof object(value, `spec.env.${k}`).secret !== "string") {
        throw new ProtocolError(`spec.env.${k}`, "expected a string or {secret: NAME}");
      }
    }
  }
  return s as Assign["spec"];
}

/** For exhaustive `switch`es over message unions. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
