import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { etcdSource, etcdTarget } from "@vsnap/backing-etcd";
import { createKineDatabase, sqliteSource } from "@vsnap/backing-sqlite";
import { generateDemoCluster, type KeyValue } from "@vsnap/core";
import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveView } from "./live-view.js";
import { runCli } from "./run-cli.js";

// `vsnap restore-data` is what the cluster restore's Job runs; here it runs as a person would in a
// debug pod with the data volume mounted: no cluster, real SQLite files and real etcd.
const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-restore-data-"));
let etcd: EtcdServer;

const entries = (prefix: string, n: number): KeyValue[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `/registry/configmaps/${prefix}/cm-${String(i).padStart(3, "0")}`,
    value: Buffer.from(`${prefix}-${i}`),
  }));
const result = (file: string) => JSON.parse(readFileSync(file, "utf8"));
const url = (file: string) => `container://${file}`;

beforeAll(async () => {
  etcd = await startEtcd();
  await createKineDatabase(path.join(dir, "a.db"), generateDemoCluster({ keys: 300, seed: 7 }), {
    history: 0,
  });
  const snap = await runCli([
    "snapshot",
    "create",
    "--sqlite",
    path.join(dir, "a.db"),
    url(path.join(dir, "a.tar.gz")),
  ]);
  if (snap.code !== 0) throw new Error(snap.stderr);
}, 120_000);
afterAll(async () => {
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("vsnap restore-data --sqlite", () => {
  const target = () => path.join(dir, "data", "state.db");

  it("dry-run reports the difference, restore keeps the old data until told to drop it, rollback puts it back", async () => {
    await createKineDatabase(target(), entries("live", 20), { history: 0 });
    const before = await liveView(sqliteSource(target()));
    const res = path.join(dir, "dry.json");
    const dry = await runCli([
      "restore-data",
      "--sqlite",
      target(),
      "--id",
      "r1",
      "--dry-run",
      "--result-file",
      res,
      url(path.join(dir, "a.tar.gz")),
    ]);
    expect(dry.code).toBe(0);
    const archived = await liveView(sqliteSource(path.join(dir, "a.db")));
    const common = [...archived.keys()].filter((k) => before.has(k));
    expect(result(res).diff.totals).toEqual({
      added: archived.size - common.length,
      removed: before.size - common.length,
      changed: common.filter((k) => before.get(k) !== archived.get(k)).length,
      unchanged: common.filter((k) => before.get(k) === archived.get(k)).length,
    });
    expect(result(res).diff.totals.removed).toBe(20);

    const run = await runCli([
      "restore-data",
      "--sqlite",
      target(),
      "--id",
      "r1",
      "--keep-backup",
      "--result-file",
      res,
      url(path.join(dir, "a.tar.gz")),
    ]);
    expect(run.code).toBe(0);
    expect(await liveView(sqliteSource(target()))).toEqual(archived);
    expect(result(res)).toMatchObject({ ok: true, backupKept: true, restored: { keys: archived.size } });
    expect(existsSync(path.join(dir, "data", ".vsnap-restore-r1", "backup.json"))).toBe(true);
    expect(
      JSON.parse(readFileSync(path.join(dir, "data", ".vsnap-last-restore.json"), "utf8")),
    ).toMatchObject({ id: "r1" });

    const back = await runCli([
      "restore-data",
      "--sqlite",
      target(),
      "--id",
      "r1",
      "--rollback",
      "--result-file",
      res,
    ]);
    expect(back.code).toBe(0);
    expect(result(res)).toMatchObject({ ok: true, oldDataInPlace: true });
    expect(await liveView(sqliteSource(target()))).toEqual(before);
    expect(readdirSync(path.join(dir, "data")).filter((f) => f.includes("vsnap"))).toEqual([]);
  });

  it("a process that dies mid-write leaves the old data whole; rollback cleans up its temp file", async () => {
    await createKineDatabase(target(), entries("second", 10), { history: 0, overwrite: true });
    const before = await liveView(sqliteSource(target()));
    const run = await runCli(
      ["restore-data", "--sqlite", target(), "--id", "r2", url(path.join(dir, "a.tar.gz"))],
      {
        env: { ...process.env, VSNAP_FAILPOINT: "crash-after-keys:50" },
      },
    );
    expect(run.code).not.toBe(0);
    expect(readdirSync(path.join(dir, "data")).some((f) => f.startsWith("state.db.vsnap-restore-"))).toBe(
      true,
    );
    expect(await liveView(sqliteSource(target()))).toEqual(before);
    const res = path.join(dir, "rb.json");
    const back = await runCli([
      "restore-data",
      "--sqlite",
      target(),
      "--id",
      "r2",
      "--rollback",
      "--result-file",
      res,
    ]);
    expect(back.code).toBe(0);
    expect(result(res).steps.join("\n")).toMatch(
      /removed state\.db\.vsnap-restore-\w+, left by an interrupted restore/,
    );
    expect(await liveView(sqliteSource(target()))).toEqual(before);
    expect(
      readdirSync(path.join(dir, "data")).filter(
        (f) => f.includes("vsnap") && f !== ".vsnap-last-restore.json",
      ),
    ).toEqual([]);
  });

  it("refuses an archive that is not the one the CLI verified", async () => {
    const res = path.join(dir, "sha.json");
    const run = await runCli([
      "restore-data",
      "--sqlite",
      target(),
      "--id",
      "r3",
      "--expect-sha256",
      "0".repeat(64),
      "--result-file",
      res,
      url(path.join(dir, "a.tar.gz")),
    ]);
    expect(run.code).toBe(1);
    expect(result(res)).toMatchObject({
      ok: false,
      oldDataInPlace: true,
      error: expect.stringMatching(/changed after it was verified/),
    });
  });
});

describe("vsnap restore-data --etcd-data-dir", () => {
  beforeAll(async () => {
    await etcdTarget({ endpoints: etcd.endpoint }).restore(
      (async function* () {
        yield* generateDemoCluster({ keys: 200, seed: 3 });
      })(),
    );
  });

  for (const mode of ["db", "kv"] as const) {
    it(`restores a ${mode} archive into a data directory, moving the old one aside until it worked`, async () => {
      const archive = path.join(dir, `etcd-${mode}.tar.gz`);
      const snap = await runCli([
        "snapshot",
        "create",
        "--etcd",
        etcd.endpoint,
        "--etcd-mode",
        mode,
        url(archive),
      ]);
      expect(snap.code).toBe(0);
      const dataDir = path.join(dir, `member-${mode}`, "etcd");
      // the data dir as a running member left it: an etcd with other data
      const old = await startEtcd({ dataDir });
      await etcdTarget({ endpoints: old.endpoint }).restore(
        (async function* () {
          yield* entries("old", 5);
        })(),
      );
      await old.close();
      const res = path.join(dir, `etcd-${mode}.json`);
      const run = await runCli([
        "restore-data",
        "--etcd-data-dir",
        dataDir,
        "--etcd-name",
        "n1",
        "--id",
        `e${mode}`,
        "--result-file",
        res,
        url(archive),
      ]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(result(res)).toMatchObject({ ok: true });
      expect(existsSync(path.join(dir, `member-${mode}`, `.vsnap-restore-e${mode}`))).toBe(false);
      const restored = await startEtcd({ dataDir });
      try {
        expect(await liveView(etcdSource({ endpoints: restored.endpoint }))).toEqual(
          await liveView(etcdSource({ endpoints: etcd.endpoint })),
        );
      } finally {
        await restored.close();
      }
    });
  }
});
