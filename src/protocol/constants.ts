/**
 * Plain values both roles share, in a module that imports nothing: the agent reads them from here
 * so that it loads no schema library (zod and the schemas built at import cost an idle agent
 * about 15 MB). `mod.ts` and `job.ts` re-export them for everyone else.
 * @module
 */

/** The program's version, reported by agents and `jobdist --version`. */
export const VERSION = "0.1.0";

/** Default cap on the output stored for one job (16 MiB). */
export const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

/** Default cap on one line of output (1 MiB); the rest of a longer line is dropped. */
export const DEFAULT_MAX_LINE = 1024 * 1024;
