/**
 * Job output on disk: one append-only file per job (`<dir>/<job id>.log`) whose byte `i` is
 * byte `i` of the job's output. The store keeps the index (which attempt and stream wrote
 * which range) in SQLite and calls {@linkcode LogFiles.sync} with its group commit's fsync,
 * so output is durable exactly when the rows that point at it are. Bytes past the indexed end
 * (written just before a crash, never committed) are cut off when the job appends again.
 * @module
 */

/** Files kept open for appending; past this the least recently written is closed. */
const OPEN_FILES = 64;

/** An open log file. */
interface Handle {
  file: Deno.FsFile;
  /** Where the next write lands without a seek. */
  pos: number;
  /** The file's size. */
  end: number;
  /** Still in the open-file cache (otherwise closed once no fsync needs it). */
  cached: boolean;
  /** An fsync of it is under way. */
  syncing: boolean;
}

/** Options of {@linkcode LogFiles}. */
export interface LogFilesOptions {
  /** Whether {@linkcode LogFiles.sync} fsyncs (false: the store does not fsync either). */
  durable: boolean;
}

/** The directory of job output files next to a database (`null` for `:memory:`). */
export function logDirOf(dbPath: string | null): string | null {
  return dbPath === null ? null : `${dbPath}.logs`;
}

/** The output files of one database. */
export class LogFiles {
  readonly #durable: boolean;
  /** The directory; for an in-memory database a temporary one, made on first use. */
  #dir: string | null;
  readonly #temporary: boolean;
  /** Open files by job id, least recently written first. */
  readonly #open = new Map<number, Handle>();
  /** Files written since their last fsync. */
  readonly #dirty = new Set<Handle>();
  /** A file was created since the directory's last fsync. */
  #dirDirty = false;
  #dirMade = false;
  /** Every open file, cached or waiting for its fsync. */
  readonly #handles = new Set<Handle>();
  #closed = false;
  /** Files fsynced so far. */
  syncs = 0;

  /** `dir` is where the files live (`null`: a temporary directory removed on close). */
  constructor(dir: string | null, options: LogFilesOptions) {
    this.#dir = dir;
    this.#temporary = dir === null;
    this.#durable = options.durable;
  }

  /** The directory (`null` until a temporary one is made). */
  get dir(): string | null {
    return this.#dir;
  }

  /** The file of job `jobId` (in a directory that may not exist yet). */
  #path(jobId: number): string {
    return `${this.#dir}/${jobId}.log`;
  }

  /** Makes the directory on the first file. */
  #makeDir(): void {
    if (this.#dirMade) return;
    if (this.#dir === null) this.#dir = Deno.makeTempDirSync({ prefix: "jobdist-logs-" });
    else if (!exists(this.#dir)) {
      Deno.mkdirSync(this.#dir, { recursive: true });
      // Once per database: the new directory's entry must outlive a crash like its files.
      if (this.#durable) fsyncDir(`${this.#dir}/..`);
    }
    this.#dirMade = true;
  }

  /**
   * Writes `bytes` at byte `offset` of job `jobId`'s file, first cutting the file at `offset`
   * if it is longer: the index ends there, so anything further was never committed (written
   * before a crash, or by a write whose transaction was undone).
   */
  append(jobId: number, offset: number, bytes: Uint8Array): void {
    let h = this.#open.get(jobId);
    if (h) {
      this.#open.delete(jobId); // re-inserted below: most recently written last
    } else {
      const file = this.#openFile(jobId);
      h = { file, pos: 0, end: file.statSync().size, cached: true, syncing: false };
      this.#handles.add(h);
      if (this.#open.size >= OPEN_FILES) this.#evict();
    }
    this.#open.set(jobId, h);
    if (h.end > offset) h.file.truncateSync(offset);
    if (h.pos !== offset) h.file.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < bytes.length) done += h.file.writeSync(bytes.subarray(done));
    h.pos = h.end = offset + bytes.length;
    if (this.#durable) this.#dirty.add(h);
  }

  #openFile(jobId: number): Deno.FsFile {
    this.#makeDir();
    const path = this.#path(jobId);
    try {
      const file = Deno.openSync(path, { read: true, write: true, createNew: true });
      this.#dirDirty = this.#durable;
      return file;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      return Deno.openSync(path, { read: true, write: true });
    }
  }

  #evict(): void {
    const [jobId, h] = this.#open.entries().next().value!;
    this.#open.delete(jobId);
    this.#release(h);
  }

  /** Closes a handle that left the cache, unless an fsync still needs it (which closes it). */
  #release(h: Handle): void {
    h.cached = false;
    if (h.syncing || this.#dirty.has(h)) return;
    this.#close(h);
  }

  #close(h: Handle): void {
    this.#handles.delete(h);
    h.file.close();
  }

  /** Bytes `from` to `to` of job `jobId`'s output (fewer if the file is shorter). */
  read(jobId: number, from: number, to: number): Uint8Array {
    if (to <= from || this.#dir === null) return new Uint8Array(0);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(this.#path(jobId), { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return new Uint8Array(0);
      throw e;
    }
    try {
      const buf = new Uint8Array(to - from);
      file.seekSync(from, Deno.SeekMode.Start);
      let got = 0;
      while (got < buf.length) {
        const n = file.readSync(buf.subarray(got));
        if (n === null || n === 0) break;
        got += n;
      }
      return got === buf.length ? buf : buf.subarray(0, got);
    } finally {
      file.close();
    }
  }

  /** The size of job `jobId`'s file (0 if it has none). */
  size(jobId: number): number {
    if (this.#dir === null) return 0;
    try {
      return Deno.statSync(this.#path(jobId)).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return 0;
      throw e;
    }
  }

  /** Deletes job `jobId`'s file. */
  remove(jobId: number): void {
    const h = this.#open.get(jobId);
    if (h) {
      this.#open.delete(jobId);
      this.#dirty.delete(h); // its bytes are going: nothing to make durable
      this.#release(h);
    }
    if (this.#dir === null) return;
    try {
      Deno.removeSync(this.#path(jobId));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  /** fsyncs (off the event loop) every file written since the last call, and the directory. */
  async sync(): Promise<void> {
    if (this.#dirty.size === 0 && !this.#dirDirty) return;
    const files = [...this.#dirty];
    this.#dirty.clear();
    const dir = this.#dirDirty;
    this.#dirDirty = false;
    for (const h of files) h.syncing = true;
    try {
      await Promise.all([
        ...files.map((h) => h.file.syncData()),
        dir ? this.#syncDir() : undefined,
      ]);
      this.syncs += files.length;
    } catch (e) {
      // Not durable after all: the next sync tries again.
      for (const h of files) if (h.cached) this.#dirty.add(h);
      this.#dirDirty ||= dir;
      throw e;
    } finally {
      for (const h of files) {
        h.syncing = false;
        if (!h.cached && !this.#dirty.has(h) && !this.#closed) this.#close(h);
      }
    }
  }

  async #syncDir(): Promise<void> {
    using dir = await Deno.open(this.#dir!, { read: true });
    await dir.syncData();
  }

  /** fsyncs what {@linkcode LogFiles.sync} would, blocking (for closing). */
  syncSync(): void {
    for (const h of this.#dirty) h.file.syncDataSync();
    this.syncs += this.#dirty.size;
    this.#dirty.clear();
    if (this.#dirDirty) {
      fsyncDir(this.#dir!);
      this.#dirDirty = false;
    }
  }

  /** Syncs and closes every file; a temporary directory is removed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.syncSync();
    for (const h of this.#handles) this.#close(h);
    this.#open.clear();
    if (this.#temporary && this.#dir !== null) Deno.removeSync(this.#dir, { recursive: true });
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** fsyncs a directory (its entries), blocking. */
function fsyncDir(path: string): void {
  using dir = Deno.openSync(path, { read: true });
  dir.syncDataSync();
}
