/**
 * Who may do what. {@linkcode Access} authenticates a request's token (refusing a source
 * address that keeps failing) and charges submissions against a user's rate and queue caps;
 * the functions below are the per-object rules every route applies:
 *
 * | role     | jobs, logs, schedules          | agents           | users, tokens, audit, admin |
 * | -------- | ------------------------------ | ---------------- | --------------------------- |
 * | `admin`  | all, read and change           | read and manage  | yes                         |
 * | `user`   | only their own, read and change | read             | no                          |
 * | `viewer` | all, read only                 | read             | no                          |
 * | `agent`  | no API at all: only `/ws/agent` |                  |                             |
 *
 * A user asking for someone else's object gets `404`, as if it did not exist.
 * @module
 */

import type { Context } from "hono";
import type { AgentView } from "../protocol/mod.ts";
import type { AuditLog } from "./audit.ts";
import type { Authenticator, Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import {
  ConnectionLimiter,
  DEFAULT_LIMITS,
  type Limits,
  RateLimiter,
  TooManyRequests,
} from "./rate_limit.ts";

/** Options of {@linkcode Access}. */
export interface AccessOptions {
  auth: Authenticator;
  /** Where logins, failures and changes are recorded; nothing is recorded without one. */
  audit?: AuditLog;
  limits?: Partial<Limits>;
  /** Wall clock in ms (default `Date.now`). */
  now?: () => number;
}

/** Authentication with abuse limits, and the audit log, for every route module. */
export class Access {
  readonly auth: Authenticator;
  readonly audit: AuditLog | undefined;
  readonly limits: Limits;
  /** Open dashboard streams per principal. */
  readonly uiSockets: ConnectionLimiter;
  /** Open agent connections per enrolled agent's token. */
  readonly agentSockets: ConnectionLimiter;
  readonly #failures: RateLimiter;
  readonly #submits: RateLimiter;

  constructor(options: AccessOptions) {
    this.auth = options.auth;
    this.audit = options.audit;
    // Unset fields (a flag not given) keep their defaults.
    const given = Object.entries(options.limits ?? {}).filter(([, v]) => v !== undefined);
    const l = this.limits = { ...DEFAULT_LIMITS, ...Object.fromEntries(given) };
    this.#failures = new RateLimiter(l.authFailureBurst, l.authFailuresPerMinute / 60, options.now);
    this.#submits = new RateLimiter(l.submitBurst, l.submitsPerSecond, options.now);
    this.uiSockets = new ConnectionLimiter(l.maxUiSocketsPerPrincipal);
    this.agentSockets = new ConnectionLimiter(l.maxAgentSocketsPerToken);
  }

  /**
   * The principal of `token`, or null (a wrong token is recorded as a failure of `source`). Throws
   * {@linkcode TooManyRequests} while `source` has failed too often, without looking at the token.
   */
  async identify(token: string | null, source: string): Promise<Principal | null> {
    const wait = this.#failures.wait(source);
    if (wait > 0) {
      throw new TooManyRequests(
        `Too many failed authentications from ${source}; try again in ${wait} s`,
        wait,
      );
    }
    const principal = await this.auth.authenticate(token);
    // A wrong token is a guess; a missing one is not (and is not worth a record either).
    if (!principal && token) {
      this.#failures.take(source);
      this.audit?.record({ action: "auth_failed", outcome: "denied", source });
    }
    return principal;
  }

  /** Like {@linkcode identify}, but a missing or bad token is a `401`. */
  async require(token: string | null, source: string): Promise<Principal> {
    const principal = await this.identify(token, source);
    if (!principal) throw new HttpError(401, "unauthorized", "Missing or invalid bearer token");
    return principal;
  }

  /**
   * Charges `count` submissions to `principal`: users have a rate and a cap on unfinished jobs
   * (`unfinished` is how many they have now); admins are not limited. Throws `403` for roles
   * that may not submit and `429` past a limit.
   */
  chargeSubmissions(principal: Principal, count: number, unfinished: () => number): void {
    requireWrite(principal);
    if (principal.role !== "user") return;
    const have = unfinished();
    if (have + count > this.limits.maxQueuedPerUser) {
      throw new TooManyRequests(
        `Cannot submit ${count} job(s): ${principal.name} has ${have} unfinished jobs and the ` +
          `limit is ${this.limits.maxQueuedPerUser}`,
        60,
      );
    }
    const wait = this.#submits.take(principal.name, count);
    if (wait > 0) {
      throw new TooManyRequests(
        `Too many submissions by ${principal.name}; try again in ${wait} s`,
        wait,
      );
    }
  }
}

/** Whether `p` may read an object owned by `owner`. */
export function canRead(p: Principal, owner: string | null): boolean {
  return p.role === "admin" || p.role === "viewer" || (p.role === "user" && owner === p.name);
}

/** Whether `p` may change (cancel, update, delete) an object owned by `owner`. */
export function canChange(p: Principal, owner: string | null): boolean {
  return p.role === "admin" || (p.role === "user" && owner === p.name);
}

/** The owner whose objects `p` may list, or undefined for everything. */
export function ownerScope(p: Principal): string | undefined {
  return p.role === "user" ? p.name : undefined;
}

/** Throws `403` unless `p` is an admin. */
export function requireAdmin(p: Principal): void {
  if (p.role !== "admin") {
    throw new HttpError(403, "forbidden", `Only admins may do this; you are ${describe(p)}`);
  }
}

/** Throws `403` unless `p` may change things (admins and users). */
export function requireWrite(p: Principal): void {
  if (p.role !== "admin" && p.role !== "user") {
    throw new HttpError(403, "forbidden", `${describe(p)} may only read`);
  }
}

/** `viewer alice`, `agent build-1`: for error messages. */
function describe(p: Principal): string {
  return `${p.role} ${p.name}`;
}

/**
 * The caller's address: the peer of the TCP connection (what `Deno.serve` hands the app as its
 * environment), `local` for in-process requests. Proxy headers are not trusted.
 */
export function sourceAddress(c: Context): string {
  try {
    const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
    return info?.remoteAddr?.hostname ?? "local";
  } catch {
    // Deno's getter throws once the request is gone.
    return "unknown";
  }
}

/**
 * Agents as `owner` may see them: the ids of jobs they run are only theirs (everyone may see
 * every agent, since a submitter needs its runtimes and labels).
 */
export function scopeAgents(
  views: AgentView[],
  owner: string | undefined,
  ownerOf: (jobId: number) => string | null | undefined,
): AgentView[] {
  if (owner === undefined) return views;
  return views.map((a) => ({ ...a, running: a.running.filter((id) => ownerOf(id) === owner) }));
}
