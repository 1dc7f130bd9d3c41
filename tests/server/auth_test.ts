import assert from "node:assert/strict";
import {
  bearerToken,
  constantTimeEqual,
  createAuthenticator,
  isLoopback,
} from "../../src/server/auth.ts";

Deno.test("createAuthenticator() without tokens lets everyone in as an anonymous admin", async () => {
  const auth = createAuthenticator({ tokens: [] });
  assert.equal(auth.required, false);
  assert.deepEqual(await auth.authenticate(null), { role: "admin", name: "anonymous" });
  assert.deepEqual(await auth.authenticate("anything"), { role: "admin", name: "anonymous" });
});

Deno.test("createAuthenticator() maps admin and agent tokens to their roles", async () => {
  const auth = createAuthenticator({ tokens: ["adm1", "adm2"], agentTokens: ["agt"] });
  assert.equal(auth.required, true);
  assert.equal((await auth.authenticate("adm1"))?.role, "admin");
  assert.equal((await auth.authenticate("adm2"))?.role, "admin");
  assert.equal((await auth.authenticate("agt"))?.role, "agent");
});

Deno.test("createAuthenticator() refuses missing, empty, wrong and near-miss tokens", async () => {
  const auth = createAuthenticator({ tokens: ["s3cret"] });
  for (const t of [null, "", "wrong", "s3cre", "s3cret ", "S3CRET", "s3cret\0"]) {
    assert.equal(await auth.authenticate(t), null, JSON.stringify(t));
  }
});

Deno.test("createAuthenticator() with only agent tokens requires a token", async () => {
  const auth = createAuthenticator({ tokens: [], agentTokens: ["agt"] });
  assert.equal(auth.required, true);
  assert.equal(await auth.authenticate(null), null);
  assert.equal((await auth.authenticate("agt"))?.role, "agent");
});

Deno.test("bearerToken() extracts the token of a Bearer header", () => {
  assert.equal(bearerToken("Bearer abc.def-123"), "abc.def-123");
  assert.equal(bearerToken("bearer abc"), "abc");
  assert.equal(bearerToken("BEARER   abc  "), "abc");
  for (const h of [null, undefined, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "abc"]) {
    assert.equal(bearerToken(h), null, JSON.stringify(h));
  }
});

Deno.test("constantTimeEqual() compares byte arrays", () => {
  const b = (...xs: number[]) => new Uint8Array(xs);
  assert.equal(constantTimeEqual(b(1, 2, 3), b(1, 2, 3)), true);
  assert.equal(constantTimeEqual(b(), b()), true);
  assert.equal(constantTimeEqual(b(1, 2, 3), b(1, 2, 4)), false);
  assert.equal(constantTimeEqual(b(0, 2, 3), b(1, 2, 3)), false);
  assert.equal(constantTimeEqual(b(1, 2), b(1, 2, 3)), false);
  assert.equal(constantTimeEqual(b(1, 2, 3), b(1, 2)), false);
});

Deno.test("isLoopback() accepts only loopback addresses", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.equal(isLoopback(h), true, h);
  }
  for (
    const h of ["0.0.0.0", "", "::", "10.0.0.1", "192.168.1.1", "127.0.0.1.evil.com", "128.0.0.1"]
  ) {
    assert.equal(isLoopback(h), false, h);
  }
});
