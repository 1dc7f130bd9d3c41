import assert from "node:assert/strict";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { z } from "zod";
import type {
  AuditList,
  CreatedUser,
  EnrolAnswer,
  NewTokenView,
  TokenView,
  UserView,
} from "../../src/protocol/access.ts";
import {
  API,
  type AuditListSchema,
  type CreatedUserSchema,
  type EnrolAnswerSchema,
  ErrorBody,
  type NewTokenViewSchema,
  type OperationId,
  type ReportView,
  type Route,
  type RouteResponse,
  type ScheduleList,
  type ScheduleListSchema,
  type ScheduleView,
  type ScheduleViewSchema,
  type TokenViewSchema,
  type UserViewSchema,
} from "../../src/protocol/mod.ts";
import { openApiDocument, openApiPath } from "../../src/server/openapi.ts";
import type { Report } from "../../src/server/report.ts";
import { type CallInput, Client } from "../../src/cli/client.ts";
import { startTestAgent, startTestServer, waitForJob, waitUntil } from "../helpers.ts";
import { fullApp } from "./full_app.ts";

// Some views are interfaces of their own modules; their schemas must describe the same shapes.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
const _sameShapes: true[] = [
  true satisfies Same<z.infer<typeof ScheduleViewSchema>, ScheduleView>,
  true satisfies Same<z.infer<typeof ScheduleListSchema>, ScheduleList>,
  true satisfies Same<z.infer<typeof UserViewSchema>, UserView>,
  true satisfies Same<z.infer<typeof TokenViewSchema>, TokenView>,
  true satisfies Same<z.infer<typeof NewTokenViewSchema>, NewTokenView>,
  true satisfies Same<z.infer<typeof CreatedUserSchema>, CreatedUser>,
  true satisfies Same<z.infer<typeof EnrolAnswerSchema>, EnrolAnswer>,
  true satisfies Same<z.infer<typeof AuditListSchema>, AuditList>,
  true satisfies Same<z.infer<typeof ReportView>, Report>,
];

const documentedOperations = (doc: ReturnType<typeof openApiDocument>) =>
  Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();

Deno.test("the OpenAPI document is valid OpenAPI 3.1", async () => {
  const doc = openApiDocument();
  const validator = new Validator();
  const result = await validator.validate(doc);
  assert.equal(validator.version, "3.1");
  assert.deepEqual(result.errors, undefined);
  assert.equal(result.valid, true);
  // Every $ref resolves: the validator reports dangling ones, as this broken copy shows.
  const broken = structuredClone(doc) as { components: { schemas: Record<string, unknown> } };
  delete broken.components.schemas.JobView;
  assert.equal((await new Validator().validate(broken)).valid, false);
});

Deno.test("the OpenAPI document lists every /api/v1 route the app serves, and only those", () => {
  const { app, close } = fullApp();
  try {
    const served = [
      ...new Set(
        app.routes
          .filter((r) => r.method !== "ALL" && r.path.startsWith("/api/v1/"))
          .map((r) => `${r.method} ${openApiPath(r.path)}`),
      ),
    ].sort();
    const documented = documentedOperations(openApiDocument());
    assert.ok(served.includes("GET /api/v1/jobs/{id}"), served.join("\n"));
    const undocumented = served.filter((r) => !documented.includes(r));
    const unserved = documented.filter((r) => !served.includes(r));
    assert.deepEqual(
      undocumented,
      [],
      `Served but missing from API in src/protocol/api.ts:\n${undocumented.join("\n")}`,
    );
    assert.deepEqual(unserved, [], `In API but not served:\n${unserved.join("\n")}`);
  } finally {
    close();
  }
});

Deno.test("the OpenAPI document describes bodies, parameters, errors and security", () => {
  // deno-lint-ignore no-explicit-any -- walking the JSON document
  const doc = openApiDocument() as Record<string, any>;
  const getJob = doc.paths["/api/v1/jobs/{id}"].get;
  assert.equal(getJob.operationId, "getJob");
  assert.deepEqual(getJob.parameters.map((p: { name: string; in: string }) => [p.name, p.in]), [[
    "id",
    "path",
  ]]);
  assert.deepEqual(getJob.responses["200"].content["application/json"].schema, {
    $ref: "#/components/schemas/JobView",
  });
  assert.deepEqual(getJob.responses["404"], { $ref: "#/components/responses/NotFound" });
  assert.deepEqual(getJob.responses["429"], { $ref: "#/components/responses/TooManyRequests" });
  assert.equal(
    doc.components.responses.TooManyRequests.headers["Retry-After"].schema.type,
    "integer",
  );
  // Requests are described as sent (defaults optional), answers as received.
  const submit = doc.paths["/api/v1/jobs"].post;
  assert.deepEqual(submit.requestBody.content["application/json"].schema, {
    $ref: "#/components/schemas/JobSpecInput",
  });
  assert.ok(doc.components.schemas.JobSpec.required.includes("queue"));
  assert.ok(!(doc.components.schemas.JobSpecInput.required ?? []).includes("queue"));
  assert.equal(doc.components.schemas.JobView.properties.spec.$ref, "#/components/schemas/JobSpec");
  assert.deepEqual(
    doc.components.responses.NotFound.content["application/json"].schema,
    { $ref: "#/components/schemas/ErrorBody" },
  );
  assert.deepEqual(doc.security, [{ bearer: [] }]);
  assert.equal(doc.components.securitySchemes.bearer.scheme, "bearer");
  assert.deepEqual(doc.paths["/api/v1/openapi.json"].get.security, []);
  const limit = doc.paths["/api/v1/jobs"].get.parameters
    .find((p: { name: string }) => p.name === "limit");
  assert.deepEqual(limit, {
    name: "limit",
    in: "query",
    required: false,
    schema: { default: 50, type: "integer", minimum: 1, maximum: 1000 },
  });
});

Deno.test("a real server's answers parse with the documented response schemas", async () => {
  const server = await startTestServer({ tokens: ["s3cret"] });
  const agent = startTestAgent(server.url, { name: "doc-agent", token: "s3cret" });
  const { client } = server;
  const parsed = async <K extends OperationId>(
    op: K,
    input: CallInput<K>,
  ): Promise<RouteResponse<K>> => {
    const res = await client.request(op, input);
    assert.equal(res.status, API[op].status, op);
    const route: Route = API[op];
    const result = route.response!.safeParse(await res.json());
    assert.ok(result.success, `${op}: ${result.error?.message}`);
    return result.data as RouteResponse<K>;
  };
  try {
    await waitUntil(async () => (await client.agents()).agents.length === 1, 10_000, "agent");
    const job = await client.submit({ shell: "echo hi", name: "documented" });
    await waitForJob(client, job.id);
    await parsed("submitJob", { body: { command: ["true"] } });
    await parsed("submitJobs", { body: { jobs: [{ shell: "true" }, { shell: "true" }] } });
    await parsed("listJobs", { query: { limit: 10 } });
    await parsed("getJob", { params: { id: job.id } });
    const later = await client.submit({ shell: "true", delay: "1h" });
    await parsed("cancelJob", { params: { id: later.id } });
    await parsed("listAgents", {});
    await parsed("getAgentUptime", { params: { id: "doc-agent" } });
    await parsed("getAgentHealth", { params: { id: "doc-agent" }, query: { since: "5m" } });
    await parsed("updateAgent", { params: { id: "doc-agent" }, body: { labels: { zone: "eu" } } });
    await parsed("drainAgent", { params: { id: "doc-agent" }, body: { enabled: false } });
    await parsed("createSchedule", {
      body: { name: "nightly", cron: "0 3 * * *", job: { shell: "true" } },
    });
    await parsed("getSchedule", { params: { ref: "nightly" } });
    await parsed("listSchedules", {});
    await parsed("nextFireTimes", { params: { ref: "nightly" }, query: { n: 3 } });
    await parsed("pauseSchedule", { params: { ref: "nightly" } });
    await parsed("housekeeping", {});
    await parsed("deleteSchedule", { params: { ref: "nightly" } });
    await parsed("createUser", { body: { name: "alice", role: "viewer" } });
    await parsed("listUsers", {});
    await parsed("disableUser", { params: { name: "alice" } });
    await parsed("enableUser", { params: { name: "alice" } });
    const join = await parsed("createToken", { body: { kind: "join", name: "one agent" } });
    await parsed("listTokens", { query: { user: "alice" } });
    const enrol = new Client({ server: server.url, token: join.token });
    const enrolled = await enrol.request("enrolAgent", { body: { agent_id: "enrolled-1" } });
    assert.equal(enrolled.status, 201);
    assert.ok(API.enrolAgent.response.safeParse(await enrolled.json()).success);
    await parsed("revokeAgent", { params: { id: "enrolled-1" } });
    await parsed("revokeToken", { params: { id: join.id } });
    await parsed("listAudit", { query: { limit: 5 } });
    await parsed("getReport", { query: { period: "1h" } });

    // Errors carry the documented ErrorBody; the description itself needs no token.
    const missing = await fetch(`${server.url}/api/v1/jobs/424242`, {
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal(missing.status, 404);
    assert.ok(ErrorBody.safeParse(await missing.json()).success);
    const anonymous = await fetch(`${server.url}/api/v1/jobs`);
    assert.equal(anonymous.status, 401);
    assert.ok(ErrorBody.safeParse(await anonymous.json()).success);
    const doc = await fetch(`${server.url}/api/v1/openapi.json`);
    assert.equal(doc.status, 200);
    assert.deepEqual(await doc.json(), JSON.parse(JSON.stringify(openApiDocument())));
  } finally {
    await agent.stop();
    await server.stop();
  }
});
