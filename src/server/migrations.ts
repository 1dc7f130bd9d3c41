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
];
