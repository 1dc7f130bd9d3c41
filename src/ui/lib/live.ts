/**
 * The browser side of `/ws/ui`: a hook that keeps one socket open for an island's topics,
 * reconnects with backoff and jitter, and tells the island when to resynchronise (on every
 * open, since changes made while it was away are not replayed).
 * @module
 */

import { useEffect, useRef, useState } from "preact/hooks";
import type { UiMessage, UiTopic } from "../../protocol/ui_wire.ts";

/** Connection state shown next to live data. */
export type LiveStatus = "connecting" | "live" | "offline";

/** What an island does with the stream. */
export interface LiveHandlers {
  onMessage(msg: UiMessage): void;
  /** Called on every (re)connect, after the server has subscribed the socket. */
  onOpen?(): void;
}

const MAX_BACKOFF_MS = 10_000;

/** Subscribes to `topics` while the component is mounted; returns the connection state. */
export function useLive(topics: UiTopic[], handlers: LiveHandlers): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const ref = useRef(handlers);
  ref.current = handlers;
  const key = topics.join(",");
  useEffect(() => {
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;
    const connect = () => {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/ws/ui?topics=${key}`);
      socket = ws;
      ws.onopen = () => {
        failures = 0;
        setStatus("live");
        ref.current.onOpen?.();
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== "string") return;
        ref.current.onMessage(JSON.parse(ev.data));
      };
      ws.onclose = () => {
        if (stopped) return;
        setStatus("offline");
        const base = Math.min(MAX_BACKOFF_MS, 250 * 2 ** failures++);
        timer = setTimeout(connect, base / 2 + Math.random() * base / 2);
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [key]);
  return status;
}

/** A clock that ticks every `ms` while mounted (for "5s ago" labels), starting at `initial`. */
export function useNow(initial: number, ms = 1_000): number {
  const [now, setNow] = useState(initial);
  useEffect(() => {
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
