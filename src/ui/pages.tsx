/**
 * The dashboard's pages. Each is a function of plain data to a whole document; the server
 * renders them with {@linkcode renderPage} and the islands inside hydrate in the browser.
 * @module
 */

import type { FunctionComponent } from "preact";
import { renderToString } from "preact-render-to-string";
import type { AgentView, JobView, QueueView } from "../protocol/mod.ts";
import { Island } from "./island.tsx";
import { JobDetail, type JobDetailProps } from "./islands/job_detail.tsx";
import { LiveAgents } from "./islands/live_agents.tsx";
import { LiveJobs, type LiveJobsProps } from "./islands/live_jobs.tsx";
import { LiveOverview } from "./islands/live_overview.tsx";
import { LiveSchedules } from "./islands/live_schedules.tsx";
import { runtimesOf, SubmitForm } from "./islands/submit_form.tsx";
import { Layout } from "./layout.tsx";
import type { UiOverview } from "../protocol/ui_wire.ts";
import type { UiSchedule } from "./lib/schedules.ts";
import type { UiUptime } from "./lib/uptime.ts";

/** What every page needs besides its data. */
export interface PageContext {
  /** Fingerprint of the bundle and stylesheet. */
  assetVersion: string;
  /** Whether the viewer logged in with a token (shows "Log out"). */
  loggedIn: boolean;
  /** Render time (ms), so the browser's first render agrees with the server's. */
  now: number;
}

/** A page as an HTML document. */
export function renderPage<P extends object>(Page: FunctionComponent<P>, props: P): string {
  return "<!doctype html>" + renderToString(<Page {...props} />);
}

/** `/`. */
export function OverviewPage(
  { ctx, overview, queues }: { ctx: PageContext; overview: UiOverview; queues: QueueView[] },
) {
  return (
    <Layout title="Overview" active="overview" {...ctx}>
      <Island
        name="LiveOverview"
        component={LiveOverview}
        props={{ overview, queues, now: ctx.now }}
      />
    </Layout>
  );
}

/** `/agents`. */
export function AgentsPage(
  { ctx, agents, uptime }: {
    ctx: PageContext;
    agents: AgentView[];
    uptime: Record<string, UiUptime>;
  },
) {
  return (
    <Layout title="Agents" active="agents" {...ctx}>
      <Island name="LiveAgents" component={LiveAgents} props={{ agents, now: ctx.now, uptime }} />
    </Layout>
  );
}

/** `/jobs`. */
export function JobsPage({ ctx, page }: { ctx: PageContext; page: Omit<LiveJobsProps, "now"> }) {
  return (
    <Layout title="Jobs" active="jobs" {...ctx}>
      <Island name="LiveJobs" component={LiveJobs} props={{ ...page, now: ctx.now }} />
    </Layout>
  );
}

/** `/jobs/:id`. */
export function JobPage(
  { ctx, detail }: { ctx: PageContext; detail: Omit<JobDetailProps, "now"> },
) {
  return (
    <Layout title={`Job ${detail.job.id}`} active="jobs" {...ctx}>
      <Island name="JobDetail" component={JobDetail} props={{ ...detail, now: ctx.now }} />
    </Layout>
  );
}

/** `/schedules`; `schedules` is `null` when this server does not serve schedules. */
export function SchedulesPage(
  { ctx, schedules }: { ctx: PageContext; schedules: UiSchedule[] | null },
) {
  return (
    <Layout title="Schedules" active="schedules" {...ctx}>
      {schedules
        ? (
          <Island
            name="LiveSchedules"
            component={LiveSchedules}
            props={{ schedules, now: ctx.now }}
          />
        )
        : (
          <>
            <h1>Schedules</h1>
            <p class="muted">This server does not serve cron schedules.</p>
          </>
        )}
    </Layout>
  );
}

/** `/submit`. */
export function SubmitPage(
  { ctx, agents, queues }: { ctx: PageContext; agents: AgentView[]; queues: string[] },
) {
  return (
    <Layout title="Submit" active="submit" {...ctx}>
      <Island
        name="SubmitForm"
        component={SubmitForm}
        props={{ runtimes: runtimesOf(agents), queues }}
      />
    </Layout>
  );
}

/** `/login`: the form that trades an API token for a session cookie. */
export function LoginPage(
  { ctx, next, error }: { ctx: PageContext; next: string; error?: string },
) {
  return (
    <Layout title="Log in" active="login" {...ctx}>
      <h1>Log in</h1>
      <form class="panel" method="post" action="/login" style="max-width:420px">
        <p class="muted" style="margin-top:0">
          This server requires a token. Paste an API token (the server's{" "}
          <code>--token</code>); it is kept in an HttpOnly cookie for this site only.
        </p>
        <input type="hidden" name="next" value={next} />
        <label>
          API token
          <input name="token" type="password" autocomplete="current-password" required autofocus />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <p>
          <button type="submit" class="primary">Log in</button>
        </p>
      </form>
    </Layout>
  );
}

/** A page for a missing job or an unknown path. */
export function NotFoundPage({ ctx, message }: { ctx: PageContext; message: string }) {
  return (
    <Layout title="Not found" active="overview" {...ctx}>
      <h1>Not found</h1>
      <p>{message}</p>
      <p>
        <a href="/jobs">All jobs</a>
      </p>
    </Layout>
  );
}

/** Jobs shown in the overview's failure list (re-exported for the server's typing). */
export type { JobView };
