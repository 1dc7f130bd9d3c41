/**
 * HTTP bodies of users, tokens, agent enrolment and the audit log (`/api/v1/users`,
 * `/api/v1/tokens`, `/api/v1/agents/enrol`, `/api/v1/audit`).
 * @module
 */

import { z } from "zod";
import { Duration } from "./job.ts";

/** A user's name: letters, digits, `_ . -`, starting with a letter, at most 64 characters. */
export const USER_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Roles of users: `admin` everything, `user` their own objects, `viewer` read only. */
export const UserRole = z.enum(["admin", "user", "viewer"]);

/** `POST /api/v1/users`. */
export const CreateUserBody = z.strictObject({
  name: z.string().regex(
    USER_NAME,
    "expected 1 to 64 letters, digits, _ . -, starting with a letter",
  ),
  role: UserRole.default("user"),
  /** Also make a first token for the user (default true). */
  token: z.boolean().default(true),
  /** Lifetime of that token (default: no expiry). */
  expires_in: Duration.optional(),
});

/** The body of `POST /api/v1/users` as a client sends it (defaults optional). */
export type CreateUserInput = z.input<typeof CreateUserBody>;

/** `POST /api/v1/tokens`: a user token (for `user`, default the caller) or a join token. */
export const CreateTokenBody = z.strictObject({
  kind: z.enum(["user", "join"]).default("user"),
  user: z.string().min(1).max(64).optional(),
  /** What the token is for, shown in lists. */
  name: z.string().max(200).optional(),
  expires_in: Duration.optional(),
});

/** The body of `POST /api/v1/tokens` as a client sends it. */
export type CreateTokenInput = z.input<typeof CreateTokenBody>;

/** `POST /api/v1/agents/enrol` (with a join token). */
export const EnrolBody = z.strictObject({
  agent_id: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, "expected 1 to 100 of A-Z a-z 0-9 _ . -"),
  name: z.string().min(1).max(200).optional(),
});

/** A user. */
export interface UserView {
  id: number;
  name: string;
  role: z.infer<typeof UserRole>;
  disabled: boolean;
  created_at: string;
  created_by: string | null;
}

/** A token, never its secret. */
export interface TokenView {
  id: number;
  kind: "user" | "agent" | "join";
  /** The first characters of the token. */
  prefix: string;
  user: string | null;
  agent_id: string | null;
  name: string | null;
  created_at: string;
  created_by: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  used_at: string | null;
  /** `active`, `expired`, `revoked` or (join tokens) `used`. */
  status: "active" | "expired" | "revoked" | "used";
}

/** A newly made token: the only time its secret is shown. */
export interface NewTokenView extends TokenView {
  token: string;
}

/** `POST /api/v1/users`. */
export interface CreatedUser {
  user: UserView;
  token: NewTokenView | null;
}

/** `POST /api/v1/agents/enrol`. */
export interface EnrolAnswer {
  agent_id: string;
  /** The agent's own `jd_a_` token: keep it, it is not shown again. */
  token: string;
}

/** One audit record. */
export interface AuditEntry {
  id: number;
  at: string;
  action: string;
  /** `ok`, or `denied` for a refused credential. */
  outcome: "ok" | "denied";
  principal: string | null;
  role: string | null;
  /** The caller's address as the server saw it. */
  source: string | null;
  /** What it was done to: `job 42`, `user alice`, `token 7`, `agent build-1-3f2a`. */
  target: string | null;
  detail: Record<string, unknown> | null;
}

/** `GET /api/v1/audit`. */
export interface AuditList {
  entries: AuditEntry[];
  next_cursor: string | null;
}
