/**
 * The dashboard's routes: the pages (rendered here with preact-render-to-string), the embedded
 * client bundle and stylesheet, login and logout, the JSON reads the islands make, the
 * same-origin gateway to the API, and the `/ws/ui` event stream.
 * @module
 */

import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { parseJobFilter } from "../ui/lib/job_filter.ts";
import { type ApiGet, loadSchedules } from "../ui/lib/schedules.ts";
import { loadUptimes } from "../ui/lib/uptime.ts";
import type { PageContext } from "../ui/pages.tsx";
import { parseTopics } from "../protocol/ui_wire.ts";
import { type Access, canRead, ownerScope, scopeAgents, sourceAddress } from "./access.ts";
import type { Principal } from "./auth.ts";
import { PAGE_CSP } from "./headers.ts";
import { HttpError } from "./http_error.ts";
import { TooManyRequests } from "./rate_limit.ts";
import type { Scheduler } from "./scheduler.ts";
import {
  listJobPage,
  logPage,
  overviewSnapshot,
  relatedJobs,
  resolveAgentFilter,
} from "./ui_data.ts";
import { forwardToApi, GATEWAY_PREFIX } from "./ui_gateway.ts";
import { UiMetrics } from "./ui_metrics.ts";
import {
  isPerson,
  isSecure,
  loginCookie,
  logoutCookie,
  safeNext,
  sameOrigin,
  sessionToken,
  uiPrincipal,
} from "./ui_session.ts";
import { UiHub } from "./ui_stream.ts";
import { agentViews, jobView } from "./views.ts";

/** What the dashboard routes need. */
export interface UiDeps {
  scheduler: Scheduler;
  access: Access;
}

type Env = { Variables: { principal: Principal } };

/** Jobs per page of the jobs list. */
const PAGE_SIZE = 50;

/** Headers of every HTML page: no inline script may run, and no other site may frame it. */
const PAGE_HEADERS = {
  "content-security-policy": PAGE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
};

/** The page components, the client bundle and the stylesheet, with their fingerprint. */
interface UiAssets {
  pages: typeof import("../ui/pages.tsx");
  js: string;
  css: string;
  version: string;
}

/**
 * Loads the dashboard's {@linkcode UiAssets}. They are loaded on the first dashboard request
 * rather than at start: evaluating preact, the pages and the bundle's text import took about
 * 4 MB of an idle server's memory (bench B7). The specifiers are literals, so `deno compile`
 * embeds the modules and `deno run` reads them at start, never while serving.
 */
async function loadAssets(): Promise<UiAssets> {
  const [pages, { BUNDLE_JS }, { CSS }] = await Promise.all([
    import("../ui/pages.tsx"),
    import("../ui/bundle.ts"),
    import("../ui/styles.ts"),
  ]);
  return { pages, js: BUNDLE_JS, css: CSS, version: fingerprint(BUNDLE_JS + CSS) };
}

/** Mounts the dashboard on `app`. */
export function mountUi(app: Hono<Env>, deps: UiDeps): void {
  const { scheduler, access } = deps;
  const auth = access.auth;
  const ownerOf = (jobId: number) => scheduler.store.getJob(jobId)?.owner;
  const metrics = new UiMetrics(scheduler);
  const hub = new UiHub(scheduler, metrics);
  let loading: Promise<UiAssets> | undefined;
  const assets = () => loading ??= loadAssets();

  const page = (c: Context, status: 200 | 401 | 404, html: string) =>
    c.html(html, status, PAGE_HEADERS);
  /** The page components and the context of a page rendered now. */
  const render = async (): Promise<{ ui: UiAssets["pages"]; ctx: PageContext }> => {
    const { pages, version } = await assets();
    return { ui: pages, ctx: { assetVersion: version, loggedIn: auth.required, now: Date.now() } };
  };
  /** The person looking, or a redirect to the login page. */
  const viewer = async (c: Context): Promise<Principal | Response> => {
    const p = await uiPrincipal(access, c);
    if (p) return p;
    const url = new URL(c.req.url);
    return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
  };
  const requireViewer = async (c: Context): Promise<Principal> => {
    const p = await uiPrincipal(access, c);
    if (!p) throw new HttpError(401, "unauthorized", "Log in to the dashboard first");
    return p;
  };

  app.get("/ui/app.js", async (c) => {
    const { js, version } = await assets();
    return c.body(js, 200, {
      "content-type": "text/javascript; charset=utf-8",
      ...assetCache(c, version),
    });
  });
  app.get("/ui/app.css", async (c) => {
    const { css, version } = await assets();
    return c.body(css, 200, {
      "content-type": "text/css; charset=utf-8",
      ...assetCache(c, version),
    });
  });

  app.get("/login", async (c) => {
    const next = safeNext(c.req.query("next"));
    if (!auth.required || await uiPrincipal(access, c)) return c.redirect(next, 303);
    const { ui, ctx } = await render();
    return page(c, 200, ui.renderPage(ui.LoginPage, { ctx: { ...ctx, loggedIn: false }, next }));
  });
  app.post("/login", bodyLimit({ maxSize: 64 * 1024 }), async (c) => {
    if (!sameOrigin(c)) throw new HttpError(403, "forbidden", "Cross-origin login is not allowed");
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === "string" ? form.next : "/");
    const token = typeof form.token === "string" ? form.token.trim() : "";
    const principal = token ? await access.identify(token, sourceAddress(c)) : null;
    if (auth.required && !isPerson(principal)) {
      const error = principal
        ? "That token cannot log in to the dashboard"
        : "That token is not valid";
      const { ui, ctx } = await render();
      return page(
        c,
        401,
        ui.renderPage(ui.LoginPage, { ctx: { ...ctx, loggedIn: false }, next, error }),
      );
    }
    if (auth.required) {
      c.header("set-cookie", loginCookie(token, isSecure(c)));
      access.audit?.record({ action: "login", principal, source: sourceAddress(c) });
    }
    return c.redirect(next, 303);
  });
  app.post("/logout", (c) => {
    if (!sameOrigin(c)) throw new HttpError(403, "forbidden", "Cross-origin logout is not allowed");
    c.header("set-cookie", logoutCookie());
    return c.redirect(auth.required ? "/login" : "/", 303);
  });

  app.get("/", async (c) => {
    const p = await viewer(c);
    if (p instanceof Response) return p;
    const overview = hub.scopeOverview(overviewSnapshot(scheduler, metrics), ownerScope(p));
    const queues = scheduler.queues();
    const { ui, ctx } = await render();
    return page(c, 200, ui.renderPage(ui.OverviewPage, { ctx, overview, queues }));
  });

  app.get("/agents", async (c) => {
    const p = await viewer(c);
    if (p instanceof Response) return p;
    const agents = scopeAgents(agentViews(scheduler), ownerScope(p), ownerOf);
    const { ui, ctx } = await render();
    const ids = agents.map((a) => a.id);
    const uptime = await loadUptimes(apiReader(c, app.fetch), ids, ctx.now);
    return page(c, 200, ui.renderPage(ui.AgentsPage, { ctx, agents, uptime }));
  });

  app.get("/schedules", async (c) => {
    const redirect = await viewer(c);
    if (redirect instanceof Response) return redirect;
    const schedules = await loadSchedules(apiReader(c, app.fetch));
    const { ui, ctx } = await render();
    return page(c, 200, ui.renderPage(ui.SchedulesPage, { ctx, schedules }));
  });

  app.get("/ui/data/schedules", async (c) => {
    await requireViewer(c);
    const schedules = await loadSchedules(apiReader(c, app.fetch));
    if (!schedules) throw new HttpError(404, "not_found", "This server does not serve schedules");
    return c.json({ schedules });
  });

  app.get("/submit", async (c) => {
    const p = await viewer(c);
    if (p instanceof Response) return p;
    const owner = ownerScope(p);
    const { ui, ctx } = await render();
    return page(
      c,
      200,
      ui.renderPage(ui.SubmitPage, {
        ctx,
        agents: scopeAgents(agentViews(scheduler), owner, ownerOf),
        queues: recentQueues(owner),
      }),
    );
  });

  app.get("/jobs", async (c) => {
    const p = await viewer(c);
    if (p instanceof Response) return p;
    const owner = ownerScope(p);
    const url = new URL(c.req.url);
    const filter = resolveAgentFilter(scheduler, parseJobFilter(url.searchParams));
    const cursor = url.searchParams.get("cursor");
    const found = listJobPage(scheduler, filter, cursor, PAGE_SIZE, owner);
    const { ui, ctx } = await render();
    return page(
      c,
      200,
      ui.renderPage(ui.JobsPage, {
        ctx,
        page: {
          ...found,
          filter,
          cursor: cursor && /^\d+$/.test(cursor) ? cursor : null,
          limit: PAGE_SIZE,
          queues: recentQueues(owner),
        },
      }),
    );
  });

  app.get("/jobs/:id", async (c) => {
    const p = await viewer(c);
    if (p instanceof Response) return p;
    const id = c.req.param("id");
    const row = /^\d{1,15}$/.test(id) ? scheduler.store.getJob(Number(id)) : undefined;
    const { ui, ctx } = await render();
    // Someone else's job is as good as missing.
    if (!row || !canRead(p, row.owner)) {
      return page(c, 404, ui.renderPage(ui.NotFoundPage, { ctx, message: `No job ${id}.` }));
    }
    const job = jobView(row, scheduler, true);
    const detail = {
      job,
      log: logPage(scheduler, row.id, {}),
      related: relatedJobs(scheduler, job),
    };
    return page(c, 200, ui.renderPage(ui.JobPage, { ctx, detail }));
  });

  app.get("/ui/data/jobs", async (c) => {
    const owner = ownerScope(await requireViewer(c));
    const url = new URL(c.req.url);
    const filter = resolveAgentFilter(scheduler, parseJobFilter(url.searchParams));
    const limit = Math.min(500, Math.max(1, Number(url.searchParams.get("limit")) || PAGE_SIZE));
    return c.json(listJobPage(scheduler, filter, url.searchParams.get("cursor"), limit, owner));
  });

  app.get("/ui/data/jobs/:id/related", async (c) => {
    const p = await requireViewer(c);
    const id = c.req.param("id");
    if (!/^\d{1,15}$/.test(id)) throw new HttpError(400, "invalid", `"${id}" is not a job id`);
    const row = scheduler.store.getJob(Number(id));
    if (!row || !canRead(p, row.owner)) throw new HttpError(404, "not_found", `No job ${id}`);
    return c.json(relatedJobs(scheduler, jobView(row, scheduler)));
  });

  app.get("/ui/data/jobs/:id/log", async (c) => {
    const p = await requireViewer(c);
    const id = c.req.param("id");
    if (!/^\d{1,15}$/.test(id)) throw new HttpError(400, "invalid", `"${id}" is not a job id`);
    if (!canRead(p, ownerOf(Number(id)) ?? null)) {
      throw new HttpError(404, "not_found", `No job ${id}`);
    }
    const at = (name: string) => {
      const v = c.req.query(name);
      if (v === undefined) return undefined;
      if (!/^\d{1,15}$/.test(v)) {
        throw new HttpError(400, "invalid", `${name}: expected a byte offset`);
      }
      return Number(v);
    };
    return c.json(logPage(scheduler, Number(id), { before: at("before"), from: at("from") }));
  });

  // The API sees the browser's address (for failure limits and the audit log).
  app.all(`${GATEWAY_PREFIX}/*`, (c) => forwardToApi(c, (req) => app.fetch(req, c.env)));

  app.get("/ws/ui", async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(426, "upgrade_required", "Expected a WebSocket upgrade");
    }
    if (!sameOrigin(c)) {
      throw new HttpError(403, "forbidden", "Cross-origin event streams are not allowed");
    }
    const p = await requireViewer(c);
    const free = access.uiSockets.open(p.name);
    if (!free) {
      throw new TooManyRequests(
        `${p.name} has ${access.limits.maxUiSocketsPerPrincipal} open event streams already`,
        10,
      );
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    const ended = new AbortController();
    ended.signal.addEventListener("abort", free, { once: true });
    // Revoking the token (or disabling its user) closes the stream at once.
    auth.watch(p, (why) => socket.close(4401, why), ended.signal);
    hub.accept(socket, parseTopics(c.req.query("topics")), {
      owner: ownerScope(p),
      onClose: () => ended.abort(),
    });
    return response;
  });

  /** Queues of recent jobs (of `owner`, if given), for the forms' suggestions. */
  function recentQueues(owner: string | undefined): string[] {
    const queues = new Set(["default"]);
    for (const row of scheduler.store.listJobs({ owner, limit: 500 })) queues.add(row.queue);
    return [...queues].sort();
  }
}

/**
 * Reads `GET /api/v1<path>` in process with the viewer's credentials (as the gateway sends
 * them). The schedules page reads the API rather than the schedule manager: it shows exactly
 * what the API answers, and needs nothing when a server does not serve schedules.
 */
function apiReader(c: Context, fetch: (req: Request) => Response | Promise<Response>): ApiGet {
  return async <T>(path: string): Promise<T | null> => {
    const headers = new Headers();
    const token = sessionToken(c);
    const bearer = c.req.header("authorization") ?? (token ? `Bearer ${token}` : undefined);
    if (bearer) headers.set("authorization", bearer);
    const res = await fetch(new Request(new URL(`/api/v1${path}`, c.req.url), { headers }));
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new HttpError(500, "internal", `Cannot read ${path}: the API answered ${res.status}`);
    }
    return await res.json();
  };
}

/** Long caching for a fingerprinted asset URL, revalidation otherwise. */
function assetCache(c: Context, version: string): Record<string, string> {
  return {
    "cache-control": c.req.query("v") === version
      ? "public, max-age=31536000, immutable"
      : "no-cache",
    "x-content-type-options": "nosniff",
  };
}

/** A short FNV-1a fingerprint of `text`. */
function fingerprint(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
