import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Secret, VsnapError } from "@vsnap/core";
import { freePort } from "@vsnap/test-servers/ports";
import { createTestPki, type TestPki } from "@vsnap/test-servers/tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdClient, etcdSource, parseEndpoints } from "../src/index.js";
import { clearAll, collect, connection, etcdctl, seed, server } from "./helpers.js";

const tlsEtcd = server("tls");
const tls = tlsEtcd.tls!;
let scratch: string;
let otherPki: TestPki;

beforeAll(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), "vsnap-etcd-conn-"));
  otherPki = createTestPki(path.join(scratch, "other"), "stranger");
  const { client } = await EtcdClient.connect(connection(tlsEtcd));
  await clearAll(client);
  await seed(client, [
    ["/registry/a", Buffer.from("1")],
    ["/registry/b", Buffer.from("2")],
  ]);
  client.close();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function failure(promise: Promise<unknown>): Promise<VsnapError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!VsnapError.is(error)) throw new Error(`expected a VsnapError, got ${String(error)}`);
  return error;
}

describe("endpoints", () => {
  it("parses schemes, default ports and IPv6, dialing TLS for bare endpoints when TLS is given", () => {
    expect(parseEndpoints("https://etcd:2379, http://10.0.0.1:4001", false)).toEqual([
      { secure: true, address: "etcd:2379", display: "https://etcd:2379" },
      { secure: false, address: "10.0.0.1:4001", display: "http://10.0.0.1:4001" },
    ]);
    expect(parseEndpoints(["etcd"], false)[0]).toEqual({
      secure: false,
      address: "etcd:2379",
      display: "http://etcd:2379",
    });
    expect(parseEndpoints("[::1]:2379", true)[0]).toEqual({
      secure: true,
      address: "[::1]:2379",
      display: "https://[::1]:2379",
    });
  });

  it("rejects empty, credential-carrying and unix endpoints", () => {
    for (const bad of ["", " , ", "https://user:pw@etcd:2379", "unix:///run/etcd.sock", "http://a/b/c"]) {
      expect(() => parseEndpoints(bad, false), bad).toThrow(VsnapError);
    }
  });
});

describe("mutual TLS (as vCluster's etcd)", () => {
  it("reads with CA, client certificate and key given as files", async () => {
    const readPoint = await etcdSource(connection(tlsEtcd)).open();
    if (readPoint.mode !== "kv") throw new Error("kv expected");
    expect((await collect(readPoint.entries())).map(([k]) => k)).toEqual(["/registry/a", "/registry/b"]);
    await readPoint.close();
  });

  it("reads with the material given inline, the key as a Secret", async () => {
    const { client, status } = await EtcdClient.connect({
      endpoints: tlsEtcd.endpoint,
      tls: {
        ca: readFileSync(tls.caFile),
        cert: readFileSync(tls.certFile, "utf8"),
        key: new Secret(readFileSync(tls.keyFile, "utf8")),
      },
    });
    expect(status.version).toMatch(/^3\./);
    expect((await client.range({ key: Buffer.from("/registry/a") })).kvs[0]?.value.toString()).toBe("1");
    client.close();
  });

  it("checks etcd's certificate against the server name given, not the host dialled", async () => {
    const tlsFiles = connection(tlsEtcd).tls!;
    // the certificate names 127.0.0.1 and localhost: dial the IP, expect the name
    const named = await EtcdClient.connect({
      endpoints: tlsEtcd.endpoint,
      tls: { ...tlsFiles, serverName: "localhost" },
    });
    expect(named.status.version).toMatch(/^3\./);
    named.client.close();
    const wrong = await failure(
      EtcdClient.connect({
        endpoints: tlsEtcd.endpoint,
        tls: { ...tlsFiles, serverName: "etcd.elsewhere.example" },
      }),
    );
    expect(wrong.code).toBe("UNAUTHENTICATED");
    expect(wrong.message).toMatch(/etcd\.elsewhere\.example|altnames|certificate/i);
  });

  it("says the certificate is wrong when etcd's CA is not the one given", async () => {
    const error = await failure(
      EtcdClient.connect({
        endpoints: tlsEtcd.endpoint,
        tls: { caFile: otherPki.caFile, certFile: tls.certFile, keyFile: tls.keyFile },
      }),
    );
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(error.message).toContain(tlsEtcd.endpoint);
    expect(error.message).toMatch(
      /server certificate was not accepted \(unable to verify the first certificate\)/,
    );
    expect(error.hint).toMatch(/--etcd-cacert/);
  });

  it("fails clearly when the client certificate is not one etcd trusts", async () => {
    const error = await failure(
      EtcdClient.connect({
        endpoints: tlsEtcd.endpoint,
        tls: { caFile: tls.caFile, certFile: otherPki.clientCertFile, keyFile: otherPki.clientKeyFile },
      }),
    );
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(error.message).toMatch(
      /etcd rejected the client certificate \(TLS alert from etcd: bad certificate\)/,
    );
    expect(error.hint).toMatch(/--etcd-cert/);
    expect(error.message).not.toContain(readFileSync(otherPki.clientKeyFile, "utf8").split("\n")[1]!);
  });

  it("fails clearly without a client certificate", async () => {
    const error = await failure(
      EtcdClient.connect({
        endpoints: tlsEtcd.endpoint,
        tls: { caFile: tls.caFile },
        timeouts: { connectMs: 3000 },
      }),
    );
    expect(error.code).toBe("UNAUTHENTICATED");
    expect(error.message).toContain(tlsEtcd.endpoint);
    expect(error.message).toMatch(/rejected the client certificate/);
  });

  it("rejects missing files, a certificate without its key, and material that is not PEM", async () => {
    expect(
      (
        await failure(
          EtcdClient.connect({
            endpoints: tlsEtcd.endpoint,
            tls: { caFile: path.join(scratch, "nope.crt") },
          }),
        )
      ).code,
    ).toBe("NOT_FOUND");
    expect(
      (
        await failure(
          EtcdClient.connect({
            endpoints: tlsEtcd.endpoint,
            tls: { caFile: tls.caFile, certFile: tls.certFile },
          }),
        )
      ).code,
    ).toBe("INVALID_ARGUMENT");
    const junk = path.join(scratch, "junk.crt");
    writeFileSync(junk, "not a certificate");
    const error = await failure(EtcdClient.connect({ endpoints: tlsEtcd.endpoint, tls: { caFile: junk } }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toMatch(/not PEM/);
  });
});

describe("unreachable and slow etcd", () => {
  it("says etcd is unreachable, naming the endpoint, when nothing listens", async () => {
    const port = await freePort();
    const started = Date.now();
    const error = await failure(etcdSource({ endpoints: `http://127.0.0.1:${port}` }).open());
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).toContain(`http://127.0.0.1:${port}`);
    expect(error.message).toMatch(/unreachable/);
    expect(error.hint).toMatch(/endpoints/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("fails over to the next endpoint when the first is down", async () => {
    const port = await freePort();
    const source = etcdSource({
      ...connection(tlsEtcd),
      endpoints: [`https://127.0.0.1:${port}`, tlsEtcd.endpoint],
    });
    const readPoint = await source.open();
    expect(readPoint.totals.keys).toBe(2);
    await readPoint.close();
  });

  it("times out on an endpoint that accepts connections but never answers", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const error = await failure(
        etcdSource({ endpoints: `http://127.0.0.1:${port}`, timeouts: { connectMs: 700 } }).open(),
      );
      expect(error.code).toBe("TIMEOUT");
      expect(error.message).toContain(`127.0.0.1:${port}`);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      silent.close();
    }
  });

  it("lists every endpoint tried when none answers", async () => {
    const [a, b] = [await freePort(), await freePort()];
    const error = await failure(EtcdClient.connect({ endpoints: `127.0.0.1:${a},127.0.0.1:${b}` }));
    expect(error.code).toBe("UNAVAILABLE");
    expect(error.message).toContain(`127.0.0.1:${a}`);
    expect(error.message).toContain(`127.0.0.1:${b}`);
  });
});

describe("user/password authentication", () => {
  const authEtcd = server("auth");
  beforeAll(async () => {
    const { client } = await EtcdClient.connect(connection(authEtcd));
    await seed(client, [["/registry/secret-thing", Buffer.from("s")]]);
    client.close();
    await etcdctl(authEtcd, ["user", "add", "root:rootpw-123"]);
    await etcdctl(authEtcd, ["role", "add", "root"]).catch(() => undefined); // exists on some versions
    await etcdctl(authEtcd, ["user", "grant-role", "root", "root"]);
    await etcdctl(authEtcd, ["auth", "enable"]);
  });

  it("reads key/values and streams a db snapshot as root (the etcd3 package's token bug does not apply)", async () => {
    const auth = { username: "root", password: new Secret("rootpw-123") };
    const kv = await etcdSource({ ...connection(authEtcd), auth }).open();
    if (kv.mode !== "kv") throw new Error("kv expected");
    expect((await collect(kv.entries())).map(([k]) => k)).toEqual(["/registry/secret-thing"]);
    await kv.close();
    const db = await etcdSource({ ...connection(authEtcd), auth, mode: "db" }).open();
    if (db.mode !== "db") throw new Error("db expected");
    const { size, chunks } = await db.database();
    let seen = 0;
    for await (const chunk of chunks) seen += chunk.length;
    expect(seen).toBe(size);
    await db.close();
  });

  it("says authentication is needed, or failed, without echoing the password", async () => {
    const missing = await failure(etcdSource(connection(authEtcd)).open());
    expect(missing.code).toBe("UNAUTHENTICATED");
    expect(missing.hint).toMatch(/user name and password/);
    const wrong = await failure(
      etcdSource({
        ...connection(authEtcd),
        auth: { username: "root", password: new Secret("not-the-password") },
      }).open(),
    );
    expect(wrong.code).toBe("UNAUTHENTICATED");
    expect(`${wrong.message} ${wrong.hint} ${wrong.stack}`).not.toContain("not-the-password");
  });
});
