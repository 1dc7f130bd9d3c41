/**
 * The job page's log: the tail of a job's output that follows new output while the job runs.
 * stdout and stderr are told apart by colour (and can be shown alone), ANSI colours are
 * rendered, and the text only ever becomes text nodes. At most {@linkcode MAX_SHOWN_BYTES} stay
 * on the page; earlier output loads a page at a time.
 * @module
 */

import { Component } from "preact";
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { type AnsiRun, type AnsiStyle, parseAnsi } from "./lib/ansi.ts";
import { API, call } from "./lib/api.ts";
import { formatBytes } from "./lib/format.ts";
import type { UiLogChunk, UiLogPage } from "../protocol/ui_wire.ts";

/** Output kept on the page before the oldest is dropped. */
export const MAX_SHOWN_BYTES = 2 * 1024 * 1024;

type Stream = "stdout" | "stderr";
const STREAMS: Stream[] = ["stdout", "stderr"];

/** A whole line of one stream (without its newline). */
interface Line {
  key: number;
  stream: Stream;
  runs: AnsiRun[];
}

/**
 * The output on the page. Chunks of the two streams arrive interleaved and not always on line
 * boundaries, so each stream's unfinished line waits in `pending` until its newline comes; a
 * line is attributed to the stream that wrote it.
 */
export interface LogState {
  /** The stored chunks on the page, in offset order. */
  chunks: UiLogChunk[];
  lines: Line[];
  pending: Record<Stream, string>;
  /** ANSI style in force at the start of each stream's pending line. */
  styles: Record<Stream, AnsiStyle>;
  /** Offset of the first byte on the page. */
  from: number;
  /** Offset just past the last byte on the page. */
  end: number;
  nextKey: number;
}

const encoder = new TextEncoder();
const bytesOf = (c: UiLogChunk) => encoder.encode(c.data).length;

function empty(at: number): LogState {
  return {
    chunks: [],
    lines: [],
    pending: { stdout: "", stderr: "" },
    styles: { stdout: {}, stderr: {} },
    from: at,
    end: at,
    nextKey: 0,
  };
}

/** The log state of a first page. */
export function initialLog(page: UiLogPage): LogState {
  return addChunks(empty(page.from), page.chunks);
}

/**
 * Adds chunks (from the stream or a fetch, in any order, possibly repeated) to the state. Chunks
 * are whole stored chunks, so a known offset is a duplicate.
 */
export function addChunks(state: LogState, chunks: UiLogChunk[]): LogState {
  const fresh = chunks.filter((c) => c.offset >= state.end).sort((a, b) => a.offset - b.offset);
  const known = new Set(state.chunks.map((c) => c.offset));
  const earlier = chunks.filter((c) => c.offset < state.from && !known.has(c.offset));
  if (fresh.length === 0 && earlier.length === 0) return state;
  if (earlier.length) {
    // Rare (loading an earlier page): rebuild so lines and colours join up across the seam.
    const all = [...earlier, ...state.chunks, ...fresh].sort((a, b) => a.offset - b.offset);
    return addChunks(empty(all[0].offset), all);
  }
  let next: LogState = {
    ...state,
    chunks: [...state.chunks],
    lines: [...state.lines],
    pending: { ...state.pending },
    styles: { ...state.styles },
  };
  for (const c of fresh) {
    if (c.offset < next.end) continue;
    next.chunks.push(c);
    next.end = c.offset + bytesOf(c);
    feed(next, c);
  }
  if (next.end - next.from > MAX_SHOWN_BYTES) {
    // Drop to three quarters at once, so a busy log rebuilds rarely.
    let keep = next.chunks.length;
    let size = 0;
    while (keep > 1 && size + bytesOf(next.chunks[keep - 1]) < MAX_SHOWN_BYTES * 0.75) {
      size += bytesOf(next.chunks[--keep]);
    }
    const rest = next.chunks.slice(keep);
    next = empty(rest[0].offset);
    for (const c of rest) {
      next.chunks.push(c);
      next.end = c.offset + bytesOf(c);
      feed(next, c);
    }
  }
  return next;
}

/** Splits a chunk into its stream's lines (mutates the fresh copy `s`). */
function feed(s: LogState, c: UiLogChunk): void {
  const parts = c.data.split("\n");
  s.pending[c.stream] += parts[0];
  for (let i = 1; i < parts.length; i++) {
    const parsed = parseAnsi(s.pending[c.stream], s.styles[c.stream]);
    s.styles[c.stream] = parsed.style;
    s.lines.push({ key: s.nextKey++, stream: c.stream, runs: parsed.runs });
    s.pending[c.stream] = parts[i];
  }
}

/** Props of {@linkcode LogTail}. */
export interface LogTailProps {
  jobId: number;
  log: LogState;
  setLog: (update: (s: LogState) => LogState) => void;
  /** Whether more output may come. */
  active: boolean;
  /** Total output size so far. */
  total: number;
}

/** The log panel. */
export function LogTail({ jobId, log, setLog, active, total }: LogTailProps) {
  const [follow, setFollow] = useState(true);
  const [only, setOnly] = useState<"all" | "stdout" | "stderr">("all");
  const [loading, setLoading] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  useLayoutEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [log.end, follow]);
  const onScroll = () => {
    const el = pre.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (!atBottom && follow) setFollow(false);
  };
  const loadEarlier = async () => {
    setLoading(true);
    try {
      const page = await call<UiLogPage>("GET", `/ui/data/jobs/${jobId}/log?before=${log.from}`);
      setLog((s) => addChunks(s, page.chunks));
    } finally {
      setLoading(false);
    }
  };
  return (
    <section aria-label="Output">
      <div class="log-tools">
        <h2 style="margin:0">Output</h2>
        <span class="muted">{formatBytes(total)}</span>
        <label style="flex-direction:row;align-items:center;gap:6px">
          Show
          <select value={only} onChange={(e) => setOnly(streamChoice(e.currentTarget.value))}>
            <option value="all">stdout and stderr</option>
            <option value="stdout">stdout only</option>
            <option value="stderr">stderr only</option>
          </select>
        </label>
        <button type="button" aria-pressed={follow} onClick={() => setFollow(!follow)}>
          {follow ? "Pause follow" : "Follow"}
        </button>
        <a class="button" href={`${API}/jobs/${jobId}/logs`} download={`job-${jobId}.log`}>
          Download
        </a>
      </div>
      <pre
        class={`log only-${only}`}
        ref={pre}
        onScroll={onScroll}
        tabIndex={0}
        aria-label="Job output"
        aria-live="off"
        data-log
      >
        {log.from > 0 && (
          <button type="button" class="marker" disabled={loading} onClick={loadEarlier}>
            {loading ? "Loading…" : `Load earlier output (${formatBytes(log.from)} not shown)`}
          </button>
        )}
        {log.lines.map((line) => <LineView key={line.key} line={line} />)}
        {STREAMS.map((stream) =>
          log.pending[stream] && (
            <LineView
              key={stream}
              line={{ key: -1, stream, ...parsePending(log, stream) }}
              partial
            />
          )
        )}
        {log.chunks.length === 0 && (
          <span class="marker">{active ? "Waiting for output…" : "No output."}</span>
        )}
      </pre>
      <p class="muted" style="font-size:12px">
        <span class="err" style="color:var(--bad)">Red text</span> is stderr.
      </p>
    </section>
  );
}

function streamChoice(value: string): "all" | "stdout" | "stderr" {
  return value === "stdout" || value === "stderr" ? value : "all";
}

/** The unfinished line of a stream, styled as it stands. */
function parsePending(log: LogState, stream: Stream): { runs: AnsiRun[] } {
  return { runs: parseAnsi(log.pending[stream], log.styles[stream]).runs };
}

/** One line; lines never change once on the page, so they never re-render. */
class LineView extends Component<{ line: Line; partial?: boolean }> {
  override shouldComponentUpdate(next: { line: Line; partial?: boolean }): boolean {
    return next.line !== this.props.line;
  }

  override render() {
    const { line, partial } = this.props;
    return (
      <span class={line.stream === "stderr" ? "err" : "out"} data-stream={line.stream}>
        {line.runs.map((r, i) => <Run key={i} run={r} />)}
        {partial ? "" : "\n"}
      </span>
    );
  }
}

function Run({ run }: { run: AnsiRun }) {
  const s = run.style;
  if (Object.keys(s).length === 0) return <>{run.text}</>;
  let fg = s.fg, bg = s.bg;
  if (s.inverse) [fg, bg] = [bg ?? 0, fg ?? 7];
  const cls = [
    typeof fg === "number" ? `f${fg}` : "",
    typeof bg === "number" ? `b${bg}` : "",
    s.bold ? "a-b" : "",
    s.dim ? "a-d" : "",
    s.italic ? "a-i" : "",
    s.underline ? "a-u" : "",
  ].filter(Boolean).join(" ");
  const style = [
    typeof fg === "string" ? `color:${fg}` : "",
    typeof bg === "string" ? `background:${bg}` : "",
  ].filter(Boolean).join(";");
  return <span class={cls || undefined} style={style || undefined}>{run.text}</span>;
}
