/**
 * Housekeeping: finished jobs (with their attempts and output) are deleted once older than the
 * retention period, agent health history past its own horizon too, and the WAL is checkpointed
 * (`TRUNCATE`) so it cannot grow without bound. Deletes go in batches, each its own group
 * commit, so a large backlog never holds the event loop for long.
 * @module
 */

import type { AgentHealth } from "./health.ts";
import type { Store } from "./store.ts";

/** Jobs deleted per transaction. */
const BATCH = 500;

/** What one pass did. */
export interface PruneResult {
  jobs: number;
  healthRows: number;
}

/**
 * Deletes jobs that finished before `now - retentionMs`, their attempts, output and webhook
 * deliveries, plus old health rows. Yields to the event loop between batches.
 */
export async function pruneFinished(
  store: Store,
  health: AgentHealth | undefined,
  now: number,
  retentionMs: number,
): Promise<PruneResult> {
  const db = store.db;
  const cutoff = now - retentionMs;
  const pick = db.prepare(
    `SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?
      AND state IN ('succeeded', 'failed', 'timed_out', 'cancelled') LIMIT ?`,
  );
  const delAttempts = db.prepare("DELETE FROM attempts WHERE job_id = ?");
  const delWebhooks = db.prepare("DELETE FROM webhook_deliveries WHERE job_id = ?");
  const delJob = db.prepare("DELETE FROM jobs WHERE id = ?");
  let jobs = 0;
  for (;;) {
    const n = store.write(() => {
      const ids = pick.all(cutoff, BATCH) as Array<{ id: number }>;
      for (const { id } of ids) {
        store.deleteLog(id);
        delAttempts.run(id);
        delWebhooks.run(id);
        delJob.run(id);
      }
      return ids.length;
    });
    jobs += n;
    await store.durable();
    if (n < BATCH) break;
  }
  const healthRows = health ? health.prune(now) : 0;
  await store.durable();
  return { jobs, healthRows };
}

/**
 * Commits the open group and checkpoints the WAL into the database, truncating it to zero
 * bytes. Returns SQLite's `[busy, log frames, checkpointed frames]`.
 */
export function checkpointWal(store: Store): { busy: number; log: number; checkpointed: number } {
  store.flush();
  const row = store.db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as Record<string, number>;
  return { busy: row.busy, log: row.log, checkpointed: row.checkpointed };
}
