/**
 * The browser bundle's entry: hydrates every island on the page with the props the server
 * rendered it with. Built by `deno task build:ui` into `bundle.gen.js`.
 * @module
 */

import { hydrate } from "preact";
import { JobDetail } from "./islands/job_detail.tsx";
import { LiveAgents } from "./islands/live_agents.tsx";
import { LiveJobs } from "./islands/live_jobs.tsx";
import { LiveOverview } from "./islands/live_overview.tsx";
import { LiveSchedules } from "./islands/live_schedules.tsx";
import { SubmitForm } from "./islands/submit_form.tsx";

// Props are the server's JSON.stringify of each island's typed props (see island.tsx).
const ISLANDS: Record<string, (el: Element, json: string) => void> = {
  LiveOverview: (el, json) => hydrate(<LiveOverview {...JSON.parse(json)} />, el),
  LiveAgents: (el, json) => hydrate(<LiveAgents {...JSON.parse(json)} />, el),
  LiveJobs: (el, json) => hydrate(<LiveJobs {...JSON.parse(json)} />, el),
  LiveSchedules: (el, json) => hydrate(<LiveSchedules {...JSON.parse(json)} />, el),
  JobDetail: (el, json) => hydrate(<JobDetail {...JSON.parse(json)} />, el),
  SubmitForm: (el, json) => hydrate(<SubmitForm {...JSON.parse(json)} />, el),
};

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const mount = ISLANDS[el.dataset.island ?? ""];
  if (mount) mount(el, el.dataset.props ?? "{}");
  else console.error(`Unknown island "${el.dataset.island}"`);
}
document.documentElement.dataset.hydrated = "true";
