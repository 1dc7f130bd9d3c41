/**
 * Who is calling. Every HTTP request and agent hello passes through one authenticator; roles,
 * users and per-object rules build on the principal it returns.
 * @module
 */

/** An authenticated caller. */
export interface Principal {
  /** `admin` may do everything; `agent` may only speak the agent protocol. */
  role: "admin" | "agent";
  name: string;
}

/** Options of {@linkcode createAuthenticator}. */
export interface AuthOptions {
  /** Tokens that grant the admin role (API and agents). Empty: no authentication. */
  tokens: string[];
  /** Tokens that only let agents connect. */
  agentTokens?: string[];
}

/** Resolves a bearer token to a principal. */
export interface Authenticator {
  /** Whether any token is configured; without one, every caller is an anonymous admin. */
  readonly required: boolean;
  authenticate(token: string | null): Promise<Principal | null>;
}

/** Builds the token authenticator. Tokens are compared as SHA-256 digests in constant time. */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const entries = Promise.all([
    ...options.tokens.map(async (t) => ({ digest: await sha256(t), role: "admin" as const })),
    ...(options.agentTokens ?? []).map(async (t) => ({
      digest: await sha256(t),
      role: "agent" as const,
    })),
  ]);
  const required = options.tokens.length + (options.agentTokens?.length ?? 0) > 0;
  return {
    required,
    async authenticate(token) {
      if (!required) return { role: "admin", name: "anonymous" };
      if (!token) return null;
      const digest = await sha256(token);
      let found: Principal | null = null;
      // Visit every entry so the time taken does not depend on which one matched.
      for (const e of await entries) {
        if (constantTimeEqual(digest, e.digest) && !found) found = { role: e.role, name: e.role };
      }
      return found;
    },
  };
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | null | undefined): string | null {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m ? m[1] : null;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Compares two byte arrays without an early exit. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether `host` is a loopback address (or `localhost`). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
