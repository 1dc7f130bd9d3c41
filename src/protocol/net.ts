/**
 * Facts about network addresses that both roles need: the server refuses to listen beyond
 * loopback without tokens, the agent refuses plain `ws://` beyond loopback.
 * @module
 */

/** Whether `host` (a name or an address, IPv6 with or without brackets) is loopback. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}
