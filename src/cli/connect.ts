/**
 * How client commands reach the server: `--server`, `--token` and `--ca` (the CA that signed an
 * `https://` server's certificate) turned into a {@linkcode Client}.
 * @module
 */

import { Client } from "./client.ts";
import { type ParsedArgs, UsageError } from "./flags.ts";

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

/** The API client a client command's flags describe. */
export function clientFromArgs(args: ParsedArgs): Client {
  const ca = args.str("ca");
  return new Client({
    server: args.str("server")!,
    token: args.str("token"),
    caCerts: ca ? readCaFile(ca) : undefined,
  });
}
