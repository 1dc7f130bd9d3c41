import assert from "node:assert/strict";
import { checkTransport } from "../../src/agent/mod.ts";
import { Client } from "../../src/cli/client.ts";
import {
  logText,
  openssl,
  runCli,
  spawnJobdist,
  startTestServer,
  waitForJob,
  waitUntil,
} from "../helpers.ts";

/** A CA, and a server certificate it signed for 127.0.0.1 and localhost, made by openssl. */
interface Certs {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  /** Another CA, which did not sign the server's certificate. */
  otherCa: string;
}

async function makeCerts(): Promise<Certs> {
  const dir = await Deno.makeTempDir({ prefix: "jobdist-tls-" });
  const ca = (name: string) =>
    openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=jobdist test ${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
    ]);
  await ca("ca");
  await ca("other-ca");
  await openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  ]);
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
    "-out",
    "server.pem",
  ]);
  return {
    dir,
    ca: `${dir}/ca.pem`,
    cert: `${dir}/server.pem`,
    key: `${dir}/server.key`,
    otherCa: `${dir}/other-ca.pem`,
  };
}

async function tlsServer(certs: Certs) {
  return await startTestServer({
    tls: { cert: await Deno.readTextFile(certs.cert), key: await Deno.readTextFile(certs.key) },
  });
}

Deno.test("TLS: real agents run jobs over WSS and clients use --ca over HTTPS", async () => {
  const certs = await makeCerts();
  const server = await tlsServer(certs);
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const client = new Client({ server: server.url, caCerts: [await Deno.readTextFile(certs.ca)] });
  const wss = server.url.replace("https:", "wss:");
  const agents = [1, 2].map((n) =>
    spawnJobdist([
      "agent",
      "--server",
      n === 1 ? wss : server.url.replace("127.0.0.1", "localhost"),
      "--ca",
      certs.ca,
      "--name",
      `tls-${n}`,
      "--slots",
      "1",
      "--state-dir",
      `${certs.dir}/agent-${n}`,
    ])
  );
  try {
    await waitUntil(
      async () => (await client.agents()).agents.filter((a) => a.status !== "lost").length === 2,
      30_000,
      "both agents to connect over WSS",
    );
    const jobs = await Promise.all(
      [1, 2].map((n) => client.submit({ shell: `echo over tls ${n}; sleep 0.3` })),
    );
    const ran = new Set<string | null>();
    for (const [i, job] of jobs.entries()) {
      const done = await waitForJob(client, job.id);
      assert.equal(done.state, "succeeded", done.reason ?? "");
      assert.equal(await logText(client, job.id), `over tls ${i + 1}\n`);
      ran.add(done.agent_id);
    }
    assert.equal(ran.size, 2, "each agent ran one job");

    // The CLI takes --ca too; without it, the server's certificate is not trusted.
    let r = await runCli(["jobs", "--server", server.url, "--ca", certs.ca]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /succeeded/);
    r = await runCli(["jobs", "--server", server.url]);
    assert.equal(r.code, 1);
    assert.match(r.err, /Cannot reach the server at https:\/\/127\.0\.0\.1:\d+: .*certificate/);
    r = await runCli(["jobs", "--server", server.url, "--ca", certs.key]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--ca .*server\.key holds no PEM certificate/);
    // Plain HTTP gets no answer from a TLS listener.
    await assert.rejects(fetch(server.url.replace("https:", "http:") + "/healthz"));
  } finally {
    await Promise.all(agents.map((a) => a.kill()));
    client.close();
    await server.stop();
    await Deno.remove(certs.dir, { recursive: true });
  }
});

Deno.test("TLS: an agent refuses a server whose certificate it cannot verify", async () => {
  const certs = await makeCerts();
  const server = await tlsServer(certs);
  const client = new Client({ server: server.url, caCerts: [await Deno.readTextFile(certs.ca)] });
  const wss = server.url.replace("https:", "wss:");
  try {
    for (const ca of [[], ["--ca", certs.otherCa]]) {
      const agent = spawnJobdist([
        "agent",
        "--server",
        wss,
        ...ca,
        "--token",
        "never-sent-to-an-unverified-server",
        "--state-dir",
        `${certs.dir}/agent`,
      ]);
      const status = await agent.process.status;
      assert.equal(status.code, 1, agent.stderr.join("\n"));
      assert.match(
        agent.stderr.join("\n"),
        /Cannot verify the TLS certificate of wss:\/\/127\.0\.0\.1:\d+\/ws\/agent \(invalid peer certificate: UnknownIssuer\): give --ca FILE/,
      );
    }
    assert.deepEqual((await client.agents()).agents, [], "no agent got through");
  } finally {
    client.close();
    await server.stop();
    await Deno.remove(certs.dir, { recursive: true });
  }
});

Deno.test("agents refuse plain ws:// and http:// beyond loopback unless --insecure", async () => {
  const refused = /Refusing plain ws:\/\/ to 192\.0\.2\.7: the agent's token and every job would/;
  assert.throws(() => checkTransport("ws://192.0.2.7:7420/ws/agent"), refused);
  checkTransport("wss://192.0.2.7:7420/ws/agent");
  checkTransport("ws://127.0.0.1:7420/ws/agent");
  checkTransport("ws://localhost:7420/ws/agent");
  checkTransport("ws://[::1]:7420/ws/agent");
  checkTransport("ws://192.0.2.7:7420/ws/agent", true);

  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli(["agent", "--server", "http://192.0.2.7:7420", "--state-dir", dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, refused);
    assert.match(r.err, /use wss:\/\/ or https:\/\/, or pass --insecure/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
