/**
 * The OpenAPI 3.1 document of `/api/v1`, generated from the route table
 * (`src/protocol/api.ts`) and its zod schemas with `z.toJSONSchema`, never written by hand.
 * Served at `GET /api/v1/openapi.json` without a token.
 *
 * Request bodies are described as sent (defaults optional) and answers as received (defaults
 * filled in). A shared schema that reads differently on the two sides gets a second component,
 * `<Name>Input`, for the request side.
 * @module
 */

import type { Env, Hono } from "hono";
import { z } from "zod";
import { API, API_SCHEMAS, type ErrorStatus, type Route, VERSION } from "../protocol/mod.ts";

type Json = Record<string, unknown>;

const REF = "#/components/schemas/";
/** Marks refs of the request-side conversion until it is known which names need `Input`. */
const INPUT_MARK = "~input";

const ERRORS: Record<ErrorStatus, { name: string; description: string }> = {
  400: { name: "Invalid", description: "The request was malformed; `field` names what to fix" },
  401: { name: "Unauthorized", description: "Missing or invalid bearer token" },
  403: { name: "Forbidden", description: "The token may not do this (agent tokens)" },
  404: { name: "NotFound", description: "No such job, agent, schedule, user, token or secret" },
  409: { name: "Conflict", description: "Not possible in the current state" },
  413: { name: "TooLarge", description: "The request body is too large" },
  429: {
    name: "TooManyRequests",
    description: "Too many failed logins from this address, or submissions by this user",
  },
};

const TAGS: Record<Route["tag"], string> = {
  jobs: "Submit, list, follow and cancel jobs",
  agents: "The agents, their health and their management",
  schedules: "Cron schedules",
  secrets: "Secrets that jobs get as environment variables by reference",
  access: "Users, tokens, agent enrolment and the audit log",
  admin: "Backups and housekeeping",
  meta: "This description",
};

/** Turns a Hono path (`/jobs/:id`) into an OpenAPI path (`/jobs/{id}`). */
export function openApiPath(path: string): string {
  return path.replace(/\/:([A-Za-z_]\w*)/g, "/{$1}");
}

/** Builds the OpenAPI 3.1 document of `routes` (by operation id; default: the whole API). */
export function openApiDocument(routes: Record<string, Route> = API): Json {
  const schemas = new Schemas(routes);
  const paths: Record<string, Record<string, Json>> = {};
  for (const [id, route] of Object.entries(routes)) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(id, route, schemas);
  }
  const responses = Object.fromEntries(
    Object.entries(ERRORS).map(([status, { name, description }]) => [name, {
      description,
      ...(status === "429" && {
        headers: {
          "Retry-After": { description: "Seconds to wait", schema: { type: "integer" } },
        },
      }),
      content: { "application/json": { schema: { $ref: `${REF}ErrorBody` } } },
    }]),
  );
  return {
    openapi: "3.1.0",
    info: {
      title: "jobdist",
      version: VERSION,
      description: "The HTTP API of a jobdist server: jobs, agents, schedules and operations. " +
        "Errors carry an ErrorBody. Instants are RFC 3339, durations strings such as 90s.",
    },
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [{ bearer: [] }],
    paths,
    components: {
      schemas: schemas.components({ paths, responses }),
      responses,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "A token given to the server with --token (agent-only tokens are refused)",
        },
      },
    },
  };
}

/** Mounts `GET /api/v1/openapi.json` on the root app (before `/api/v1`, so it needs no token). */
export function mountOpenApi<E extends Env>(app: Hono<E>): void {
  let document: Json | undefined;
  app.get("/api/v1/openapi.json", (c) => c.json(document ??= openApiDocument()));
}

function operation(id: string, route: Route, schemas: Schemas): Json {
  const parameters = [
    ...parametersOf("path", route.params),
    ...parametersOf("query", route.query),
    ...parametersOf("header", route.headers),
  ];
  const success: Json = { description: route.status === 201 ? "Created" : "OK" };
  if (route.status === 204) success.description = "Done; no body";
  else if (route.media) {
    success.content = {
      [route.media]: route.response ? { schema: schemas.inline(route.response, "output") } : {},
    };
  } else if (route.response) {
    success.content = { "application/json": { schema: schemas.ref(route.response, "output") } };
    for (const media of route.alternatives ?? []) {
      (success.content as Json)[media] = { schema: { type: "string" } };
    }
  }
  const responses: Json = { [route.status]: success };
  for (const status of errorStatuses(route)) {
    responses[status] = { $ref: `#/components/responses/${ERRORS[status].name}` };
  }
  return {
    operationId: id,
    summary: route.summary,
    ...(route.description && { description: route.description }),
    tags: [route.tag],
    ...(parameters.length && { parameters }),
    ...(route.body && {
      requestBody: {
        required: !route.optionalBody,
        content: { "application/json": { schema: schemas.ref(route.body, "input") } },
      },
    }),
    responses,
    ...(route.public && { security: [] }),
  };
}

/** The error statuses a route can answer with, from what it takes and what it declares. */
function errorStatuses(route: Route): ErrorStatus[] {
  const set = new Set<ErrorStatus>(route.errors ?? []);
  if (route.params || route.query || route.headers || route.body) set.add(400);
  if (!route.public) set.add(401).add(403).add(429);
  if (route.params) set.add(404);
  if (route.body) set.add(413);
  return [...set].sort((a, b) => a - b);
}

function parametersOf(where: "path" | "query" | "header", shape?: z.ZodObject): Json[] {
  if (!shape) return [];
  const json = clean(z.toJSONSchema(shape, { io: "input", override: dropDatePattern }));
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, schema]) => {
    const { description, ...rest } = schema;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description !== undefined && { description }),
      schema: rest,
    };
  });
}

/**
 * The JSON Schemas of the route table, converted once per side: `output` for answers,
 * `input` for request bodies. Named schemas (from `API_SCHEMAS`) become components.
 */
class Schemas {
  readonly #names = new Map<z.ZodType, string>();
  readonly #output: Record<string, Json>;
  readonly #input: Record<string, Json>;
  /** Names whose request-side schema differs from their answer-side one. */
  readonly #differs = new Set<string>();

  constructor(routes: Record<string, Route>) {
    const registry = z.registry<{ id: string }>();
    for (const [name, schema] of Object.entries(API_SCHEMAS)) {
      registry.add(schema, { id: name });
      this.#names.set(schema, name);
    }
    // Unnamed bodies and answers go through the same conversion (so their refs to named
    // schemas resolve) under a temporary name, and are written out in place.
    for (const [id, route] of Object.entries(routes)) {
      for (const [part, schema] of [["body", route.body], ["response", route.response]] as const) {
        if (schema && !this.#names.has(schema)) {
          registry.add(schema, { id: `~${id}.${part}` });
          this.#names.set(schema, `~${id}.${part}`);
        }
      }
    }
    const convert = (io: "input" | "output") => {
      const mark = io === "input" ? INPUT_MARK : "";
      const { schemas } = z.toJSONSchema(registry, {
        io,
        uri: (id) => REF + id + mark,
        override: dropDatePattern,
      });
      return Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, clean(v)]));
    };
    this.#output = convert("output");
    this.#input = convert("input");
    for (const name of Object.keys(this.#input)) {
      const unmarked = mapRefs(this.#input[name], (n) => n);
      if (JSON.stringify(unmarked) !== JSON.stringify(this.#output[name])) this.#differs.add(name);
    }
    // A schema that refers to one that differs differs too.
    for (let grew = true; grew;) {
      grew = false;
      for (const name of Object.keys(this.#input)) {
        if (this.#differs.has(name)) continue;
        if (refsOf(this.#input[name]).some((r) => this.#differs.has(r))) {
          this.#differs.add(name);
          grew = true;
        }
      }
    }
  }

  /** A `$ref` to a named schema, or the schema in place when it has no name. */
  ref(schema: z.ZodType, io: "input" | "output"): Json {
    const name = this.#names.get(schema)!;
    if (name.startsWith("~")) return this.#side(name, io);
    return { $ref: REF + (io === "input" ? this.#inputName(name) : name) };
  }

  /** A schema written out in place (refs inside it still point at components). */
  inline(schema: z.ZodType, io: "input" | "output"): Json {
    const name = this.#names.get(schema);
    if (name) return this.#side(name, io);
    return clean(z.toJSONSchema(schema, { io, override: dropDatePattern }));
  }

  /** The components that `used` refers to, directly or through other components. */
  components(used: Json): Record<string, Json> {
    const out: Record<string, Json> = {};
    const todo = refsOf(used);
    while (todo.length) {
      const name = todo.pop()!;
      if (out[name]) continue;
      const input = name.endsWith("Input") && this.#differs.has(name.slice(0, -5));
      out[name] = input ? this.#side(name.slice(0, -5), "input") : this.#output[name];
      todo.push(...refsOf(out[name]));
    }
    return Object.fromEntries(Object.keys(out).sort().map((k) => [k, out[k]]));
  }

  #inputName(name: string): string {
    return this.#differs.has(name) ? `${name}Input` : name;
  }

  #side(name: string, io: "input" | "output"): Json {
    if (io === "output") return this.#output[name];
    return mapRefs(this.#input[name], (n) => this.#inputName(n));
  }
}

/** Drops what OpenAPI does not want at the top of a schema (`$schema`, `$id`). */
function clean(schema: object): Json {
  const { $schema: _s, $id: _i, ...rest } = schema as Json;
  return rest;
}

/** Instants say `format: date-time`; zod's long regex for them only adds noise. */
function dropDatePattern(ctx: { jsonSchema: Json }): void {
  if (ctx.jsonSchema.format === "date-time") delete ctx.jsonSchema.pattern;
}

/** Names of the components a value refers to (marked request-side refs unmarked). */
function refsOf(value: unknown): string[] {
  const out: string[] = [];
  mapRefs(value, (name) => (out.push(name), name));
  return out;
}

/** A deep copy of `value` with each component ref renamed by `rename`. */
function mapRefs<T>(value: T, rename: (name: string) => string): T {
  if (Array.isArray(value)) return value.map((v) => mapRefs(v, rename)) as T;
  if (!value || typeof value !== "object") return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "$ref" && typeof v === "string" && v.startsWith(REF)) {
      const name = v.slice(REF.length).replace(INPUT_MARK, "");
      out[k] = REF + rename(name);
    } else out[k] = mapRefs(v, rename);
  }
  return out as T;
}
