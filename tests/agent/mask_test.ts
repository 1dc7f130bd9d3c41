import assert from "node:assert/strict";
import { MASK, Masker, maskPatterns } from "../../src/agent/mask.ts";

/** Feeds `pieces` through a fresh masker for `secrets`; returns everything it let out. */
function stream(secrets: string[], pieces: string[]): string {
  const m = new Masker(secrets);
  return pieces.map((p) => m.feed(p)).join("") + m.end();
}

const SECRET = "hunter2-Sw0rdf1sh";

Deno.test("Masker masks a secret however the output is split, down to one character a piece", () => {
  const text = `login with ${SECRET} now\n${SECRET}${SECRET}\nend ${SECRET}`;
  const whole = stream([SECRET], [text]);
  assert.equal(whole, `login with ${MASK} now\n${MASK}\nend ${MASK}`);
  assert.equal(stream([SECRET], [...text]), whole);
  for (let cut = 0; cut <= text.length; cut++) {
    assert.equal(stream([SECRET], [text.slice(0, cut), text.slice(cut)]), whole, `cut at ${cut}`);
  }
});

Deno.test("Masker gives random splits the same answer as the whole text", () => {
  const secrets = ["abcabd", "zzzz", "s3cr3t-value"];
  let seed = 42;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const alphabet = ["a", "b", "c", "d", "z", "s3cr3t-value", "abcab", "zz", "\n", "x"];
  for (let round = 0; round < 500; round++) {
    let text = "";
    for (let i = 0; i < 30; i++) text += alphabet[rand(alphabet.length)];
    const pieces: string[] = [];
    for (let at = 0; at < text.length;) {
      const n = 1 + rand(7);
      pieces.push(text.slice(at, at + n));
      at += n;
    }
    const out = stream(secrets, pieces);
    assert.equal(out, stream(secrets, [text]), `round ${round}: ${JSON.stringify(pieces)}`);
    for (const s of secrets) assert.ok(!out.includes(s), `round ${round} leaked ${s}: ${out}`);
  }
});

Deno.test("Masker masks base64 and base64url forms at every alignment", () => {
  const value = "p4ss?word>>~~";
  const enc = (s: string) => btoa(s);
  for (const prefix of ["", "x", "xy", "xyz"]) {
    const b64 = enc(prefix + value + "tail");
    const url = b64.replaceAll("+", "-").replaceAll("/", "_");
    for (const form of [b64, url]) {
      const out = stream([value], [...`data: ${form}\n`]);
      assert.ok(out.includes(MASK), `${form} -> ${out}`);
      // What is left of the encoding cannot be decoded back to the value.
      const left = out.replace(MASK, "");
      assert.ok(!left.includes(form.slice(4, -4)), `${form} -> ${out}`);
    }
  }
  const plain = enc(value);
  assert.ok(!stream([value], [plain]).includes(plain.slice(0, 12)));
});

Deno.test("Masker masks each line of a multi-line secret", () => {
  const key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2E\nQWERTYUIOPASDF\n-----END KEY-----";
  const out = stream([key], ["the middle line: QWERTY", "UIOPASDF only\n"]);
  assert.equal(out, `the middle line: ${MASK} only\n`);
  assert.equal(stream([key], [`${key}\n`]), `${MASK}\n`);
});

Deno.test("Masker passes output through unchanged when nothing matches", () => {
  const m = new Masker([SECRET]);
  // No tail that could start the secret: nothing is held back.
  assert.equal(m.feed("hello world\n"), "hello world\n");
  // "hunt" could be the start of the secret: held until the next piece shows it is not.
  assert.equal(m.feed("on the hunt"), "on the ");
  assert.equal(m.feed("ing trail\n"), "hunting trail\n");
  assert.equal(m.feed("hunt"), "");
  assert.equal(m.end(), "hunt");
  assert.equal(new Masker([]).active, false);
  assert.equal(stream([], ["a", "b"]), "ab");
});

Deno.test("maskPatterns skips empty values and short derived forms", () => {
  const patterns = maskPatterns(["", "abcd"]);
  assert.ok(patterns.includes("abcd"));
  assert.ok(
    patterns.includes("YWJjZ"),
    "base64 of abcd at alignment 0, without the last partial character",
  );
  assert.ok(patterns.every((p) => p.length >= 4));
});
