import assert from "node:assert/strict";
import { PrincipalStore, tokenDigest } from "../../src/server/principals.ts";
import { openStore } from "../../src/server/store.ts";
import {
  bearerToken,
  constantTimeEqual,
  createAuthenticator,
  isLoopback,
} from "../../src/server/auth.ts";

Deno.test("createAuthenticator() without tokens lets everyone in as an anonymous admin", async () => {
  const auth = createAuthenticator({ tokens: [] });
  assert.equal(auth.required, false);
  const anonymous = { role: "admin", name: "anonymous", source: "anonymous" };
  assert.deepEqual(await auth.authenticate(null), anonymous);
  assert.deepEqual(await auth.authenticate("anything"), anonymous);
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

/** A principal store over an in-memory database, with a clock the test moves. */
function principalsRig() {
  const store = openStore(":memory:");
  let now = 1_000_000;
  const principals = new PrincipalStore({ db: store.db, jobs: store, now: () => now });
  return {
    store,
    principals,
    now: () => now,
    advance: (ms: number) => (now += ms),
  };
}

Deno.test("stored tokens: 256 random bits, prefixed by kind, kept only as a SHA-256 digest", () => {
  const { store, principals } = principalsRig();
  try {
    const alice = principals.createUser("alice", "user", null);
    const a = principals.issue({ kind: "user", userId: alice.id, createdBy: null });
    const b = principals.issue({ kind: "agent", agentId: "build-1", createdBy: null });
    const c = principals.issue({ kind: "join", createdBy: null });
    assert.match(a.token, /^jd_u_[A-Za-z0-9_-]{43}$/);
    assert.match(b.token, /^jd_a_[A-Za-z0-9_-]{43}$/);
    assert.match(c.token, /^jd_j_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(
      a.token,
      principals.issue({ kind: "user", userId: alice.id, createdBy: null }).token,
    );
    const dump = JSON.stringify(store.db.prepare("SELECT * FROM tokens").all());
    for (const t of [a, b, c]) {
      assert.ok(!dump.includes(t.token.slice(12)), "the secret part is not stored");
      assert.equal(t.row.digest, tokenDigest(t.token));
      assert.equal(t.row.prefix, t.token.slice(0, 12));
    }
  } finally {
    store.close();
  }
});

Deno.test("createAuthenticator() maps stored tokens to their user's role, agent or join", async () => {
  const { store, principals } = principalsRig();
  try {
    const auth = createAuthenticator({ tokens: [], principals });
    assert.equal(auth.required, false, "open until the first credential exists");
    const vera = principals.createUser("vera", "viewer", null);
    assert.equal(auth.required, true);
    const v = principals.issue({ kind: "user", userId: vera.id, createdBy: null });
    const a = principals.issue({ kind: "agent", agentId: "build-1", createdBy: null });
    const j = principals.issue({ kind: "join", createdBy: null });
    assert.deepEqual(await auth.authenticate(v.token), {
      role: "viewer",
      name: "vera",
      source: "database",
      tokenId: v.row.id,
      expiresAt: null,
    });
    const agent = await auth.authenticate(a.token);
    assert.equal(agent?.role, "agent");
    assert.equal(agent?.agentId, "build-1");
    assert.equal((await auth.authenticate(j.token))?.role, "join");
    assert.equal(principals.useJoinToken(j.row.id, "build-2"), true);
    assert.equal(principals.useJoinToken(j.row.id, "build-3"), false, "a join token works once");
    assert.equal(await auth.authenticate(j.token), null);
    assert.equal(await auth.authenticate(null), null);
    assert.equal(await auth.authenticate(v.token.slice(0, -1) + "x"), null);
  } finally {
    store.close();
  }
});

Deno.test("createAuthenticator() refuses revoked and expired tokens and disabled users at once", async () => {
  const { store, principals, advance, now } = principalsRig();
  try {
    const auth = createAuthenticator({ tokens: [], principals, now });
    const bob = principals.createUser("bob", "user", null);
    const revoked = principals.issue({ kind: "user", userId: bob.id, createdBy: null });
    const expiring = principals.issue({
      kind: "user",
      userId: bob.id,
      createdBy: null,
      expiresAt: now() + 60_000,
    });
    assert.equal((await auth.authenticate(revoked.token))?.name, "bob");
    principals.revoke(revoked.row.id);
    assert.equal(await auth.authenticate(revoked.token), null);
    assert.equal((await auth.authenticate(expiring.token))?.expiresAt, now() + 60_000);
    advance(60_000);
    assert.equal(await auth.authenticate(expiring.token), null, "expired");
    const fresh = principals.issue({ kind: "user", userId: bob.id, createdBy: null });
    assert.equal((await auth.authenticate(fresh.token))?.name, "bob");
    principals.setDisabled("bob", true);
    assert.equal(await auth.authenticate(fresh.token), null, "disabled user");
  } finally {
    store.close();
  }
});

Deno.test("createAuthenticator() watch() ends a connection when its token is revoked", async () => {
  const { store, principals } = principalsRig();
  try {
    const auth = createAuthenticator({ tokens: [], principals });
    const u = principals.createUser("carol", "user", null);
    const t1 = principals.issue({ kind: "user", userId: u.id, createdBy: null });
    const t2 = principals.issue({ kind: "user", userId: u.id, createdBy: null });
    const ended: string[] = [];
    const ac = new AbortController();
    auth.watch((await auth.authenticate(t1.token))!, (why) => ended.push(`1 ${why}`), ac.signal);
    auth.watch((await auth.authenticate(t2.token))!, (why) => ended.push(`2 ${why}`), ac.signal);
    auth.recheck();
    assert.deepEqual(ended, []);
    principals.revoke(t1.row.id);
    auth.recheck();
    assert.deepEqual(ended, ["1 token revoked"]);
    principals.setDisabled("carol", true);
    auth.recheck();
    auth.recheck();
    assert.deepEqual(ended, ["1 token revoked", "2 user disabled"], "each ends once");
    ac.abort();
  } finally {
    store.close();
  }
});

Deno.test("createAuthenticator() compares a wrong token the same way as a right one", async () => {
  const { store, principals } = principalsRig();
  try {
    const calls: number[] = [];
    let n = 0;
    const compare = (a: Uint8Array, b: Uint8Array) => {
      n++;
      return constantTimeEqual(a, b);
    };
    const auth = createAuthenticator({
      tokens: ["configured-one-0123456789", "configured-two-0123456789"],
      agentTokens: ["configured-agent-0123456789"],
      principals,
      compare,
    });
    const u = principals.createUser("dave", "user", null);
    const stored = principals.issue({ kind: "user", userId: u.id, createdBy: null }).token;
    for (
      const t of [
        "configured-one-0123456789",
        "configured-agent-0123456789",
        stored,
        stored.slice(0, -1) + (stored.endsWith("A") ? "B" : "A"),
        "wrong",
      ]
    ) {
      n = 0;
      await auth.authenticate(t);
      calls.push(n);
    }
    // Every configured digest and one stored digest (or a stand-in) each time.
    assert.deepEqual(calls, [4, 4, 4, 4, 4]);
  } finally {
    store.close();
  }
});
