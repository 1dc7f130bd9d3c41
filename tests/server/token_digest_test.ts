import assert from "node:assert/strict";
import { sha256, tokenDigest } from "../../src/server/principals.ts";

async function subtleHex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("tokenDigest() is the SHA-256 of the token's UTF-8 bytes, as stored digests expect", async () => {
  assert.equal(
    tokenDigest("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  // Empty, multi-byte characters, and lengths across SHA-256's 64-byte blocks.
  for (
    const token of ["", "jdu_Zm9v", "tökén-✓-🔑", "x".repeat(55), "y".repeat(64), "z".repeat(200)]
  ) {
    assert.equal(tokenDigest(token), await subtleHex(token), `token ${JSON.stringify(token)}`);
    assert.equal(sha256(token).length, 32);
  }
});
