/**
 * The audit log (table `audit_log`, append-only: triggers refuse updates and deletes): logins,
 * failed authentications, token and user changes, submissions, cancels and agent enrolments,
 * each with the principal and the source address. Rows join the store's group commit, so an
 * action and its record commit together.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { AuditEntry } from "../protocol/access.ts";
import type { Principal } from "./auth.ts";
import { Statements } from "./sql.ts";
import type { JobStore } from "./store.ts";

/** What happened. */
export type AuditAction =
  | "login"
  | "auth_failed"
  | "user.create"
  | "user.disable"
  | "user.enable"
  | "token.create"
  | "token.revoke"
  | "agent.enrol"
  | "agent.revoke"
  | "job.submit"
  | "job.cancel";

/** What {@linkcode AuditLog.record} takes. */
export interface AuditRecord {
  action: AuditAction;
  outcome?: "ok" | "denied";
  principal?: Principal | null;
  source?: string | null;
  target?: string | null;
  detail?: Record<string, unknown>;
}

/** Query of {@linkcode AuditLog.list}. */
export interface AuditQuery {
  action?: string;
  principal?: string;
  /** Only entries with a smaller id (the previous page's `next_cursor`). */
  beforeId?: number;
  limit: number;
}

type AuditRow = Omit<AuditEntry, "at" | "detail"> & { at: number; detail: string | null };

/** Appends to and reads the audit log. */
export class AuditLog {
  readonly #sql: Statements;
  readonly #jobs: JobStore;
  readonly #now: () => number;

  constructor(options: { db: DatabaseSync; jobs: JobStore; now?: () => number }) {
    this.#sql = new Statements(options.db);
    this.#jobs = options.jobs;
    this.#now = options.now ?? Date.now;
  }

  /** Appends one record (in the open group commit; await the store's `durable()` to be sure). */
  record(r: AuditRecord): void {
    this.#jobs.write(() =>
      this.#sql.run(
        `INSERT INTO audit_log (at, action, outcome, principal, role, source, target, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        this.#now(),
        r.action,
        r.outcome ?? "ok",
        r.principal?.name ?? null,
        r.principal?.role ?? null,
        r.source ?? null,
        r.target ?? null,
        r.detail ? JSON.stringify(r.detail) : null,
      )
    );
  }

  /** Entries newest first. */
  list(q: AuditQuery): AuditEntry[] {
    const rows = this.#sql.all<AuditRow>(
      `SELECT * FROM audit_log
        WHERE (?1 IS NULL OR action = ?1) AND (?2 IS NULL OR principal = ?2)
          AND (?3 IS NULL OR id < ?3)
        ORDER BY id DESC LIMIT ?4`,
      q.action ?? null,
      q.principal ?? null,
      q.beforeId ?? null,
      q.limit,
    );
    return rows.map((r) => ({
      ...r,
      at: new Date(r.at).toISOString(),
      detail: r.detail ? JSON.parse(r.detail) : null,
    }));
  }
}
