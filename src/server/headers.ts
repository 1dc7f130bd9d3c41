/**
 * Security headers on every response: no sniffing, no framing, no referrer leaks, isolation
 * from other origins, HSTS over HTTPS, and a deny-all Content-Security-Policy for anything that
 * does not set its own (the dashboard's pages set {@linkcode PAGE_CSP}).
 * @module
 */

import type { MiddlewareHandler } from "hono";

/**
 * The dashboard pages' policy: scripts and stylesheets only from this origin (no inline
 * script, no `eval`), style attributes allowed (the log tail colours runs with them), nothing
 * may frame the page, forms post only here.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "style-src-attr 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

/** The policy of every other response (JSON, text, the bundle): it may load nothing. */
const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

const HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
};

/** Adds the security headers to every response (keeping a route's own CSP). */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // A WebSocket upgrade's 101 has immutable headers.
    if (c.res.status === 101) return;
    let h = c.res.headers;
    try {
      h.set("x-content-type-options", "nosniff");
    } catch {
      // Some responses (a fetch()'s) have immutable headers: copy them.
      c.res = new Response(c.res.body, c.res);
      h = c.res.headers;
    }
    for (const [k, v] of Object.entries(HEADERS)) if (!h.has(k)) h.set(k, v);
    if (!h.has("content-security-policy")) h.set("content-security-policy", DEFAULT_CSP);
    if (new URL(c.req.url).protocol === "https:") {
      h.set("strict-transport-security", "max-age=31536000");
    }
  };
}
