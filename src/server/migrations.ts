/**
 * Numbered schema migrations; `PRAGMA user_version` records how many have run. Append only:
 * never edit a migration that has shipped.
 * @module
 */

/** Migration `i` brings the schema from version `i` to `i + 1`. */
export const MIGRATIONS: readonly string[] = [
  // 1: jobs, attempts, output, agents.
  `
  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    name TEXT,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    spec TEXT NOT NULL,
    owner TEXT,
    created_at INTEGER NOT NULL,
    run_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    exit_code INTEGER,
    signal TEXT,
    reason TEXT,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    lost_count INTEGER NOT NULL DEFAULT 0,
    current_attempt TEXT,
    agent_id TEXT,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT
  );
  CREATE INDEX jobs_by_state ON jobs (state, id);
  CREATE INDEX jobs_by_queue ON jobs (queue, id);
  CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

  CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    agent_id TEXT,
    state TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    exit_code INTEGER,
    signal TEXT,
    error TEXT,
    pid INTEGER
  );
  CREATE INDEX attempts_by_job ON attempts (job_id, n);
  CREATE INDEX attempts_active ON attempts (state) WHERE state IN ('assigned', 'running');

  CREATE TABLE log_chunks (
    job_id INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    attempt_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stream TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, offset)
  ) WITHOUT ROWID;

  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hostname TEXT,
    version TEXT,
    labels TEXT NOT NULL DEFAULT '{}',
    runtimes TEXT NOT NULL DEFAULT '[]',
    slots INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL,
    connected_at INTEGER,
    last_seen INTEGER,
    facts TEXT,
    draining INTEGER NOT NULL DEFAULT 0
  );
  `,
];
