/**
 * Routes of principals: users and tokens (`/api/v1/users`, `/api/v1/tokens`), revoking one
 * agent (`POST /api/v1/agents/:id/revoke`) and the audit log (`GET /api/v1/audit`), all for
 * admins only; and agent enrolment (`POST /api/v1/agents/enrol`), which takes a join token
 * instead of the API's usual credentials.
 * @module
 */

import type { Context, Hono } from "hono";
import {
  type AuditList,
  type CreatedUser,
  CreateTokenBody,
  CreateUserBody,
  type EnrolAnswer,
  EnrolBody,
  type NewTokenView,
  type TokenView,
  type UserView,
} from "../protocol/access.ts";
import { parseDuration, parseWith } from "../protocol/mod.ts";
import { type Access, requireAdmin, sourceAddress } from "./access.ts";
import { bearerToken, type Principal } from "./auth.ts";
import { HttpError } from "./http_error.ts";
import type { PrincipalStore, TokenRow, UserRow } from "./principals.ts";
import type { Scheduler } from "./scheduler.ts";

type Env = { Variables: { principal: Principal } };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Mounts enrolment on `app` and the admin routes on `api`. Call before `app.route("/api/v1")`. */
export function mountAccess(
  app: Hono<Env>,
  api: Hono<Env>,
  deps: { access: Access; scheduler: Scheduler; now?: () => number },
): void {
  const { access, scheduler } = deps;
  const now = deps.now ?? Date.now;
  const principals = access.auth.principals;
  if (!principals) return;
  const audit = access.audit;

  /** The admin calling, after the API middleware authenticated them. */
  const admin = (c: Context<Env>) => {
    const p = c.get("principal");
    requireAdmin(p);
    return p;
  };
  const tokenView = (t: TokenRow): TokenView => tokenViewOf(t, principals, now());

  app.post("/api/v1/agents/enrol", async (c) => {
    const source = sourceAddress(c);
    const p = await access.identify(bearerToken(c.req.header("authorization")), source);
    if (!p) throw new HttpError(401, "unauthorized", "Missing or invalid join token");
    if (p.role !== "join" || p.tokenId === undefined) {
      throw new HttpError(403, "forbidden", "Enrolling an agent needs a join token (jd_j_...)");
    }
    const body = parseWith(EnrolBody, await readJson(c.req.raw));
    if (scheduler.agents.get(body.agent_id)) {
      throw new HttpError(
        409,
        "conflict",
        `Cannot enrol agent ${body.agent_id}: an agent with that id is known (forget it first, or start the agent with a new --state-dir)`,
      );
    }
    if (!principals.useJoinToken(p.tokenId, body.agent_id)) {
      throw new HttpError(401, "unauthorized", "That join token was already used");
    }
    const { token } = await principals.issue({
      kind: "agent",
      agentId: body.agent_id,
      name: body.name,
      createdBy: p.name,
    });
    audit?.record({
      action: "agent.enrol",
      principal: p,
      source,
      target: `agent ${body.agent_id}`,
      detail: { name: body.name ?? null },
    });
    await scheduler.store.durable();
    return c.json({ agent_id: body.agent_id, token } satisfies EnrolAnswer, 201);
  });

  api.get("/users", (c) => {
    admin(c);
    return c.json({ users: principals.users().map(userView) });
  });

  api.post("/users", async (c) => {
    const p = admin(c);
    const body = parseWith(CreateUserBody, await readJson(c.req.raw));
    const user = principals.createUser(body.name, body.role, p.name);
    audit?.record({
      action: "user.create",
      principal: p,
      source: sourceAddress(c),
      target: `user ${user.name}`,
      detail: { role: user.role },
    });
    const token = body.token
      ? await issueUserToken(c, p, user, { name: "first token", expires_in: body.expires_in })
      : null;
    await scheduler.store.durable();
    return c.json({ user: userView(user), token } satisfies CreatedUser, 201);
  });

  for (const disabled of [true, false]) {
    api.post(`/users/:name/${disabled ? "disable" : "enable"}`, async (c) => {
      const p = admin(c);
      const user = principals.setDisabled(c.req.param("name"), disabled);
      audit?.record({
        action: disabled ? "user.disable" : "user.enable",
        principal: p,
        source: sourceAddress(c),
        target: `user ${user.name}`,
      });
      await scheduler.store.durable();
      access.auth.recheck();
      return c.json(userView(user));
    });
  }

  api.get("/tokens", (c) => {
    admin(c);
    const name = c.req.query("user");
    const user = name === undefined ? undefined : principals.user(name);
    if (name !== undefined && !user) throw new HttpError(404, "not_found", `No user ${name}`);
    return c.json({ tokens: principals.tokens({ userId: user?.id }).map(tokenView) });
  });

  api.post("/tokens", async (c) => {
    const p = admin(c);
    const body = parseWith(CreateTokenBody, await readJson(c.req.raw));
    let view: NewTokenView;
    if (body.kind === "join") {
      if (body.user !== undefined) {
        throw new HttpError(400, "invalid", "user: join tokens belong to no user", "user");
      }
      const { token, row } = await principals.issue({
        kind: "join",
        name: body.name,
        expiresAt: expiry(body.expires_in),
        createdBy: p.name,
      });
      view = { ...tokenView(row), token };
      audit?.record({
        action: "token.create",
        principal: p,
        source: sourceAddress(c),
        target: `token ${row.id}`,
        detail: { kind: "join" },
      });
    } else {
      const name = body.user ?? p.name;
      const user = principals.user(name);
      if (!user) {
        const hint = body.user === undefined ? " (you use a configured token: name a user)" : "";
        throw new HttpError(404, "not_found", `No user ${name}${hint}`);
      }
      view = await issueUserToken(c, p, user, body);
    }
    await scheduler.store.durable();
    return c.json(view, 201);
  });

  api.delete("/tokens/:id", async (c) => {
    const p = admin(c);
    const idText = c.req.param("id");
    if (!/^\d{1,15}$/.test(idText)) {
      throw new HttpError(400, "invalid", `"${idText}" is not a token id`);
    }
    const row = principals.revoke(Number(idText));
    audit?.record({
      action: "token.revoke",
      principal: p,
      source: sourceAddress(c),
      target: `token ${row.id}`,
      detail: { kind: row.kind },
    });
    await scheduler.store.durable();
    access.auth.recheck();
    return c.json(tokenView(row));
  });

  api.post("/agents/:id/revoke", async (c) => {
    const p = admin(c);
    const ref = c.req.param("id");
    const agentId = scheduler.agents.find(ref)?.id ?? ref;
    const revoked = principals.revokeAgent(agentId);
    if (revoked === 0) {
      throw new HttpError(
        404,
        "not_found",
        `Agent ${ref} has no active token of its own (agents that connect with a configured --agent-token cannot be revoked one by one)`,
      );
    }
    audit?.record({
      action: "agent.revoke",
      principal: p,
      source: sourceAddress(c),
      target: `agent ${agentId}`,
      detail: { tokens: revoked },
    });
    await scheduler.store.durable();
    access.auth.recheck();
    return c.json({ agent_id: agentId, revoked_tokens: revoked });
  });

  api.get("/audit", (c) => {
    admin(c);
    const limitText = c.req.query("limit") ?? "100";
    const limit = Number(limitText);
    if (!/^\d{1,4}$/.test(limitText) || limit < 1 || limit > 1000) {
      throw new HttpError(400, "invalid", "limit: expected a whole number from 1 to 1000", "limit");
    }
    const cursor = c.req.query("cursor");
    if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) {
      throw new HttpError(400, "invalid", "cursor: expected an entry id", "cursor");
    }
    const entries = audit?.list({
      action: c.req.query("action"),
      principal: c.req.query("principal"),
      beforeId: cursor === undefined ? undefined : Number(cursor),
      limit: limit + 1,
    }) ?? [];
    const page = entries.slice(0, limit);
    const more = entries.length > limit;
    return c.json(
      {
        entries: page,
        next_cursor: more ? String(page[page.length - 1].id) : null,
      } satisfies AuditList,
    );
  });

  async function issueUserToken(
    c: Context<Env>,
    p: Principal,
    user: UserRow,
    opts: { name?: string; expires_in?: string },
  ): Promise<NewTokenView> {
    const { token, row } = await principals!.issue({
      kind: "user",
      userId: user.id,
      name: opts.name,
      expiresAt: expiry(opts.expires_in),
      createdBy: p.name,
    });
    audit?.record({
      action: "token.create",
      principal: p,
      source: sourceAddress(c),
      target: `token ${row.id}`,
      detail: { kind: "user", user: user.name },
    });
    return { ...tokenView(row), token };
  }

  function expiry(duration: string | undefined): number | null {
    return duration === undefined ? null : now() + parseDuration(duration)!;
  }
}

function userView(u: UserRow): UserView {
  return {
    id: u.id,
    name: u.name,
    role: u.role,
    disabled: u.disabled === 1,
    created_at: iso(u.created_at)!,
    created_by: u.created_by,
  };
}

function tokenViewOf(t: TokenRow, principals: PrincipalStore, now: number): TokenView {
  const user = t.user_id === null ? null : principals.lookupId(t.id)?.user?.name ?? null;
  return {
    id: t.id,
    kind: t.kind,
    prefix: t.prefix,
    user,
    agent_id: t.agent_id,
    name: t.name,
    created_at: iso(t.created_at)!,
    created_by: t.created_by,
    expires_at: iso(t.expires_at),
    revoked_at: iso(t.revoked_at),
    used_at: iso(t.used_at),
    status: t.revoked_at !== null
      ? "revoked"
      : t.kind === "join" && t.used_at !== null
      ? "used"
      : t.expires_at !== null && t.expires_at <= now
      ? "expired"
      : "active",
  };
}

async function readJson(req: Request): Promise<unknown> {
  try {
    return JSON.parse(await req.text());
  } catch {
    throw new HttpError(400, "invalid", "Request body is not valid JSON");
  }
}
