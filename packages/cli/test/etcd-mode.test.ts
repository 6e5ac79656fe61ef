import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { etcdSource, etcdTarget } from "@vsnap/backing-etcd";
import { sqliteSource } from "@vsnap/backing-sqlite";
import { generateDemoCluster, type SnapshotSource } from "@vsnap/core";
import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import { freePort } from "@vsnap/test-servers/ports";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveView } from "./live-view.js";
import { runCli } from "./run-cli.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-cli-etcd-"));
let plain: EtcdServer;
let tls: EtcdServer;
let empty: EtcdServer;

const tlsFlags = () => [
  "--etcd-cacert",
  tls.tls!.caFile,
  "--etcd-cert",
  tls.tls!.clientCertFile,
  "--etcd-key",
  tls.tls!.clientKeyFile,
];

beforeAll(async () => {
  [plain, tls, empty] = await Promise.all([startEtcd(), startEtcd({ tls: true }), startEtcd()]);
  const cluster = generateDemoCluster({ keys: 3000, seed: 11 });
  await etcdTarget({ endpoints: plain.endpoint }).restore(cluster);
  await etcdTarget({
    endpoints: tls.endpoint,
    tls: { caFile: tls.tls!.caFile, certFile: tls.tls!.clientCertFile, keyFile: tls.tls!.clientKeyFile },
  }).restore(generateDemoCluster({ keys: 1500, seed: 12 }));
}, 180_000);
afterAll(async () => {
  await Promise.all([plain?.close(), tls?.close(), empty?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe("vsnap with etcd (local mode)", () => {
  it("kv snapshot of etcd -> SQLite and -> another etcd, identical key/value sets", async () => {
    const url = `container://${dir}/etcd-kv.tar.gz`;
    const created = await runCli(["snapshot", "create", "--etcd", plain.endpoint, url, "-o", "json"]);
    expect(created.stderr).toBe("");
    const expected = await liveView(etcdSource({ endpoints: plain.endpoint }));
    expect(JSON.parse(created.stdout)).toMatchObject({ keys: expected.size, backingStore: "etcd" });

    const db = path.join(dir, "from-etcd.db");
    expect((await runCli(["restore", "--sqlite", db, url])).code).toBe(0);
    expect(await liveView(sqliteSource(db))).toEqual(expected);

    const restored = await runCli(["restore", "--etcd", empty.endpoint, url, "-o", "json"]);
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({ keys: expected.size, verified: true });
    expect(await liveView(etcdSource({ endpoints: empty.endpoint }))).toEqual(expected);

    const refused = await runCli(["restore", "--etcd", empty.endpoint, url]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain("--force");
  });

  it("mutual TLS: snapshot with client certificates; a missing certificate fails clearly", async () => {
    const url = `container://${dir}/etcd-tls.tar.gz`;
    const created = await runCli([
      "snapshot",
      "create",
      "--etcd",
      tls.endpoint,
      ...tlsFlags(),
      url,
      "-o",
      "json",
    ]);
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).keys).toBe((await liveView(sqliteSourceFromArchive(url))).size);
    const noCert = await runCli([
      "snapshot",
      "create",
      "--etcd",
      tls.endpoint,
      "--etcd-cacert",
      tls.tls!.caFile,
      `container://${dir}/x.tar.gz`,
    ]);
    expect(noCert.code).not.toBe(0);
    expect(noCert.stderr).toMatch(/certificate|TLS|handshake/i);
    const half = await runCli([
      "snapshot",
      "create",
      "--etcd",
      tls.endpoint,
      "--etcd-cert",
      tls.tls!.clientCertFile,
      `container://${dir}/y.tar.gz`,
    ]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--etcd-cert and --etcd-key go together");
  });

  it("db mode: etcdctl accepts the db, and it converts into SQLite without running etcd", async () => {
    const url = `container://${dir}/etcd-db.tar.gz`;
    const created = await runCli([
      "snapshot",
      "create",
      "--etcd",
      plain.endpoint,
      "--etcd-mode",
      "db",
      url,
      "-o",
      "json",
    ]);
    expect(created.code).toBe(0);
    const verify = JSON.parse((await runCli(["snapshot", "verify", url, "-o", "json"])).stdout);
    expect(verify).toMatchObject({ mode: "db", verified: true });

    const db = path.join(dir, "from-db.db");
    const restored = await runCli(["restore", "--sqlite", db, url]);
    expect(restored.stderr).not.toContain("error");
    expect(restored.code).toBe(0);
    expect(await liveView(sqliteSource(db))).toEqual(
      await liveView(etcdSource({ endpoints: plain.endpoint })),
    );

    const dataDir = path.join(dir, "etcd-data");
    const intoDir = await runCli([
      "restore",
      "--etcd-data-dir",
      dataDir,
      "--etcd-name",
      "n1",
      url,
      "-o",
      "json",
    ]);
    expect(intoDir.code).toBe(0);
    const status = execFileSync(
      "etcdctl",
      ["snapshot", "status", path.join(dataDir, "member", "snap", "db"), "-w", "json"],
      { encoding: "utf8" },
    );
    expect(JSON.parse(status).totalKey).toBeGreaterThan(3000);
  });

  it("--etcd-data-dir restores a key/value archive into a data dir etcd starts from, revisions bumped and history compacted", async () => {
    const url = `container://${dir}/etcd-kv.tar.gz`;
    const expected = await liveView(etcdSource({ endpoints: plain.endpoint }));
    const dataDir = path.join(dir, "etcd-data-from-kv");
    const peerPort = await freePort();
    const result = await runCli([
      "restore",
      "--etcd-data-dir",
      dataDir,
      "--etcd-name",
      "n1",
      "--etcd-initial-advertise-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      url,
      "-o",
      "json",
    ]);
    expect(result.stderr).not.toContain("error");
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ keys: expected.size, verified: true });

    const started = await startEtcd({ dataDir, peerPort });
    try {
      expect(await liveView(etcdSource({ endpoints: started.endpoint }))).toEqual(expected);
      // every key sits past the snapshot's revision + 1000, and history before that is compacted
      const header = JSON.parse(
        execFileSync("etcdctl", [...started.etcdctlArgs, "endpoint", "status", "-w", "json"], {
          encoding: "utf8",
        }),
      )[0].Status.header;
      expect(header.revision).toBe(out.revision + 1000 + expected.size);
      const before = runEtcdctl(started, ["get", "/", "--prefix", "--rev", String(out.revision + 999)]);
      expect(before).toMatch(/required revision has been compacted/);
    } finally {
      await started.close();
    }

    const occupied = await runCli(["restore", "--etcd-data-dir", dataDir, url]);
    expect(occupied.code).not.toBe(0);
    expect(occupied.stderr).toContain("--force");
  });
});

function runEtcdctl(server: EtcdServer, args: readonly string[]): string {
  try {
    return execFileSync("etcdctl", [...server.etcdctlArgs, ...args], { encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    return String((error as { stderr?: string }).stderr ?? error);
  }
}

/** The archive's own key set, read back through a SQLite restore (independent of etcd). */
function sqliteSourceFromArchive(url: string): SnapshotSource {
  const db = path.join(dir, `check-${path.basename(url)}.db`);
  execFileSync(process.execPath, [
    path.resolve(__dirname, "../dist/bin.js"),
    "restore",
    "--sqlite",
    db,
    "--force",
    url,
  ]);
  return sqliteSource(db);
}
