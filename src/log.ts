/**
 * Logs of jobdist itself (not of jobs): one line per event on stderr, as text for people
 * (`2026-11-23T14:12:54.123Z INFO  agent connected agent_id=build-1`) or as JSON lines for
 * machines (`{"time":…,"level":"info","msg":"agent connected","agent_id":"build-1"}`).
 *
 * A line below the level costs one comparison: callers pass constant messages and put ids in
 * fields, and guard fields that take work to compute with {@linkcode Logger.enabled}.
 *
 * The server's and the agent's runtime events go to one process-wide logger
 * ({@linkcode getLogger}), as with Go's `slog.Default()`: the call sites that report errors
 * deep in the server have no options object to carry one. The roles set it up from
 * `--log-format` and `--log-level`; tests build their own with {@linkcode Logger}.
 * @module
 */

/** How much to log: each level includes the ones after it. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Every level, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** How lines look: `text` for people, `json` (one object per line) for log collectors. */
export type LogFormat = "text" | "json";

/** Every format. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** Values of a line's fields; `undefined` fields are left out, errors become their message. */
export type LogFields = Record<string, unknown>;

/** Options of {@linkcode Logger}. */
export interface LoggerOptions {
  /** Default `text`. */
  format?: LogFormat;
  /** Lines below this level are dropped (default `info`). */
  level?: LogLevel;
  /** Where a finished line goes, without its newline (default: stderr). */
  write?: (line: string) => void;
  /** Clock (ms) for the `time` of each line. */
  now?: () => number;
  /** Fields every line carries. */
  fields?: LogFields;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

const encoder = new TextEncoder();

/** Writes `line` and a newline to stderr, whole, even if the reader is slow. */
function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  for (let off = 0; off < bytes.length;) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/** A logger: `info(msg, fields)` and friends. */
export class Logger {
  readonly format: LogFormat;
  readonly level: LogLevel;
  readonly #min: number;
  readonly #write: (line: string) => void;
  readonly #now: () => number;
  readonly #fields: LogFields;

  constructor(options: LoggerOptions = {}) {
    this.format = options.format ?? "text";
    this.level = options.level ?? "info";
    this.#min = RANK[this.level];
    this.#write = options.write ?? writeStderr;
    this.#now = options.now ?? Date.now;
    this.#fields = options.fields ?? {};
  }

  /** Whether lines of `level` are written: guard fields that take work to compute. */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.#min;
  }

  /** A logger whose lines also carry `fields`. */
  with(fields: LogFields): Logger {
    return new Logger({
      format: this.format,
      level: this.level,
      write: this.#write,
      now: this.#now,
      fields: { ...this.#fields, ...fields },
    });
  }

  /** Details for someone debugging: every job's assignment and end. */
  debug(msg: string, fields?: LogFields): void {
    if (this.#min <= 0) this.#log("debug", msg, fields);
  }

  /** What an operator wants to see: agents coming and going, retries, failures. */
  info(msg: string, fields?: LogFields): void {
    if (this.#min <= 1) this.#log("info", msg, fields);
  }

  /** Something went wrong that jobdist recovers from. */
  warn(msg: string, fields?: LogFields): void {
    if (this.#min <= 2) this.#log("warn", msg, fields);
  }

  /** Something went wrong that needs a person. */
  error(msg: string, fields?: LogFields): void {
    this.#log("error", msg, fields);
  }

  #log(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    const all = fields ? { ...this.#fields, ...fields } : this.#fields;
    const time = new Date(this.#now()).toISOString();
    this.#write(
      this.format === "json" ? jsonLine(time, level, msg, all) : textLine(time, level, msg, all),
    );
  }
}

function plain(value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

function jsonLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const line: LogFields = { time, level, msg };
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined && !(k in line)) line[k] = plain(v);
  }
  return JSON.stringify(line);
}

function textLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const p = plain(v);
    const text = typeof p === "string" ? p : JSON.stringify(p);
    // Quote what would not read back as one word, so each event stays on one line.
    line += ` ${k}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return line;
}

let current = new Logger();

/** The process-wide logger (text, `info`, stderr until {@linkcode setLogger}). */
export function getLogger(): Logger {
  return current;
}

/** Replaces the process-wide logger; returns the one it replaced. */
export function setLogger(logger: Logger): Logger {
  const before = current;
  current = logger;
  return before;
}

/** The stack of `e` when it is an error (for `error` lines about bugs), else `undefined`. */
export function errStack(e: unknown): string | undefined {
  return e instanceof Error ? e.stack : undefined;
}
