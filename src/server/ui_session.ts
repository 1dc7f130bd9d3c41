/**
 * The dashboard's session: with tokens configured, a browser logs in with an API token that the
 * server keeps in an HttpOnly, SameSite=Strict cookie; without tokens everything is open. Also
 * the same-origin check that guards every state-changing dashboard request and `/ws/ui`.
 * @module
 */

import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { type Access, sourceAddress } from "./access.ts";
import type { Principal } from "./auth.ts";

/** Name of the cookie that holds the API token. */
export const SESSION_COOKIE = "jobdist_token";

/** How long a login lasts (the token itself may be revoked sooner). */
const SESSION_MAX_AGE_S = 7 * 24 * 3600;

/**
 * The caller of a dashboard request: the cookie's token (or the bearer header), if valid and a
 * person's (admin, user or viewer). A bad token counts as a failed authentication.
 */
export async function uiPrincipal(access: Access, c: Context): Promise<Principal | null> {
  if (!access.auth.required) return await access.auth.authenticate(null);
  const header = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  const token = header ?? getCookie(c, SESSION_COOKIE) ?? null;
  if (!token) return null;
  const principal = await access.identify(token, sourceAddress(c));
  return isPerson(principal) ? principal : null;
}

/** Whether `p` is a person (admin, user or viewer): agent and join tokens never log in. */
export function isPerson(p: Principal | null): p is Principal {
  return p?.role === "admin" || p?.role === "user" || p?.role === "viewer";
}

/** The token of the session cookie, if any. */
export function sessionToken(c: Context): string | null {
  return getCookie(c, SESSION_COOKIE) ?? null;
}

/** The `Set-Cookie` value that logs a browser in with `token`. */
export function loginCookie(token: string, secure: boolean): string {
  return [
    `${SESSION_COOKIE}=${encodeURIComponent(token)}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${SESSION_MAX_AGE_S}`,
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

/** The `Set-Cookie` value that logs a browser out. */
export function logoutCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** Whether the request came over HTTPS (directly or, as its proxy says, through one). */
export function isSecure(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" ||
    c.req.header("x-forwarded-proto") === "https";
}

/**
 * Whether the request comes from this server's own pages (CSRF protection of the cookie
 * session): a browser's `Sec-Fetch-Site` must be `same-origin` (or `none`: typed by the user),
 * and its `Origin` (sent on every WebSocket handshake and cross-site POST) must be this server.
 * Requests with neither header do not come from a browser page and pass.
 */
export function sameOrigin(c: Context): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") return false;
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  const host = c.req.header("x-forwarded-host") ?? c.req.header("host");
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** A path inside the dashboard to go back to after login (never another site). */
export function safeNext(next: string | undefined | null): string {
  return next && /^\/(?!\/)[^\\\s]*$/.test(next) ? next : "/";
}
