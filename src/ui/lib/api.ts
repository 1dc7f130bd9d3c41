/**
 * The browser's calls to the server: the REST API through the dashboard's same-origin gateway
 * (which turns the session cookie into the bearer header) and the dashboard's own JSON reads.
 * @module
 */

import type { ErrorBody } from "../../protocol/mod.ts";

/** Where the browser reaches `/api/v1`. */
export const API = "/ui/api/v1";

/** A request the server refused, with its message. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** Sends a request and returns the JSON body, throwing {@linkcode ApiError} on failure. */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "Cannot reach the server");
  }
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON; handled below.
  }
  if (!res.ok) {
    const err = isErrorBody(json) ? json.error : undefined;
    if (res.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw new ApiError(res.status, err?.message ?? `Request failed with ${res.status}`, err?.field);
  }
  return JSON.parse(text);
}

function isErrorBody(v: unknown): v is ErrorBody {
  return typeof v === "object" && v !== null && "error" in v && typeof v.error === "object" &&
    v.error !== null && "message" in v.error && typeof v.error.message === "string";
}
