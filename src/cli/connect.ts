/**
 * How client commands reach the server: `--server`, `--token` and `--ca` (the CA that signed an
 * `https://` server's certificate) turned into a {@linkcode Client}.
 * @module
 */

import { readCaFile } from "./ca_file.ts";
import { Client } from "./client.ts";
import type { ParsedArgs } from "./flags.ts";

/** The API client a client command's flags describe. */
export function clientFromArgs(args: ParsedArgs): Client {
  const ca = args.str("ca");
  return new Client({
    server: args.str("server")!,
    token: args.str("token"),
    caCerts: ca ? readCaFile(ca) : undefined,
  });
}
