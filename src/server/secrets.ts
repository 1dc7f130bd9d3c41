/**
 * Secrets of each namespace, encrypted at rest with AES-256-GCM (WebCrypto). The key comes from
 * the operator (`--secrets-key-file` or `JOBDIST_SECRETS_KEY`) and is never stored; each value
 * gets a fresh 96-bit nonce and is bound to its namespace and name as additional data. Values
 * are decrypted once at start and kept in memory (the process holds the key anyway), so jobs
 * are resolved synchronously on the dispatch path. The API never returns a value.
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { JobSpec } from "../protocol/mod.ts";
import type { SecretView } from "../protocol/secret.ts";
import { Statements } from "./sql.ts";
import type { JobStore } from "./store.ts";

/** The namespace of everything until namespaces (teams) exist. */
export const DEFAULT_NAMESPACE = "default";

/** Why a secret could not be stored or used; the message says what to do. */
export class SecretsError extends Error {
  constructor(readonly code: "no_key" | "not_found" | "bad_key", message: string) {
    super(message);
    this.name = "SecretsError";
  }
}

interface SecretRow {
  namespace: string;
  name: string;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
  created_at: number;
  updated_at: number;
}

/**
 * Turns the key's text (32 bytes as base64 or 64 hex digits, surrounding whitespace ignored)
 * into an AES-256-GCM key. Throws a {@linkcode SecretsError} that says what a key looks like.
 */
export async function importSecretsKey(text: string): Promise<CryptoKey> {
  const t = text.trim();
  let bytes: Uint8Array<ArrayBuffer> | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) {
    bytes = new Uint8Array(t.match(/../g)!.map((h) => parseInt(h, 16)));
  } else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b64 = t.replaceAll("-", "+").replaceAll("_", "/");
    bytes = Uint8Array.from(atob(b64.padEnd(44, "=")), (c) => c.charCodeAt(0));
  }
  if (!bytes || bytes.length !== 32) {
    throw new SecretsError(
      "bad_key",
      "The secrets key must be 32 random bytes as base64 or 64 hex digits " +
        "(make one with: openssl rand -base64 32)",
    );
  }
  return await crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** Options of {@linkcode Secrets}. */
export interface SecretsOptions {
  db: DatabaseSync;
  /** The job store whose group transaction writes join. */
  store: JobStore;
  /** The encryption key; without one, secrets can be neither stored nor used. */
  key: CryptoKey | null;
  now?: () => number;
}

/** The secrets of every namespace. */
export class Secrets {
  readonly #sql: Statements;
  readonly #store: JobStore;
  readonly #key: CryptoKey | null;
  readonly #now: () => number;
  /** Decrypted values by `namespace/name`. */
  readonly #values = new Map<string, string>();

  /** Secrets over the store's connection; {@linkcode Secrets.load} makes them usable. */
  constructor(options: SecretsOptions) {
    this.#sql = new Statements(options.db);
    this.#store = options.store;
    this.#key = options.key;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Decrypts every stored secret. Throws if one does not decrypt with the key (a wrong key would
   * otherwise surface only when a job needs the secret).
   */
  async load(): Promise<void> {
    const key = this.#key;
    if (!key) return;
    for (const row of this.#sql.all<SecretRow>("SELECT * FROM secrets")) {
      try {
        const plain = await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: new Uint8Array(row.nonce), additionalData: aad(row) },
          key,
          new Uint8Array(row.ciphertext),
        );
        this.#values.set(ref(row.namespace, row.name), new TextDecoder().decode(plain));
      } catch {
        throw new SecretsError(
          "bad_key",
          `Cannot decrypt secret ${row.name} of namespace ${row.namespace}: ` +
            "the secrets key is not the one it was stored with",
        );
      }
    }
  }

  /** Whether a key is configured. */
  get enabled(): boolean {
    return this.#key !== null;
  }

  /** Stores or replaces a secret; resolves once durable. `created` is false for a replacement. */
  async set(
    namespace: string,
    name: string,
    value: string,
  ): Promise<{ view: SecretView; created: boolean }> {
    if (!this.#key) {
      throw new SecretsError(
        "no_key",
        "Cannot store secrets: the server has no secrets key " +
          "(start it with --secrets-key-file or JOBDIST_SECRETS_KEY)",
      );
    }
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const ciphertext = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce, additionalData: aad({ namespace, name }) },
        this.#key,
        utf8(value),
      ),
    );
    const now = this.#now();
    const created = this.#store.write(() => {
      const old = this.#row(namespace, name);
      this.#sql.run(
        `INSERT INTO secrets (namespace, name, nonce, ciphertext, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (namespace, name) DO UPDATE SET
           nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at`,
        namespace,
        name,
        nonce,
        ciphertext,
        now,
        now,
      );
      return old === undefined;
    });
    this.#values.set(ref(namespace, name), value);
    await this.#store.durable();
    return { view: view(this.#row(namespace, name)!), created };
  }

  /** The secrets of `namespace`, by name: names and timestamps only. */
  list(namespace: string): SecretView[] {
    return this.#sql.all<SecretRow>(
      "SELECT * FROM secrets WHERE namespace = ? ORDER BY name",
      namespace,
    ).map(view);
  }

  /** One secret's name and timestamps, or `undefined`. */
  get(namespace: string, name: string): SecretView | undefined {
    const row = this.#row(namespace, name);
    return row && view(row);
  }

  /** Deletes a secret; resolves to what it was (`undefined` if there was none) once durable. */
  async delete(namespace: string, name: string): Promise<SecretView | undefined> {
    const row = this.#row(namespace, name);
    if (!row) return undefined;
    this.#store.write(() =>
      this.#sql.run("DELETE FROM secrets WHERE namespace = ? AND name = ?", namespace, name)
    );
    this.#values.delete(ref(namespace, name));
    await this.#store.durable();
    return view(row);
  }

  /**
   * The values of a job's secret references by environment name (empty when it has none).
   * Throws a {@linkcode SecretsError} naming the first secret that cannot be had.
   */
  resolve(spec: JobSpec): Record<string, string> {
    const out: Record<string, string> = {};
    // Jobs belong to no namespace (team) yet: every reference reads the default one.
    const namespace = DEFAULT_NAMESPACE;
    for (const [env, value] of Object.entries(spec.env ?? {})) {
      if (typeof value === "string") continue;
      const secret = this.#values.get(ref(namespace, value.secret));
      if (secret === undefined) {
        throw new SecretsError(
          "not_found",
          this.#key
            ? `secret ${value.secret} (for ${env}) does not exist in namespace ${namespace}`
            : `secret ${value.secret} (for ${env}) cannot be read: the server has no secrets key`,
        );
      }
      out[env] = secret;
    }
    return out;
  }

  #row(namespace: string, name: string): SecretRow | undefined {
    return this.#sql.get<SecretRow>(
      "SELECT * FROM secrets WHERE namespace = ? AND name = ?",
      namespace,
      name,
    );
  }
}

function ref(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function aad(row: { namespace: string; name: string }): Uint8Array<ArrayBuffer> {
  return utf8(`jobdist secret ${ref(row.namespace, row.name)}`);
}

function utf8(text: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new TextEncoder().encode(text));
}

function view(row: SecretRow): SecretView {
  return {
    name: row.name,
    namespace: row.namespace,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
