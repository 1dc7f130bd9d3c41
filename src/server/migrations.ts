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
  // Operations: agent connection sessions for uptime, 1-minute host-fact samples kept
  // 7 days, and operator overrides (name, labels, disabled) that outlive the agent's hello.
  `
  CREATE TABLE agent_sessions (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    connected_at INTEGER NOT NULL,
    disconnected_at INTEGER,
    last_seen_at INTEGER NOT NULL
  );
  CREATE INDEX agent_sessions_by_agent ON agent_sessions (agent_id, connected_at);
  CREATE INDEX agent_sessions_open ON agent_sessions (agent_id) WHERE disconnected_at IS NULL;

  CREATE TABLE agent_samples (
    agent_id TEXT NOT NULL,
    t INTEGER NOT NULL,
    n INTEGER NOT NULL,
    load1 REAL,
    cpus INTEGER,
    mem_total REAL,
    mem_available REAL,
    disk_free REAL,
    rss REAL,
    PRIMARY KEY (agent_id, t)
  ) WITHOUT ROWID;
  CREATE INDEX agent_samples_by_t ON agent_samples (t);

  CREATE TABLE agent_overrides (
    agent_id TEXT PRIMARY KEY,
    name TEXT,
    labels TEXT,
    disabled INTEGER NOT NULL DEFAULT 0
  );

  -- /readyz proves the database takes writes by touching this row.
  CREATE TABLE ops_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);

  -- Retention prunes finished jobs by age.
  CREATE INDEX jobs_by_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
  `,
  // Cron schedules and their fires. UNIQUE (schedule_id, fire_time) is what guarantees that a
  // fire time runs at most once, even across restarts and crashes.
  `
  CREATE TABLE schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_fire_time INTEGER
  );

  CREATE TABLE schedule_fires (
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_time INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    job_id INTEGER,
    reason TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (schedule_id, fire_time)
  );
  CREATE INDEX schedule_fires_by_job ON schedule_fires (job_id) WHERE job_id IS NOT NULL;
  `,
  // Dependencies, batches and concurrency limits: a job's `after` edges (looked up by the job
  // that finishes), batch tasks by parent, and per-queue concurrency limits.
  `
  CREATE TABLE job_deps (
    dep_id INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (dep_id, job_id)
  ) WITHOUT ROWID;
  ALTER TABLE jobs ADD COLUMN parent_id INTEGER;
  ALTER TABLE jobs ADD COLUMN batch_index INTEGER;
  CREATE INDEX jobs_by_parent ON jobs (parent_id, batch_index) WHERE parent_id IS NOT NULL;
  CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    concurrency INTEGER
  );
  `,
  // Webhooks: one row per (job, event) call with its tries, written in the transaction of the
  // state change it reports, and the signing secret generated when none is configured.
  `
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    timeout_ms INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status_code INTEGER,
    error TEXT,
    created_at INTEGER NOT NULL,
    last_attempt_at INTEGER,
    next_attempt_at INTEGER
  );
  CREATE INDEX webhook_deliveries_by_job ON webhook_deliveries (job_id, created_at);
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';

  CREATE TABLE webhook_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // Delayed jobs are loaded a window at a time in due order (delayed.ts).
  `
  CREATE INDEX jobs_scheduled_by_run_at ON jobs (run_at, id) WHERE state = 'scheduled';
  `,
  // Principals: users with a role, tokens kept only as SHA-256 digests (user, agent and join
  // tokens), and the append-only audit log (triggers refuse updates and deletes).
  `
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    created_by TEXT
  );

  CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id),
    agent_id TEXT,
    name TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    expires_at INTEGER,
    revoked_at INTEGER,
    used_at INTEGER
  );
  CREATE INDEX tokens_by_agent ON tokens (agent_id) WHERE agent_id IS NOT NULL;

  CREATE INDEX jobs_by_owner ON jobs (owner, state, id);

  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    principal TEXT,
    role TEXT,
    source TEXT,
    target TEXT,
    detail TEXT
  );
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  // Secrets, encrypted at rest: AES-256-GCM with a fresh nonce per value, bound to its
  // namespace and name (additional data) so a row copied under another name does not decrypt.
  `
  CREATE TABLE secrets (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
  ) WITHOUT ROWID;
  `,
  // Output in a rowid table: WITHOUT ROWID suits small rows, while output pieces are up to 256
  // KiB (storing 40-64 KiB pieces is about 1.2x faster this way). Same key, now a unique index.
  `
  CREATE TABLE log_chunks_v2 (
    job_id INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    attempt_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stream TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (job_id, offset)
  );
  INSERT INTO log_chunks_v2 (job_id, offset, attempt_id, seq, stream, data)
    SELECT job_id, offset, attempt_id, seq, stream, data FROM log_chunks;
  DROP TABLE log_chunks;
  ALTER TABLE log_chunks_v2 RENAME TO log_chunks;
  `,
  // Output moves to a file per job (`<db>.logs/<job id>.log`); SQLite keeps only where each
  // piece lies. `log_chunks` now holds output not yet in a file (a database from before this
  // migration, or a backup, which carries its output inside): the store writes those rows to
  // the files and deletes them when it opens the database.
  `
  CREATE TABLE log_index (
    job_id INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    attempt_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stream TEXT NOT NULL,
    PRIMARY KEY (job_id, offset)
  ) WITHOUT ROWID;
  INSERT INTO log_index (job_id, offset, length, attempt_id, seq, stream)
    SELECT job_id, offset, length(CAST(data AS BLOB)), attempt_id, seq, stream FROM log_chunks;
  `,
];
