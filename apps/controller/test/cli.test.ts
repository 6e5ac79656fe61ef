import { randomBytes } from "node:crypto";
import { createReadStream, existsSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createKineDatabase, sqliteSource, sqliteTarget } from "@vsnap/backing-sqlite";
import { type KeyValue, PluginRegistry, restoreSnapshot, verifyArchive } from "@vsnap/core";
import { containerStorePlugin } from "@vsnap/store-container";
import { ociStorePlugin } from "@vsnap/store-oci";
import { type RegistryServer, startRegistry } from "@vsnap/test-servers/registry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ControllerProcess,
  fakeVCluster,
  hostKube,
  startController,
  tempDir,
  until,
  vsnap,
} from "./harness.js";

const kube = hostKube();
const OCI_PLUGIN_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../../packages/store-oci",
);

async function readAll(file: string): Promise<Map<string, string>> {
  const point = await sqliteSource(file).open();
  const out = new Map<string, string>();
  try {
    if (point.mode !== "kv") throw new Error("expected a key/value read point");
    for await (const kv of point.entries()) out.set(kv.key, Buffer.from(kv.value).toString("base64"));
  } finally {
    await point.close();
  }
  return out;
}

describe("vsnap snapshot create/get/list/delete against a SQLite-backed vCluster", () => {
  let tmp: ReturnType<typeof tempDir>;
  let dbFile: string;
  let vc: { name: string; namespace: string };
  let controller: ControllerProcess;

  beforeAll(async () => {
    tmp = tempDir();
    dbFile = path.join(tmp.dir, "state.db");
    const entries: KeyValue[] = [];
    for (let i = 0; i < 300; i++) {
      entries.push({
        key: `/registry/configmaps/default/cm-${String(i).padStart(3, "0")}`,
        value: Buffer.from(
          JSON.stringify({
            kind: "ConfigMap",
            apiVersion: "v1",
            metadata: { name: `cm-${i}`, namespace: "default" },
            data: { blob: randomBytes(1500).toString("base64") },
          }),
        ),
      });
    }
    await createKineDatabase(dbFile, entries);
    vc = await fakeVCluster(kube, {
      helm: { chartVersion: "0.30.0", values: { sync: { toHost: { pods: { enabled: true } } } } },
    });
    controller = await startController(
      [
        "--namespace",
        vc.namespace,
        "--vcluster",
        vc.name,
        "--sqlite",
        dbFile,
        "--max-upload-rate",
        "48KiB",
        "--progress-interval",
        "200ms",
        "--lease-duration",
        "3s",
      ],
      { VSNAP_PLUGINS: OCI_PLUGIN_DIR },
    );
  });
  afterAll(async () => {
    await controller?.kill();
    tmp?.close();
  });

  it("create prints how to follow it; get shows progress, then Completed; the archive restores to the same keys", async () => {
    const file = path.join(tmp.dir, "snaps", "my-snapshot.tar.gz");
    const url = `container://${file}`;
    const created = await vsnap(["snapshot", "create", vc.name, url]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(created.stdout).toBe(
      `Beginning snapshot creation... You can check the snapshot creation progress with the following command: vsnap snapshot get ${vc.name} "${url}"\n`,
    );
    let last: unknown;
    const inProgress = await until("get shows the upload in progress", async () => {
      const r = await vsnap(["snapshot", "get", vc.name, url]);
      last = r;
      return r.stdout.includes("CreatingEtcdBackup") && r.stdout.includes("uploaded") ? r : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}`);
    });
    expect(inProgress.code).toBe(0);
    expect(inProgress.stdout).toMatch(/^SNAPSHOT +\| STATUS +\| AGE +\| SAVED \|( VOLUMES \|)? PROGRESS/);
    expect(inProgress.stdout).toMatch(
      new RegExp(
        `${url} \\| CreatingEtcdBackup \\| \\d+s +\\| - +\\|( - +\\|)? \\d+/301 keys read \\([\\d.]+ KiB\\), [\\d.]+ K?i?B uploaded at`,
      ),
    );
    const watched = await vsnap(["snapshot", "get", vc.name, url, "--watch"]);
    expect(watched.code).toBe(0);
    expect(watched.stdout.trim().split("\n").at(-1)).toMatch(
      new RegExp(`^${url} \\| Completed \\| \\d+s \\| [\\d.]+ KiB \\|( - +\\|)? 301 keys,`),
    );

    const json = JSON.parse((await vsnap(["snapshot", "get", vc.name, url, "-o", "json"])).stdout);
    expect(json).toMatchObject({
      snapshot: url,
      status: "Completed",
      saved: { size: statSync(file).size },
      attempts: 1,
    });

    const summary = await verifyArchive(createReadStream(file));
    expect(summary).toMatchObject({
      verified: true,
      keys: 301,
      release: { releaseName: vc.name, chartVersion: "0.30.0" },
    });
    const restored = path.join(tmp.dir, "restored.db");
    const store = (await PluginRegistry.of(containerStorePlugin).open(url)).store;
    await restoreSnapshot({ store, key: "my-snapshot.tar.gz", target: sqliteTarget(restored) });
    await store.close();
    expect(await readAll(restored)).toEqual(await readAll(dbFile));
  });

  it("list shows the vCluster's snapshots; delete removes one through the controller", async () => {
    const url = `container://${path.join(tmp.dir, "snaps", "to-delete.tar.gz")}`;
    const created = await vsnap(["snapshot", "create", vc.name, url, "--wait", "-q"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/\| Completed \|/);
    const listed = await vsnap(["snapshot", "list", vc.name, "-o", "json"]);
    const urls = (JSON.parse(listed.stdout) as { snapshot: string; status: string }[]).map(
      (v) => `${v.snapshot} ${v.status}`,
    );
    expect(urls).toContain(`${url} Completed`);
    const deleted = await vsnap(["snapshot", "delete", vc.name, url, "--wait", "-q"]);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toMatch(/\| Deleted \|/);
    expect(existsSync(url.slice("container://".length))).toBe(false);
  });

  it("a failed snapshot: --wait exits non-zero, get shows Failed with the reason", async () => {
    writeFileSync(path.join(tmp.dir, "not-a-dir"), "");
    const url = `container://${path.join(tmp.dir, "not-a-dir", "x.tar.gz")}`;
    const created = await vsnap(["snapshot", "create", vc.name, url, "--wait", "-q"]);
    expect(created.code).toBe(1);
    expect(created.stdout).toMatch(/\| Failed \|/);
    expect(created.stdout).toContain(
      `Error: cannot write ${url}: ${path.join(tmp.dir, "not-a-dir")} is a file, not a directory`,
    );
    const got = await vsnap(["snapshot", "get", vc.name, url]);
    expect(got.code).toBe(1);
    expect(got.stdout).toMatch(/\| Failed +\|/);
    expect(got.stdout).toContain("Error: cannot write");
  });

  it("pushes to oci:// with credentials in the URL; the password reaches the controller only through the Secret", async () => {
    const registry: RegistryServer = await startRegistry({ auth: "htpasswd", tls: true });
    try {
      const password = registry.password ?? "";
      const url =
        `oci://${registry.host}/vsnap/${vc.name}:snap-1?username=${registry.username}` +
        `&password=${encodeURIComponent(Buffer.from(password).toString("base64"))}` +
        `&ca-cert=${encodeURIComponent(Buffer.from(registry.caPem ?? "").toString("base64"))}&skip-client-credentials=true`;
      const created = await vsnap([
        "snapshot",
        "create",
        vc.name,
        url,
        "--plugin",
        OCI_PLUGIN_DIR,
        "--wait",
        "-q",
        "-o",
        "json",
      ]);
      expect(created.stderr).toBe("");
      expect(created.code).toBe(0);
      const result = JSON.parse(created.stdout);
      expect(result.status.phase).toBe("Completed");
      expect(result.spec.url).not.toContain("password");
      expect(result.spec.display).toContain("password=***");
      const configMaps = JSON.stringify(
        (await kube.core.listNamespacedConfigMap({ namespace: vc.namespace })).items,
      );
      for (const form of [
        password,
        Buffer.from(password).toString("base64"),
        encodeURIComponent(Buffer.from(password).toString("base64")),
      ])
        expect(configMaps).not.toContain(form);
      // the Secret that carried it is gone once the request finished
      await until(
        "options Secret deleted",
        async () =>
          (
            await kube.core.listNamespacedSecret({
              namespace: vc.namespace,
              fieldSelector: `metadata.name=${result.name}`,
            })
          ).items.length === 0 || undefined,
      );
      const oci = PluginRegistry.of(ociStorePlugin);
      const { store, location } = await oci.open(url, { env: {} });
      try {
        const object = await store.get(location.key);
        const summary = await verifyArchive(object.body);
        expect(summary).toMatchObject({ verified: true, keys: 301 });
      } finally {
        await store.close();
      }
    } finally {
      await registry.close();
    }
  });

  it("refuses a sleeping vCluster and one on an external database, saying what to do", async () => {
    const sleeping = await fakeVCluster(kube, {
      configSecretAnnotations: { "sleepmode.loft.sh/sleep-type": "sleep" },
    });
    const r1 = await vsnap(["snapshot", "create", sleeping.name, "container:///tmp/never.tar.gz"]);
    expect(r1.code).toBe(7);
    expect(r1.stderr).toMatch(
      new RegExp(
        `^error: cannot snapshot vCluster "${sleeping.name}" because it is not running \\(current status: "Sleeping"`,
      ),
    );
    expect(r1.stderr).toContain("hint: wake it first");
    const external = await fakeVCluster(kube, {
      config:
        "controlPlane:\n  backingStore:\n    database:\n      external:\n        enabled: true\n        dataSource: mysql://vc:hunter2secret@tcp(mysql:3306)/vc\n",
    });
    const r2 = await vsnap([
      "snapshot",
      "create",
      external.name,
      "container:///tmp/never.tar.gz",
      "-n",
      external.namespace,
    ]);
    expect(r2.code).toBe(8);
    expect(r2.stderr).toContain(
      `error: vCluster "${external.name}" keeps its data in an external database (mysql://vc:***@tcp(mysql:3306)/vc): back up the database itself; vsnap cannot`,
    );
    expect(r2.stderr).not.toContain("hunter2secret");
  });
});
