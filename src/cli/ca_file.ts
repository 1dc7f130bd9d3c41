/**
 * Reading the PEM file of a `--ca`-like flag, for the client commands, the agent and the server's
 * report mail alike; apart from `connect.ts` so the agent does not load the API client.
 * @module
 */

import { UsageError } from "./flags.ts";

/** Reads a PEM file of CA certificates named by `flag`; throws a usage error naming it. */
export function readCaFile(path: string, flag = "--ca"): string[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new UsageError(`Cannot read ${flag} ${path}: ${e instanceof Error ? e.message : e}`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new UsageError(`${flag} ${path} holds no PEM certificate`);
  }
  return [text];
}
