/**
 * `jobdist schedules`: cron schedules. `create NAME --cron EXPR [job flags]`, `list`,
 * `show`, `pause`, `resume`, `delete` and `next NAME [-n N]` (preview of fire times).
 * @module
 */

import type { ScheduleSpecInput } from "../protocol/mod.ts";
import { clientFromArgs } from "./connect.ts";
import { CLIENT_FLAGS, type Command, intFlag, type ParsedArgs, UsageError } from "./flags.ts";
import { ago, clip, printJson, table } from "./format.ts";
import { SPEC_FLAGS, specFromArgs } from "./spec_flags.ts";

const USAGE = "jobdist schedules [list] | create NAME --cron EXPR [job flags] | " +
  "show|pause|resume|delete NAME | next NAME [-n N]";

/** `jobdist schedules`. */
export const schedules: Command = {
  name: "schedules",
  synopsis: USAGE,
  summary: "Create, list, pause, resume and delete cron schedules, or preview their fire times.",
  flags: [
    ...CLIENT_FLAGS,
    {
      name: "cron",
      type: "string",
      value: "EXPR",
      help: 'cron expression: 5 fields, 6 with seconds, or "@hourly", "@daily", …',
    },
    {
      name: "timezone",
      type: "string",
      value: "TZ",
      help: "IANA time zone the expression is read in (default UTC)",
    },
    {
      name: "overlap",
      type: "string",
      value: "POLICY",
      help: "allow, forbid or replace (default allow)",
    },
    {
      name: "misfire",
      type: "string",
      value: "POLICY",
      help: "missed while the server was down: skip, run_once or run_all (default run_once)",
    },
    { name: "misfire-limit", type: "string", value: "N", help: "with run_all: most runs (10)" },
    { name: "paused", type: "boolean", help: "create the schedule paused" },
    { name: "count", short: "n", type: "string", value: "N", help: "next: how many (5)" },
    { name: "json", type: "boolean", help: "print JSON" },
    // run_at and idempotency keys belong to each fire, not to the template.
    ...SPEC_FLAGS.filter((f) => f.name !== "run-at" && f.name !== "idempotency-key"),
  ],
  async run(args) {
    const client = clientFromArgs(args);
    const [action = "list", ref, ...rest] = args.positionals;
    const json = args.bool("json");
    const needRef = () => {
      if (!ref) throw new UsageError(`Expected: jobdist schedules ${action} NAME`);
      return ref;
    };
    switch (action) {
      case "list": {
        const list = await client.schedules();
        if (json) return printJson(list);
        console.log(table(
          ["NAME", "CRON", "TIMEZONE", "NEXT", "LAST", "OVERLAP", "MISFIRE", "JOB"],
          list.schedules.map((s) => [
            s.name + (s.paused ? " (paused)" : ""),
            s.cron,
            s.timezone,
            s.next_fire_time ?? "-",
            ago(s.last_fire_time),
            s.overlap,
            s.misfire,
            clip(s.job.shell ?? s.job.command?.join(" ") ?? `${s.job.script?.runtime} script`, 40),
          ]),
        ));
        return 0;
      }
      case "create": {
        const name = needRef();
        const cron = args.str("cron");
        if (!cron) throw new UsageError("Give --cron EXPR");
        const job = await specFromArgs(withPositionals(args, rest));
        const spec: ScheduleSpecInput = { name, cron, job };
        const set = <K extends keyof ScheduleSpecInput>(k: K, v: ScheduleSpecInput[K]) => {
          if (v !== undefined) spec[k] = v;
        };
        set("timezone", args.str("timezone"));
        set("overlap", args.str("overlap") as ScheduleSpecInput["overlap"]);
        set("misfire", args.str("misfire") as ScheduleSpecInput["misfire"]);
        set("misfire_limit", intFlag(args.str("misfire-limit"), "misfire-limit", 1, 1000));
        if (args.bool("paused")) spec.paused = true;
        const s = await client.createSchedule(spec);
        if (json) return printJson(s);
        console.log(`${s.name} created; next run ${s.next_fire_time ?? "never"}`);
        return 0;
      }
      case "show":
        return printJson(await client.schedule(needRef()));
      case "pause":
      case "resume": {
        const s = await client.pauseSchedule(needRef(), action === "pause");
        if (json) return printJson(s);
        console.log(`${s.name} ${s.paused ? "paused" : `resumed; next run ${s.next_fire_time}`}`);
        return 0;
      }
      case "delete": {
        const s = await client.deleteSchedule(needRef());
        if (json) return printJson(s);
        console.log(`${s.name} deleted`);
        return 0;
      }
      case "next": {
        const n = intFlag(args.str("count"), "count", 1, 1000) ?? 5;
        const out = await client.nextFireTimes(needRef(), n);
        if (json) return printJson(out);
        const local = new Intl.DateTimeFormat("sv-SE", {
          timeZone: out.timezone,
          year: "numeric",
          month: "2-digit",
          day: "2-digit",
          hour: "2-digit",
          minute: "2-digit",
          second: "2-digit",
          hourCycle: "h23",
          timeZoneName: "short",
        });
        for (const t of out.times) console.log(`${t}  ${local.format(new Date(t))}`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown action "${action}". Usage: ${USAGE}`);
    }
  },
};

/** `args` with other positionals (the job's argv after `--`). */
function withPositionals(args: ParsedArgs, positionals: string[]): ParsedArgs {
  return { ...args, positionals };
}
