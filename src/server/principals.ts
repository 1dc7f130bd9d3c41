/**
 * Users and tokens in SQLite (tables `users` and `tokens`). A token is shown once, when it is
 * made, and kept only as its SHA-256 digest: `jd_u_` tokens act for a user, `jd_a_` tokens for
 * one enrolled agent, `jd_j_` join tokens let one agent enrol. Every token carries 256 random
 * bits and may expire; revoking one (or disabling its user) takes effect on the next lookup.
 * @module
 */

import { Buffer } from "node:buffer";
import type { DatabaseSync } from "node:sqlite";
import { sha256 as sha256Bytes } from "@noble/hashes/sha2.js";
import { USER_NAME } from "../protocol/access.ts";
import { TERMINAL_STATES } from "../protocol/mod.ts";
import { Statements } from "./sql.ts";
import type { JobStore } from "./store.ts";

/** What a user may do: `admin` everything, `user` their own objects, `viewer` read only. */
export type Role = "admin" | "user" | "viewer";

/** What a token stands for. */
export type TokenKind = "user" | "agent" | "join";

/** The prefix of each kind of token, so a leaked token says what it is (and scanners find it). */
export const TOKEN_PREFIX: Readonly<Record<TokenKind, string>> = {
  user: "jd_u_",
  agent: "jd_a_",
  join: "jd_j_",
};

/** A row of `users`. */
export interface UserRow {
  id: number;
  name: string;
  role: Role;
  disabled: number;
  created_at: number;
  created_by: string | null;
}

/** A row of `tokens` (never the token itself). */
export interface TokenRow {
  id: number;
  kind: TokenKind;
  digest: string;
  /** The first characters of the token, to tell tokens apart in lists. */
  prefix: string;
  user_id: number | null;
  /** Agent tokens: the one agent id they may connect as. */
  agent_id: string | null;
  name: string | null;
  created_at: number;
  created_by: string | null;
  expires_at: number | null;
  revoked_at: number | null;
  /** Join tokens: when an agent enrolled with it (it works once). */
  used_at: number | null;
}

/** A token with its user (for user tokens), as a lookup finds it. */
export interface TokenMatch {
  token: TokenRow;
  user: UserRow | null;
}

/** What {@linkcode PrincipalStore.issue} needs. */
export interface NewToken {
  kind: TokenKind;
  userId?: number;
  agentId?: string;
  name?: string;
  expiresAt?: number | null;
  createdBy: string | null;
}

/** Names that configured and anonymous callers use, so no user can be mistaken for them. */
const RESERVED_NAMES = new Set(["anonymous", "agent"]);

/** Thrown for a request the principal store cannot carry out (unknown user, duplicate name). */
export class PrincipalError extends Error {
  constructor(readonly code: "not_found" | "conflict" | "invalid", message: string) {
    super(message);
    this.name = "PrincipalError";
  }
}

/** Users and tokens over the store's connection; writes join its group commit. */
export class PrincipalStore {
  readonly #sql: Statements;
  readonly #jobs: JobStore;
  readonly #now: () => number;
  #hasCredentials: boolean;

  constructor(options: { db: DatabaseSync; jobs: JobStore; now?: () => number }) {
    this.#sql = new Statements(options.db);
    this.#jobs = options.jobs;
    this.#now = options.now ?? Date.now;
    this.#hasCredentials = this.#sql.get("SELECT 1 AS x FROM tokens LIMIT 1") !== undefined ||
      this.#sql.get("SELECT 1 AS x FROM users LIMIT 1") !== undefined;
  }

  /** Whether any user or token was ever made: from then on every caller needs a token. */
  get hasCredentials(): boolean {
    return this.#hasCredentials;
  }

  /** Creates a user; throws a conflict if the name is taken. */
  createUser(name: string, role: Role, createdBy: string | null): UserRow {
    if (!USER_NAME.test(name) || RESERVED_NAMES.has(name)) {
      throw new PrincipalError(
        "invalid",
        `name: "${name}" is not a valid user name (letters, digits, _ . -, starting with a letter; not "anonymous" or "agent")`,
      );
    }
    if (this.user(name)) {
      throw new PrincipalError("conflict", `Cannot create user ${name}: the name is taken`);
    }
    this.#jobs.write(() =>
      this.#sql.run(
        "INSERT INTO users (name, role, created_at, created_by) VALUES (?, ?, ?, ?)",
        name,
        role,
        this.#now(),
        createdBy,
      )
    );
    this.#hasCredentials = true;
    return this.user(name)!;
  }

  /** The user called `name`, if any. */
  user(name: string): UserRow | undefined {
    return this.#sql.get<UserRow>("SELECT * FROM users WHERE name = ?", name);
  }

  /** Every user, by name. */
  users(): UserRow[] {
    return this.#sql.all<UserRow>("SELECT * FROM users ORDER BY name");
  }

  /** Disables (or enables) a user: their tokens stop working at once. */
  setDisabled(name: string, disabled: boolean): UserRow {
    const user = this.user(name);
    if (!user) throw new PrincipalError("not_found", `No user ${name}`);
    this.#jobs.write(() =>
      this.#sql.run("UPDATE users SET disabled = ? WHERE id = ?", disabled ? 1 : 0, user.id)
    );
    return this.user(name)!;
  }

  /** Makes a token; the returned text is the only copy. */
  issue(t: NewToken): { token: string; row: TokenRow } {
    const token = TOKEN_PREFIX[t.kind] +
      Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const digest = tokenDigest(token);
    const r = this.#jobs.write(() =>
      this.#sql.run(
        `INSERT INTO tokens (kind, digest, prefix, user_id, agent_id, name, created_at, created_by,
           expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        t.kind,
        digest,
        token.slice(0, 12),
        t.userId ?? null,
        t.agentId ?? null,
        t.name ?? null,
        this.#now(),
        t.createdBy,
        t.expiresAt ?? null,
      )
    );
    this.#hasCredentials = true;
    return { token, row: this.token(Number(r.lastInsertRowid))! };
  }

  /**
   * Registers a token an operator chose (from `--admin-token-file`) for user `userId`, once:
   * a second call with the same token does nothing.
   */
  adopt(token: string, userId: number, name: string): void {
    const digest = tokenDigest(token);
    if (this.#sql.get("SELECT 1 AS x FROM tokens WHERE digest = ?", digest)) return;
    this.#jobs.write(() =>
      this.#sql.run(
        `INSERT INTO tokens (kind, digest, prefix, user_id, name, created_at)
         VALUES ('user', ?, ?, ?, ?, ?)`,
        digest,
        token.slice(0, 6),
        userId,
        name,
        this.#now(),
      )
    );
    this.#hasCredentials = true;
  }

  /** The token with `id`, if any. */
  token(id: number): TokenRow | undefined {
    return this.#sql.get<TokenRow>("SELECT * FROM tokens WHERE id = ?", id);
  }

  /** Tokens, newest first; optionally of one user. */
  tokens(filter: { userId?: number } = {}): TokenRow[] {
    return filter.userId === undefined
      ? this.#sql.all<TokenRow>("SELECT * FROM tokens ORDER BY id DESC")
      : this.#sql.all<TokenRow>(
        "SELECT * FROM tokens WHERE user_id = ? ORDER BY id DESC",
        filter.userId,
      );
  }

  /** The token whose digest is `digest`, with its user. */
  lookup(digest: string): TokenMatch | null {
    return this.#withUser(this.#sql.get<TokenRow>("SELECT * FROM tokens WHERE digest = ?", digest));
  }

  /** The token with `id`, with its user. */
  lookupId(id: number): TokenMatch | null {
    return this.#withUser(this.token(id));
  }

  #withUser(token: TokenRow | undefined): TokenMatch | null {
    if (!token) return null;
    const user = token.user_id === null
      ? null
      : this.#sql.get<UserRow>("SELECT * FROM users WHERE id = ?", token.user_id) ?? null;
    return { token, user };
  }

  /** Revokes token `id` now (a second revoke keeps the first instant). */
  revoke(id: number): TokenRow {
    if (!this.token(id)) throw new PrincipalError("not_found", `No token ${id}`);
    this.#jobs.write(() =>
      this.#sql.run(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
        this.#now(),
        id,
      )
    );
    return this.token(id)!;
  }

  /** Revokes every token of agent `agentId`; returns how many were still active. */
  revokeAgent(agentId: string): number {
    return this.#jobs.write(() =>
      Number(
        this.#sql.run(
          `UPDATE tokens SET revoked_at = ?
           WHERE kind = 'agent' AND agent_id = ? AND revoked_at IS NULL`,
          this.#now(),
          agentId,
        ).changes,
      )
    );
  }

  /** How many of `owner`'s jobs have not finished (the per-user queue cap counts these). */
  unfinishedJobs(owner: string): number {
    const terminal = [...TERMINAL_STATES];
    return this.#sql.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM jobs
        WHERE owner = ? AND state NOT IN (${terminal.map(() => "?").join(",")})`,
      owner,
      ...terminal,
    )!.n;
  }

  /**
   * Marks join token `id` used by agent `agentId`, only if it still is unused: false when another
   * enrolment got there first.
   */
  useJoinToken(id: number, agentId: string): boolean {
    return this.#jobs.write(() =>
      Number(
        this.#sql.run(
          "UPDATE tokens SET used_at = ?, agent_id = ? WHERE id = ? AND used_at IS NULL",
          this.#now(),
          agentId,
          id,
        ).changes,
      ) === 1
    );
  }
}

/** The SHA-256 digest of `token`, as lowercase hex. */
export function tokenDigest(token: string): string {
  return toHex(sha256(token));
}

/**
 * The SHA-256 digest of `text`. Synchronous, so not `crypto.subtle`; and not `node:crypto`,
 * whose polyfill took about 2 MB of an idle server's memory (bench B7).
 */
export function sha256(text: string): Uint8Array {
  return sha256Bytes(new TextEncoder().encode(text));
}

/**
 * Makes sure user `admin` (role admin) exists and holds a token: `token` when the operator chose
 * one (`--admin-token-file`), else a new one, returned so the server can print it once.
 * Returns null when `token` was given.
 */
export function bootstrapAdmin(principals: PrincipalStore, token?: string): string | null {
  const user = principals.user("admin") ?? principals.createUser("admin", "admin", null);
  if (token !== undefined) {
    principals.adopt(token, user.id, "admin token file");
    return null;
  }
  return principals.issue({ kind: "user", userId: user.id, name: "bootstrap", createdBy: null })
    .token;
}

/** `bytes` as lowercase hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
