/**
 * The dashboard's session: with tokens configured, a browser logs in with an API token that the
 * server keeps in an HttpOnly, SameSite=Strict cookie; without tokens everything is open. Also
 * the same-origin check that guards every state-changing dashboard request and `/ws/ui`.
 * @module
 */

import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { Authenticator, Principal } from "./auth.ts";

/** Name of the cookie that holds the API token. */
export const SESSION_COOKIE = "jobdist_token";

/** How long a login lasts (the token itself may be revoked sooner). */
const SESSION_MAX_AGE_S = 7 * 24 * 3600;

/** The caller of a dashboard request: the cookie's token (or the bearer header), if valid. */
export async function uiPrincipal(auth: Authenticator, c: Context): Promise<Principal | null> {
  if (!auth.required) return await auth.authenticate(null);
  const header = c.req.header("authorization")?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  const token = header ?? getCookie(c, SESSION_COOKIE) ?? null;
  const principal = await auth.authenticate(token);
  return principal?.role === "admin" ? principal : null;
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
 * Whether the request's `Origin` (when a browser sent one) is this server. Browsers send it on
 * every WebSocket handshake and cross-site POST, so another site cannot use a logged-in tab.
 */
export function sameOrigin(c: Context): boolean {
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
