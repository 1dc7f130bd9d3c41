/**
 * Secrets as they cross the API: a name and a value going in, names and timestamps coming out.
 * A job refers to a secret of its namespace from its `env` (`{DB_PASS: {secret: "db"}}`); the
 * value reaches only the agent that runs the job, in the `assign` frame.
 * @module
 */

import { z } from "zod";

/** A secret's name: letters, digits, `_ . -`, starting with a letter. */
export const SecretName = z.string().regex(
  /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/,
  "expected a secret name (letters, digits, _ . -, starting with a letter, at most 128)",
);

/** Shortest value accepted: shorter ones would mask ordinary output (`a`, `on`, `1`). */
export const MIN_SECRET_CHARS = 4;

/** Longest value accepted (64 KiB: certificates and keys fit). */
export const MAX_SECRET_CHARS = 64 * 1024;

/** The body of `POST /api/v1/secrets`. */
export const SecretInput = z.strictObject({
  name: SecretName,
  value: z.string()
    .min(MIN_SECRET_CHARS, `expected at least ${MIN_SECRET_CHARS} characters`)
    .max(MAX_SECRET_CHARS, `expected at most ${MAX_SECRET_CHARS} characters`),
});
/** The body of `POST /api/v1/secrets`. */
export type SecretInput = z.infer<typeof SecretInput>;

/** A secret as the API shows it: never its value. Instants are RFC 3339. */
export const SecretView = z.strictObject({
  name: z.string(),
  namespace: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});
/** A secret as the API shows it: never its value. */
export type SecretView = z.infer<typeof SecretView>;

/** The answer of `GET /api/v1/secrets`. */
export const SecretList = z.strictObject({ secrets: z.array(SecretView) });
/** The answer of `GET /api/v1/secrets`. */
export type SecretList = z.infer<typeof SecretList>;

/** The path parameter of `/api/v1/secrets/:name`. */
export const SecretRef = z.strictObject({ name: SecretName.describe("A secret's name") });
