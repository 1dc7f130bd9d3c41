/**
 * The one error type every boundary parser throws: it names the field that was wrong so that a
 * 400 response, a CLI message or a WebSocket `error` frame can say exactly what to fix.
 * @module
 */

import type { z } from "zod";

/** Input from outside (HTTP body, WebSocket frame, flag, config) did not fit its schema. */
export class ProtocolError extends Error {
  /** Dotted path of the first bad field, `""` for the value as a whole. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(field ? `${field}: ${message}` : message);
    this.name = "ProtocolError";
    this.field = field;
  }

  /** Builds a ProtocolError from the first issue zod reports. */
  static fromZod(error: z.ZodError, prefix = ""): ProtocolError {
    const issue = error.issues[0];
    const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join(".");
    return new ProtocolError(path, issue?.message ?? "invalid value");
  }
}

/** Parses `value` with `schema`, turning zod's error into a {@linkcode ProtocolError}. */
export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  prefix = "",
): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw ProtocolError.fromZod(result.error, prefix);
  return result.data;
}
