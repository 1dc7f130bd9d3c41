/**
 * The route table of the HTTP API (`/api/v1`): every operation with its method, path,
 * parameters and the zod schemas of what goes in and comes out. The server's OpenAPI document
 * (`GET /api/v1/openapi.json`) is generated from it and the typed client (`src/cli/client.ts`)
 * takes its paths and types from it, so a route is described once.
 *
 * Paths use Hono's `:name` segments, as the server declares them.
 * @module
 */

import { z } from "zod";
import { CreateTokenBody, CreateUserBody, EnrolBody } from "./access.ts";
import { HostFacts, RuntimeInfo } from "./agent_wire.ts";
import {
  AgentHealthQuery,
  AgentHealthView,
  AgentList,
  AgentPatch,
  AgentRevokedView,
  AgentUptimeView,
  AgentView,
  AttemptView,
  AuditEntrySchema,
  AuditListSchema,
  AuditQuery,
  CreatedUserSchema,
  DrainRequest,
  EnrolAnswerSchema,
  ErrorBody,
  FireViewSchema,
  HealthSampleView,
  HousekeepingView,
  JobBatch,
  JobBatchView,
  JobList,
  JobListQuery,
  JobView,
  LogQuery,
  NewTokenViewSchema,
  NextFireQuery,
  NextFireTimes,
  QueueList,
  QueueName,
  QueuePatch,
  QueueView,
  ReportQuery,
  ReportSent,
  ReportView,
  ScheduleListSchema,
  ScheduleViewSchema,
  TokenListQuery,
  TokenListSchema,
  TokenViewSchema,
  UptimeWindowView,
  UserListSchema,
  UserViewSchema,
} from "./http.ts";
import { Backoff, JobSpec, Requires, Script } from "./job.ts";
import { ScheduleSpec } from "./schedule.ts";
import { SecretInput, SecretList, SecretRef, SecretView } from "./secret.ts";

/** An HTTP method the API uses. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Error statuses an operation may answer with, each with an {@linkcode ErrorBody}. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 429;

/** One operation of the API. */
export interface Route {
  method: HttpMethod;
  /** The path as the server declares it, with `:name` parameters: `/api/v1/jobs/:id`. */
  path: `/api/v1/${string}`;
  /** One line for people; the OpenAPI summary. */
  summary: string;
  /** More detail, when the summary is not enough. */
  description?: string;
  /** The group it belongs to (an OpenAPI tag). */
  tag: "jobs" | "agents" | "schedules" | "secrets" | "access" | "admin" | "meta";
  /** Path parameters: one string property per `:name` in `path`. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers beyond `Authorization`. */
  headers?: z.ZodObject;
  /** The JSON request body. */
  body?: z.ZodType;
  /** The body may be left out (it is required otherwise). */
  optionalBody?: boolean;
  /** Status of a successful answer. */
  status: 200 | 201 | 204;
  /** Schema of the successful answer's body (JSON unless `media` says otherwise). */
  response?: z.ZodType;
  /** Media type of a successful answer that is not JSON (text, a file). */
  media?: string;
  /** Text media types the answer may come in instead of JSON (chosen by a query parameter). */
  alternatives?: readonly string[];
  /** Error statuses beyond the ones every route of its kind has (400, 401, 403, 404, 413, 429). */
  errors?: readonly ErrorStatus[];
  /** Served without a token. */
  public?: boolean;
}

const JobId = z.strictObject({
  id: z.string().regex(/^\d{1,15}$/, "expected a job id").describe("A job id"),
});
const AgentRef = z.strictObject({
  id: z.string().min(1).describe("An agent's id or its unique name"),
});
const UserRef = z.strictObject({ name: z.string().min(1).describe("A user's name") });
const TokenId = z.strictObject({
  id: z.string().regex(/^\d{1,15}$/, "expected a token id").describe("A token's id"),
});
const ScheduleRef = z.strictObject({
  ref: z.string().min(1).describe("A schedule's id or its name"),
});

/** Every operation of `/api/v1`, by operation id. */
export const API = {
  submitJob: {
    method: "POST",
    path: "/api/v1/jobs",
    summary: "Submit a job",
    description: "Once answered, the job is durable. Exactly one of command, shell or script.",
    tag: "jobs",
    headers: z.strictObject({
      "Idempotency-Key": z.string().min(1).max(200).optional()
        .describe("Used as the spec's idempotency_key when it has none"),
    }),
    body: JobSpec,
    status: 201,
    response: JobView,
  },
  submitJobs: {
    method: "POST",
    path: "/api/v1/jobs:batch",
    summary: "Submit many jobs in one transaction",
    tag: "jobs",
    body: JobBatch,
    status: 201,
    response: JobBatchView,
  },
  listJobs: {
    method: "GET",
    path: "/api/v1/jobs",
    summary: "List jobs, newest first",
    tag: "jobs",
    query: JobListQuery,
    status: 200,
    response: JobList,
  },
  getJob: {
    method: "GET",
    path: "/api/v1/jobs/:id",
    summary: "A job with its attempts",
    tag: "jobs",
    params: JobId,
    status: 200,
    response: JobView,
  },
  getJobLogs: {
    method: "GET",
    path: "/api/v1/jobs/:id/logs",
    summary: "A job's output",
    description: "Plain text; with follow, the answer streams until the job ends.",
    tag: "jobs",
    params: JobId,
    query: LogQuery,
    status: 200,
    response: z.string(),
    media: "text/plain",
  },
  cancelJob: {
    method: "POST",
    path: "/api/v1/jobs/:id/cancel",
    summary: "Cancel a job",
    tag: "jobs",
    params: JobId,
    status: 200,
    response: JobView,
    errors: [409],
  },
  listQueues: {
    method: "GET",
    path: "/api/v1/queues",
    summary: "Queues with work or a limit: depth, active jobs, concurrency limit",
    tag: "jobs",
    status: 200,
    response: QueueList,
  },
  setQueue: {
    method: "PUT",
    path: "/api/v1/queues/:name",
    summary: "Set or remove a queue's concurrency limit",
    tag: "jobs",
    params: QueueName,
    body: QueuePatch,
    status: 200,
    response: QueueView,
  },
  listAgents: {
    method: "GET",
    path: "/api/v1/agents",
    summary: "Every known agent",
    tag: "agents",
    status: 200,
    response: AgentList,
  },
  drainAgent: {
    method: "POST",
    path: "/api/v1/agents/:id/drain",
    summary: "Drain an agent (no new work), or resume it",
    tag: "agents",
    params: AgentRef,
    body: DrainRequest,
    optionalBody: true,
    status: 200,
    response: AgentView,
  },
  getAgentUptime: {
    method: "GET",
    path: "/api/v1/agents/:id/uptime",
    summary: "An agent's uptime over 24 h, 7 d and 30 d",
    description: "Computed from its connection sessions, not by counting heartbeats.",
    tag: "agents",
    params: AgentRef,
    status: 200,
    response: AgentUptimeView,
  },
  getAgentHealth: {
    method: "GET",
    path: "/api/v1/agents/:id/health",
    summary: "An agent's latest host facts and their 1-minute history",
    tag: "agents",
    params: AgentRef,
    query: AgentHealthQuery,
    status: 200,
    response: AgentHealthView,
  },
  updateAgent: {
    method: "PATCH",
    path: "/api/v1/agents/:id",
    summary: "Rename, relabel, disable or enable an agent",
    description: "Kept across reconnects and server restarts.",
    tag: "agents",
    params: AgentRef,
    body: AgentPatch,
    status: 200,
    response: AgentView,
  },
  disableAgent: {
    method: "POST",
    path: "/api/v1/agents/:id/disable",
    summary: "Disable an agent: it takes no new work",
    tag: "agents",
    params: AgentRef,
    status: 200,
    response: AgentView,
  },
  enableAgent: {
    method: "POST",
    path: "/api/v1/agents/:id/enable",
    summary: "Enable a disabled agent",
    tag: "agents",
    params: AgentRef,
    status: 200,
    response: AgentView,
  },
  forgetAgent: {
    method: "DELETE",
    path: "/api/v1/agents/:id",
    summary: "Forget an agent that is gone",
    description: "Refused while it is connected or holds attempts.",
    tag: "agents",
    params: AgentRef,
    status: 204,
    errors: [409],
  },
  backup: {
    method: "POST",
    path: "/api/v1/admin/backup",
    summary: "A consistent copy of the database (SQLite file)",
    tag: "admin",
    status: 200,
    media: "application/vnd.sqlite3",
  },
  housekeeping: {
    method: "POST",
    path: "/api/v1/admin/housekeeping",
    summary: "Run retention and a WAL checkpoint now",
    tag: "admin",
    status: 200,
    response: HousekeepingView,
  },
  createSchedule: {
    method: "POST",
    path: "/api/v1/schedules",
    summary: "Create a cron schedule",
    tag: "schedules",
    body: ScheduleSpec,
    status: 201,
    response: ScheduleViewSchema,
    errors: [409],
  },
  listSchedules: {
    method: "GET",
    path: "/api/v1/schedules",
    summary: "Every schedule, by name",
    tag: "schedules",
    status: 200,
    response: ScheduleListSchema,
  },
  getSchedule: {
    method: "GET",
    path: "/api/v1/schedules/:ref",
    summary: "A schedule with its newest fires",
    tag: "schedules",
    params: ScheduleRef,
    status: 200,
    response: ScheduleViewSchema,
  },
  replaceSchedule: {
    method: "PUT",
    path: "/api/v1/schedules/:ref",
    summary: "Replace a schedule",
    tag: "schedules",
    params: ScheduleRef,
    body: ScheduleSpec,
    status: 200,
    response: ScheduleViewSchema,
    errors: [409],
  },
  deleteSchedule: {
    method: "DELETE",
    path: "/api/v1/schedules/:ref",
    summary: "Delete a schedule (the jobs it started are left alone)",
    tag: "schedules",
    params: ScheduleRef,
    status: 200,
    response: ScheduleViewSchema,
  },
  pauseSchedule: {
    method: "POST",
    path: "/api/v1/schedules/:ref/pause",
    summary: "Pause a schedule",
    tag: "schedules",
    params: ScheduleRef,
    status: 200,
    response: ScheduleViewSchema,
  },
  resumeSchedule: {
    method: "POST",
    path: "/api/v1/schedules/:ref/resume",
    summary: "Resume a paused schedule",
    tag: "schedules",
    params: ScheduleRef,
    status: 200,
    response: ScheduleViewSchema,
  },
  nextFireTimes: {
    method: "GET",
    path: "/api/v1/schedules/:ref/next",
    summary: "The next fire times of a schedule",
    tag: "schedules",
    params: ScheduleRef,
    query: NextFireQuery,
    status: 200,
    response: NextFireTimes,
  },
  setSecret: {
    method: "POST",
    path: "/api/v1/secrets",
    summary: "Store or replace a secret (admins)",
    description: "201 for a new secret, 200 for a replaced one. The value is never returned.",
    tag: "secrets",
    body: SecretInput,
    status: 201,
    response: SecretView,
    errors: [409],
  },
  listSecrets: {
    method: "GET",
    path: "/api/v1/secrets",
    summary: "The namespace's secrets: names and timestamps, never values",
    tag: "secrets",
    status: 200,
    response: SecretList,
  },
  getSecret: {
    method: "GET",
    path: "/api/v1/secrets/:name",
    summary: "A secret's name and timestamps",
    tag: "secrets",
    params: SecretRef,
    status: 200,
    response: SecretView,
  },
  deleteSecret: {
    method: "DELETE",
    path: "/api/v1/secrets/:name",
    summary: "Delete a secret (admins); jobs that refer to it fail from then on",
    tag: "secrets",
    params: SecretRef,
    status: 200,
    response: SecretView,
  },
  listUsers: {
    method: "GET",
    path: "/api/v1/users",
    summary: "Every user (admins)",
    tag: "access",
    status: 200,
    response: UserListSchema,
  },
  createUser: {
    method: "POST",
    path: "/api/v1/users",
    summary: "Create a user, and by default a first token for them (admins)",
    tag: "access",
    body: CreateUserBody,
    status: 201,
    response: CreatedUserSchema,
    errors: [409],
  },
  disableUser: {
    method: "POST",
    path: "/api/v1/users/:name/disable",
    summary: "Disable a user: their tokens stop working (admins)",
    tag: "access",
    params: UserRef,
    status: 200,
    response: UserViewSchema,
  },
  enableUser: {
    method: "POST",
    path: "/api/v1/users/:name/enable",
    summary: "Enable a disabled user (admins)",
    tag: "access",
    params: UserRef,
    status: 200,
    response: UserViewSchema,
  },
  listTokens: {
    method: "GET",
    path: "/api/v1/tokens",
    summary: "Tokens, never their secrets (admins)",
    tag: "access",
    query: TokenListQuery,
    status: 200,
    response: TokenListSchema,
  },
  createToken: {
    method: "POST",
    path: "/api/v1/tokens",
    summary: "Make a user token, or a join token that enrols one agent (admins)",
    description: "The answer holds the token's secret; it is not shown again.",
    tag: "access",
    body: CreateTokenBody,
    status: 201,
    response: NewTokenViewSchema,
  },
  revokeToken: {
    method: "DELETE",
    path: "/api/v1/tokens/:id",
    summary: "Revoke a token (admins)",
    tag: "access",
    params: TokenId,
    status: 200,
    response: TokenViewSchema,
  },
  enrolAgent: {
    method: "POST",
    path: "/api/v1/agents/enrol",
    summary: "Enrol an agent with a join token; the answer is the agent's own token",
    description: "Takes a join token (jd_j_…) as its bearer token, not an API token.",
    tag: "access",
    body: EnrolBody,
    status: 201,
    response: EnrolAnswerSchema,
    errors: [409],
  },
  revokeAgent: {
    method: "POST",
    path: "/api/v1/agents/:id/revoke",
    summary: "Revoke an enrolled agent's own tokens (admins)",
    tag: "access",
    params: AgentRef,
    status: 200,
    response: AgentRevokedView,
  },
  listAudit: {
    method: "GET",
    path: "/api/v1/audit",
    summary: "The audit log, newest first (admins)",
    tag: "access",
    query: AuditQuery,
    status: 200,
    response: AuditListSchema,
  },
  getReport: {
    method: "GET",
    path: "/api/v1/report",
    summary: "The report: jobs, failures and agent uptime over a period (admins)",
    tag: "admin",
    query: ReportQuery.extend({ format: z.enum(["json", "text", "html"]).default("json") }),
    status: 200,
    response: ReportView,
    alternatives: ["text/plain", "text/html"],
  },
  sendReport: {
    method: "POST",
    path: "/api/v1/report:send",
    summary: "Make the report and send it by the configured transports now (admins)",
    tag: "admin",
    query: ReportQuery,
    status: 200,
    response: ReportSent,
    errors: [409],
  },
  getOpenApi: {
    method: "GET",
    path: "/api/v1/openapi.json",
    summary: "This API's OpenAPI 3.1 description",
    tag: "meta",
    status: 200,
    response: z.record(z.string(), z.unknown()),
    public: true,
  },
} as const satisfies Record<string, Route>;

/** The id of an operation in {@linkcode API}. */
export type OperationId = keyof typeof API;

/**
 * The shared schemas by name: each becomes one entry of the OpenAPI document's
 * `components.schemas`, referred to wherever it is used. Schemas a route uses that are not
 * here are written out in place.
 */
export const API_SCHEMAS: Record<string, z.ZodType> = {
  ErrorBody,
  JobSpec,
  Requires,
  Backoff,
  Script,
  RuntimeInfo,
  HostFacts,
  AttemptView,
  JobView,
  JobList,
  JobBatch,
  JobBatchView,
  QueueView,
  QueueList,
  AgentView,
  AgentList,
  AgentPatch,
  DrainRequest,
  UptimeWindowView,
  AgentUptimeView,
  HealthSampleView,
  AgentHealthView,
  HousekeepingView,
  ScheduleSpec,
  ScheduleView: ScheduleViewSchema,
  FireView: FireViewSchema,
  ScheduleList: ScheduleListSchema,
  NextFireTimes,
  SecretInput,
  SecretView,
  SecretList,
  UserView: UserViewSchema,
  UserList: UserListSchema,
  TokenView: TokenViewSchema,
  NewTokenView: NewTokenViewSchema,
  TokenList: TokenListSchema,
  CreatedUser: CreatedUserSchema,
  EnrolAnswer: EnrolAnswerSchema,
  AuditEntry: AuditEntrySchema,
  AuditList: AuditListSchema,
  Report: ReportView,
  ReportSent,
};

type Field<K extends OperationId, F extends string> = (typeof API)[K] extends
  { [P in F]: infer S extends z.ZodType } ? S : never;

/** Path parameters of an operation (`never` when it has none). */
export type RouteParams<K extends OperationId> = [Field<K, "params">] extends [never] ? never
  : { [P in keyof z.output<Field<K, "params">>]: string | number };

/** Query of an operation, values as the server reads them (`never` when it has none). */
export type RouteQuery<K extends OperationId> = [Field<K, "query">] extends [never] ? never
  : { [P in keyof z.output<Field<K, "query">>]?: z.output<Field<K, "query">>[P] };

/** Request body of an operation as sent (`never` when it takes none). */
export type RouteBody<K extends OperationId> = [Field<K, "body">] extends [never] ? never
  : z.input<Field<K, "body">>;

/** The JSON answer of an operation (`void` when it answers with no JSON). */
export type RouteResponse<K extends OperationId> = (typeof API)[K] extends { media: string } ? void
  : [Field<K, "response">] extends [never] ? void
  : z.output<Field<K, "response">>;

/**
 * Fills a route's `:name` segments: `fillPath("/api/v1/jobs/:id", {id: 42})` is
 * `/api/v1/jobs/42`. Values are URI-encoded; a missing one throws.
 */
export function fillPath(path: string, params: Record<string, string | number>): string {
  return path.replace(/\/:([A-Za-z_]\w*)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new TypeError(`Missing path parameter ${name} of ${path}`);
    return `/${encodeURIComponent(String(value))}`;
  });
}
