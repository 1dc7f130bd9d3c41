/**
 * Prepared statements cached by their SQL text: each module that owns tables keeps one of
 * these over the store's single connection.
 * @module
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";

/** A cache of prepared statements on one connection. */
export class Statements {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, StatementSync>();

  constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** The prepared statement for `sql`. */
  prepare(sql: string): StatementSync {
    let s = this.#cache.get(sql);
    if (!s) this.#cache.set(sql, s = this.#db.prepare(sql));
    return s;
  }

  /** Runs a statement that returns no rows. */
  run(sql: string, ...params: SQLInputValue[]) {
    return this.prepare(sql).run(...params);
  }

  /** The first row, typed by the caller (rows come from our own schema). */
  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.prepare(sql).get(...params) as T | undefined;
  }

  /** Every row, typed by the caller. */
  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.prepare(sql).all(...params) as T[];
  }
}
