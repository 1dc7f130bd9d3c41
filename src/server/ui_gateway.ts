/**
 * The dashboard's same-origin door to the REST API: `/ui/api/v1/*` is `/api/v1/*` for a browser
 * that holds a session cookie. It swaps the cookie for the bearer header the API reads, after
 * checking the request comes from this origin, so the API itself stays header-only.
 * @module
 */

import type { Context } from "hono";
import { HttpError } from "./http_error.ts";
import { sameOrigin, sessionToken } from "./ui_session.ts";

/** Where the gateway is mounted. */
export const GATEWAY_PREFIX = "/ui/api/v1";

/** Forwards `c`'s request to the API through `fetch` (the app's own handler). */
export async function forwardToApi(
  c: Context,
  fetch: (req: Request) => Response | Promise<Response>,
): Promise<Response> {
  if (!sameOrigin(c)) {
    throw new HttpError(403, "forbidden", "Cross-origin dashboard requests are not allowed");
  }
  const url = new URL(c.req.url);
  url.pathname = "/api/v1" + url.pathname.slice(GATEWAY_PREFIX.length);
  const headers = new Headers(c.req.raw.headers);
  const token = sessionToken(c);
  if (token && !headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
  headers.delete("cookie");
  const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD";
  const req = new Request(url, {
    method: c.req.method,
    headers,
    body: hasBody ? c.req.raw.body : undefined,
  });
  return await fetch(req);
}
