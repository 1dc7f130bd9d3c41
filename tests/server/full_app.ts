/**
 * The whole API app in process, wired as `startServer` wires it (principals, access, schedules,
 * operations, reports, secrets), over an in-memory store and with no token configured (every
 * caller is an anonymous admin): for tests that call every route through `app.request()`.
 * @module
 */

import { Access } from "../../src/server/access.ts";
import { AgentRegistry } from "../../src/server/agent_registry.ts";
import { type AppDeps, createApp } from "../../src/server/app.ts";
import { AuditLog } from "../../src/server/audit.ts";
import { createAuthenticator } from "../../src/server/auth.ts";
import { EventBus } from "../../src/server/events.ts";
import { AgentHealth } from "../../src/server/health.ts";
import { Ops } from "../../src/server/ops.ts";
import { PrincipalStore } from "../../src/server/principals.ts";
import { Reporter } from "../../src/server/report_delivery.ts";
import { Scheduler } from "../../src/server/scheduler.ts";
import { ScheduleManager } from "../../src/server/schedules.ts";
import { ScheduleStore } from "../../src/server/schedule_store.ts";
import { Secrets } from "../../src/server/secrets.ts";
import { openStore } from "../../src/server/store.ts";

/**
 * Builds the app with every optional part (`Required<AppDeps>`: a new dependency of createApp
 * fails to compile here until it is added, so its routes cannot escape the OpenAPI coverage
 * test); `close()` stops its timers and closes the store.
 */
export function fullApp() {
  const store = openStore(":memory:");
  const events = new EventBus();
  const health = new AgentHealth(store);
  const agents = new AgentRegistry({ store, events, hooks: health });
  const scheduler = new Scheduler({ store, events, agents });
  const ops = new Ops({ store, scheduler, health, dbPath: ":memory:" });
  const principals = new PrincipalStore({ db: store.db, jobs: store });
  const auth = createAuthenticator({ tokens: [], agentTokens: [], principals });
  const deps: Required<AppDeps> = {
    scheduler,
    auth,
    access: new Access({ auth, audit: new AuditLog({ db: store.db, jobs: store }) }),
    schedules: new ScheduleManager({ scheduler, store: new ScheduleStore(store.db, store) }),
    maxBodyBytes: 1024 * 1024,
    ops,
    reports: new Reporter({ store, health }),
    secrets: new Secrets({ db: store.db, store, key: null }),
  };
  const app = createApp(deps);
  return {
    app,
    scheduler,
    close() {
      scheduler.stop();
      ops.stop();
      store.close();
    },
  };
}
