/**
 * A webhook receiver for tests: a real HTTP server on port 0 that records every call and
 * answers as the test says, and an independent check of jobdist's signature with WebCrypto.
 * @module
 */

/** One call the receiver got. */
export interface Received {
  path: string;
  headers: Headers;
  /** The raw body, as signed. */
  body: string;
}

/** How the receiver answers a call; `signal` aborts when the receiver closes. */
export type Answer = (call: Received, signal: AbortSignal) => Response | Promise<Response>;

/** A running receiver. */
export interface Receiver {
  /** Base URL, e.g. `http://127.0.0.1:4711`. */
  url: string;
  received: Received[];
  /** How the next calls are answered (default: 200). */
  answer: Answer;
  /** Resolves once `n` calls arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1:0. */
export function startReceiver(answer: Answer = () => new Response("ok")): Receiver {
  const received: Received[] = [];
  const closing = new AbortController();
  const receiver: Receiver = {
    url: "",
    received,
    answer,
    async waitFor(n, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > end) {
          throw new Error(`timed out waiting for ${n} webhook calls; got ${received.length}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return received.slice(0, n);
    },
    close() {
      closing.abort();
      return server.shutdown();
    },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const call = { path: new URL(req.url).pathname, headers: req.headers, body: await req.text() };
    received.push(call);
    return await receiver.answer(call, closing.signal);
  });
  receiver.url = `http://127.0.0.1:${server.addr.port}`;
  return receiver;
}

/** An answer that never comes: it ends only when the receiver closes. */
export function hang(_call: Received, signal: AbortSignal): Promise<Response> {
  return new Promise((resolve) => {
    signal.addEventListener("abort", () => resolve(new Response(null, { status: 499 })), {
      once: true,
    });
  });
}

/**
 * Checks `X-Jobdist-Signature: v1=<hex>` against HMAC-SHA256(secret, "<timestamp>.<body>"),
 * written from the README's description, not from the server's code.
 */
export async function signatureValid(secret: string, call: Received): Promise<boolean> {
  const timestamp = call.headers.get("x-jobdist-timestamp");
  const match = call.headers.get("x-jobdist-signature")?.match(/^v1=([0-9a-f]{64})$/);
  if (!timestamp || !/^\d+$/.test(timestamp) || !match) return false;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const mac = new Uint8Array(match[1].match(/../g)!.map((h) => parseInt(h, 16)));
  return await crypto.subtle.verify(
    "HMAC",
    key,
    mac,
    new TextEncoder().encode(`${timestamp}.${call.body}`),
  );
}
