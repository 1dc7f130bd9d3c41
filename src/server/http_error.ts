/**
 * The one exception HTTP routes throw; `app.onError` renders it as `{error:{code,message}}`.
 * @module
 */

import type { ContentfulStatusCode } from "hono/utils/http-status";

/** An error with an HTTP status and a machine-readable code. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}
