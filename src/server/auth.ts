/**
 * Who is calling. Every HTTP request, dashboard session and agent hello passes through one
 * authenticator. Credentials come from the server's configuration (`--token`: admin,
 * `--agent-token`: agents only) and from the database (users' `jd_u_` tokens, enrolled agents'
 * `jd_a_` tokens, `jd_j_` join tokens). A server with neither is open: every caller is an
 * anonymous admin (it may then listen only on loopback).
 * @module
 */

import { getLogger } from "../log.ts";
import { type PrincipalStore, type Role, sha256, toHex } from "./principals.ts";

/** What a principal is allowed to be. */
export type PrincipalRole = Role | "agent" | "join";

/** An authenticated caller. */
export interface Principal {
  /**
   * `admin` may do everything; `user` acts on their own objects; `viewer` reads only; `agent`
   * may only speak the agent protocol; `join` may only enrol one agent.
   */
  role: PrincipalRole;
  /** The user's name (the owner of what they make), the agent's id, or a configured name. */
  name: string;
  /** `config`: a configured token; `database`: a stored token; `anonymous`: an open server. */
  source: "config" | "database" | "anonymous";
  /** Id of the stored token, for revocation. */
  tokenId?: number;
  /** Agent tokens from enrolment: the only agent id they may connect as. */
  agentId?: string;
  /** When the token stops working (ms since the epoch), if it expires. */
  expiresAt?: number | null;
}

/** Options of {@linkcode createAuthenticator}. */
export interface AuthOptions {
  /** Tokens that grant the admin role (API and agents). */
  tokens: string[];
  /** Tokens that only let agents connect. */
  agentTokens?: string[];
  /** Users and tokens in the database. */
  principals?: PrincipalStore;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
  /** Digest comparison (default {@linkcode constantTimeEqual}); tests pass a spy. */
  compare?: (a: Uint8Array, b: Uint8Array) => boolean;
}

/** Resolves a bearer token to a principal and tells long-lived connections when it ends. */
export interface Authenticator {
  /** Whether callers need a token: a token is configured, or any user or token was made. */
  readonly required: boolean;
  /** Users and tokens in the database, if the server keeps them. */
  readonly principals?: PrincipalStore;
  authenticate(token: string | null): Promise<Principal | null>;
  /**
   * Calls `onEnd` once if `principal`'s credential stops working (revoked, its user disabled,
   * expired) while `signal` is not aborted: open WebSockets close at once.
   */
  watch(principal: Principal, onEnd: (reason: string) => void, signal: AbortSignal): void;
  /** Re-checks every watched credential; call after revoking tokens or disabling users. */
  recheck(): void;
}

/** The digest compared when no stored token matches, so a miss takes the same path as a hit. */
const NO_MATCH = new Uint8Array(32);

interface Watch {
  principal: Principal;
  onEnd: (reason: string) => void;
}

/** Builds the authenticator. Tokens are compared as SHA-256 digests in constant time. */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const now = options.now ?? Date.now;
  const compare = options.compare ?? constantTimeEqual;
  const { principals } = options;
  const configured = [
    ...options.tokens.map((t) => ({ digest: sha256(t), role: "admin" as const })),
    ...(options.agentTokens ?? []).map((t) => ({ digest: sha256(t), role: "agent" as const })),
  ];
  const anyConfigured = options.tokens.length + (options.agentTokens?.length ?? 0) > 0;
  const watches = new Set<Watch>();

  /** Why a stored credential no longer works, or null while it does. */
  const invalid = (p: Principal): string | null => {
    if (p.tokenId === undefined || !principals) return null;
    const match = principals.lookupId(p.tokenId);
    if (!match || match.token.revoked_at !== null) return "token revoked";
    if (match.token.expires_at !== null && match.token.expires_at <= now()) return "token expired";
    if (match.token.user_id !== null && (!match.user || match.user.disabled)) {
      return "user disabled";
    }
    return null;
  };

  const auth: Authenticator = {
    get required() {
      return anyConfigured || (principals?.hasCredentials ?? false);
    },
    principals,
    authenticate: (token) => Promise.resolve(lookup(token)),
    watch(principal, onEnd, signal) {
      if (principal.tokenId === undefined || signal.aborted) return;
      const w: Watch = { principal, onEnd };
      watches.add(w);
      const expiry = principal.expiresAt == null ? undefined : setTimeout(
        () => end(w, "token expired"),
        Math.max(0, Math.min(principal.expiresAt - now(), 2 ** 31 - 1)),
      );
      signal.addEventListener("abort", () => {
        watches.delete(w);
        clearTimeout(expiry);
      }, { once: true });
    },
    recheck() {
      for (const w of [...watches]) {
        const why = invalid(w.principal);
        if (why) end(w, why);
      }
    },
  };

  function lookup(token: string | null): Principal | null {
    if (!auth.required) return { role: "admin", name: "anonymous", source: "anonymous" };
    if (!token) return null;
    const digest = sha256(token);
    let found: Principal | null = null;
    // Visit every entry so the time taken does not depend on which one matched.
    for (const e of configured) {
      if (compare(digest, e.digest) && !found) {
        found = { role: e.role, name: e.role, source: "config" };
      }
    }
    if (!principals) return found;
    const match = principals.lookup(toHex(digest));
    const same = compare(digest, match ? unhex(match.token.digest) : NO_MATCH);
    if (found || !match || !same) return found;
    const t = match.token;
    if (t.revoked_at !== null || (t.expires_at !== null && t.expires_at <= now())) return null;
    const base = { source: "database" as const, tokenId: t.id, expiresAt: t.expires_at };
    switch (t.kind) {
      case "user":
        if (!match.user || match.user.disabled) return null;
        return { ...base, role: match.user.role, name: match.user.name };
      case "agent":
        if (!t.agent_id) return null;
        return { ...base, role: "agent", name: t.agent_id, agentId: t.agent_id };
      case "join":
        return t.used_at === null ? { ...base, role: "join", name: `join-token-${t.id}` } : null;
    }
  }

  function end(w: Watch, reason: string): void {
    if (!watches.delete(w)) return;
    try {
      w.onEnd(reason);
    } catch (e) {
      getLogger().error("closing a connection whose credential ended failed", { error: e });
    }
  }

  return auth;
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | null | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m ? m[1] : null;
}

function unhex(text: string): Uint8Array {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Compares two byte arrays without an early exit. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether `host` is a loopback address (or `localhost`). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
