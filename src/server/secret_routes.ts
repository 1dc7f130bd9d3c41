/**
 * `/api/v1/secrets`: store, list and delete the secrets of the caller's namespace. A value goes
 * in once and never comes back out: every answer holds names and timestamps only. Admins store
 * and delete secrets (a replaced value reaches every job that refers to it); everyone who may
 * read jobs may list their names.
 * @module
 */

import type { Hono } from "hono";
import { parseWith } from "../protocol/mod.ts";
import { SecretInput, SecretName } from "../protocol/secret.ts";
import { requireAdmin } from "./access.ts";
import type { Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import { DEFAULT_NAMESPACE, type Secrets, SecretsError } from "./secrets.ts";

type Env = { Variables: { principal: Principal } };

/** Mounts the secret routes on the (authenticated) API app. */
export function mountSecrets(api: Hono<Env>, secrets: Secrets): void {
  // Principals belong to no namespace (team) yet: everyone shares the default one.
  const namespace = DEFAULT_NAMESPACE;

  api.post("/secrets", async (c) => {
    requireAdmin(c.get("principal"));
    const body = parseWith(SecretInput, await readJson(c.req.raw));
    try {
      const { view, created } = await secrets.set(namespace, body.name, body.value);
      return c.json(view, created ? 201 : 200);
    } catch (e) {
      if (e instanceof SecretsError) throw new HttpError(409, e.code, e.message);
      throw e;
    }
  });

  api.get("/secrets", (c) => c.json({ secrets: secrets.list(namespace) }));

  api.get("/secrets/:name", (c) => {
    const name = secretName(c.req.param("name"));
    const view = secrets.get(namespace, name);
    if (!view) throw new HttpError(404, "not_found", `No secret ${name}`);
    return c.json(view);
  });

  api.delete("/secrets/:name", async (c) => {
    requireAdmin(c.get("principal"));
    const name = secretName(c.req.param("name"));
    const view = await secrets.delete(namespace, name);
    if (!view) throw new HttpError(404, "not_found", `No secret ${name}`);
    return c.json(view);
  });
}

function secretName(text: string): string {
  return parseWith(SecretName, text, "name");
}

async function readJson(req: Request): Promise<unknown> {
  try {
    return JSON.parse(await req.text());
  } catch {
    throw new HttpError(400, "invalid", "Request body is not valid JSON");
  }
}
