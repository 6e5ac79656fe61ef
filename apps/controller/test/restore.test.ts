import { spawn } from "node:child_process";
import {
  copyFileSync,
  createReadStream,
  existsSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { etcdSource } from "@vsnap/backing-etcd";
import { archiveKeyValues, readArchive } from "@vsnap/core";
import { diffKeyValues, RESTORE_ANNOTATION } from "@vsnap/kube";
import { encodeHelmRelease } from "@vsnap/kube-apiserver-fake";
import { type EtcdServer, startEtcd } from "@vsnap/test-servers/etcd";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLI_BIN,
  type ControllerProcess,
  controller,
  type FakeVc,
  fakeVc,
  fill,
  kineEntries,
  merge,
  type RestoreCluster,
  readKine,
  restoreCluster,
  snapshotObjects,
  syncedPvc,
  until,
  virtualClusterOn,
  volumeData,
  vsnap,
  writeKine,
} from "./restore-harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
let rc: RestoreCluster;
let vc: FakeVc;
let ctl: ControllerProcess;
let snapUrl: string;
let snapFile: string;
const A = () => kineEntries("apps", ["a", "b", "c"], "v1");
const pvcs: Record<string, string> = {};

/** The archive's key/values as text (what a restore must produce). */
async function archived(
  file: string,
  drop: (k: string) => boolean = () => false,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const kv of archiveKeyValues(readArchive(createReadStream(file))))
    if (!drop(kv.key)) out.set(kv.key, Buffer.from(kv.value).toString("utf8"));
  return out;
}

async function workload(v: FakeVc) {
  return rc.kube.apps.readNamespacedStatefulSet({ name: v.name, namespace: v.namespace });
}

async function leftovers(v: FakeVc): Promise<string[]> {
  const jobs = await rc.batch.listNamespacedJob({ namespace: v.namespace });
  const secrets = await rc.kube.core.listNamespacedSecret({
    namespace: v.namespace,
    labelSelector: "app=vsnap-restore",
  });
  // the last restore's receipt is meant to stay; anything else (backups, temp files) is not
  const files = v.dataDir
    ? readdirSync(v.dataDir).filter((f) => f.includes("vsnap") && f !== ".vsnap-last-restore.json")
    : [];
  return [
    ...jobs.items.map((j) => `job/${j.metadata?.name}`),
    ...secrets.items.map((s) => `secret/${s.metadata?.name}`),
    ...files,
  ];
}

beforeAll(async () => {
  rc = await restoreCluster();
  vc = await fakeVc(rc);
  await writeKine(vc.sqlite!, A());
  pvcs.db = await syncedPvc(rc, vc, "db-data", "rows of the database");
  pvcs.cache = await syncedPvc(rc, vc, "cache", "cached things");
  ctl = await controller(rc, vc, ["--sqlite", vc.sqlite!]);
  snapFile = path.join(rc.dir, "snap-a.tar.gz");
  snapUrl = `container://${snapFile}`;
  const created = await vsnap(rc, [
    "snapshot",
    "create",
    vc.name,
    snapUrl,
    "-n",
    vc.namespace,
    "--include-volumes",
    "--wait",
  ]);
  if (created.code !== 0)
    throw new Error(`snapshot failed: ${created.stdout}${created.stderr}\n${ctl.logs()}`);
  await ctl.kill();
}, 120_000);
afterAll(async () => {
  await ctl?.kill();
  await rc?.close();
});

describe("vsnap restore NAME URL (SQLite vCluster)", () => {
  it("--dry-run shows keys added/removed/changed per resource type, the Helm release and the volumes, and changes nothing", async () => {
    // the live cluster moved on: b changed, a deleted, d added; and Helm upgraded the chart
    const live = kineEntries("apps", ["b", "c", "d"], "v1").map((kv) =>
      kv.key.endsWith("/b")
        ? { key: kv.key, value: Buffer.from(Buffer.from(kv.value).toString().replace("v1", "v2")) }
        : kv,
    );
    await writeKine(vc.sqlite!, live);
    await rc.kube.core.createNamespacedSecret({
      namespace: vc.namespace,
      body: {
        metadata: {
          name: `sh.helm.release.v1.${vc.name}.v2`,
          labels: { owner: "helm", name: vc.name, status: "deployed", version: "2" },
        },
        data: {
          release: Buffer.from(
            encodeHelmRelease({
              name: vc.name,
              namespace: vc.namespace,
              version: 2,
              chart: { metadata: { name: "vcluster", version: "0.31.0" } },
              config: { sync: { toHost: { ingresses: { enabled: true } } } },
            }),
          ).toString("base64"),
        },
      },
    });
    const before = readFileSync(vc.sqlite!);
    const expected = await diffKeyValues(
      (async function* () {
        yield* live;
      })(),
      archiveKeyValues(readArchive(createReadStream(snapFile))),
    );
    const cm = expected.types.find((t) => t.type === "configmaps")!;

    const dry = await vsnap(rc, ["restore", vc.name, snapUrl, "-n", vc.namespace, "--dry-run"]);
    expect(dry.stderr).not.toMatch(/error/);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`Dry run: restoring ${snapUrl}`);
    expect(dry.stdout).toMatch(
      new RegExp(
        `configmaps\\s+\\|\\s+${cm.added}\\s+\\|\\s+${cm.removed}\\s+\\|\\s+${cm.changed}\\s+\\|\\s+${cm.unchanged}`,
      ),
    );
    expect([cm.added, cm.removed, cm.changed]).toEqual([1, 1, 1]);
    expect(dry.stdout).toContain("configmaps: +apps/a -apps/d ~apps/b");
    expect(dry.stdout).toMatch(
      /chart version DIFFERS \(0\.30\.0 in the snapshot, 0\.31\.0 live\); values DIFFER/,
    );
    expect(dry.stdout).toMatch(/vcluster\.yaml: same as live/);
    expect(dry.stdout).toMatch(new RegExp(`would leave alone \\(PVC exists.*${pvcs.db}`));
    expect(dry.stdout).toContain("Nothing was changed.");
    // nothing was: same bytes, same replicas, no annotation, no Job left
    expect(readFileSync(vc.sqlite!).equals(before)).toBe(true);
    const sts = await workload(vc);
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.metadata?.annotations?.[RESTORE_ANNOTATION]).toBeUndefined();
    expect(await leftovers(vc)).toEqual([]);
  });

  it("restores the data and the CSI volumes, skips an existing PVC with a warning event, and scales back up", async () => {
    await rc.kube.core.deleteNamespacedPersistentVolumeClaim({ name: pvcs.db!, namespace: vc.namespace });
    await until("pvc gone", async () =>
      (
        await rc.kube.core.listNamespacedPersistentVolumeClaim({
          namespace: vc.namespace,
          fieldSelector: `metadata.name=${pvcs.db}`,
        })
      ).items.length
        ? undefined
        : true,
    );
    const run = await vsnap(rc, ["restore", vc.name, snapUrl, "-n", vc.namespace, "--include-volumes"]);
    expect(run.stderr).toMatch(
      /Pausing vCluster .*: recording 1 replica\(s\) and scaling StatefulSet .* to 0/,
    );
    expect(run.stderr).toMatch(/backed up .*state\.db to .*\.vsnap-restore-/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\| Restored\s+\|/);
    expect(run.stdout).toMatch(/\|\s+1\/2\s+\|/);

    expect(await readKine(vc.sqlite!)).toEqual(await archived(snapFile));
    expect(await volumeData(rc, vc.namespace, pvcs.db!)).toBe("rows of the database");
    const events = await rc.kube.core.listNamespacedEvent({
      namespace: vc.namespace,
      fieldSelector: `involvedObject.name=${pvcs.cache}`,
    });
    expect(events.items.map((e) => [e.type, e.reason])).toContainEqual(["Warning", "VolumeRestoreSkipped"]);
    expect(await snapshotObjects(rc)).toEqual([]);
    const sts = await workload(vc);
    expect(sts.spec?.replicas).toBe(1);
    expect(Object.keys(sts.metadata?.annotations ?? {}).filter((k) => /restore|paused/.test(k))).toEqual([]);
    expect(await leftovers(vc)).toEqual([]);
    const receipt = JSON.parse(readFileSync(path.join(vc.dataDir!, ".vsnap-last-restore.json"), "utf8"));
    expect(receipt).toMatchObject({ url: snapUrl, keys: (await archived(snapFile)).size });
  });

  it("a restore that fails midway (its pod is killed while writing) puts the old data back and resumes the vCluster", async () => {
    const live = kineEntries("apps", ["x", "y"], "live");
    await writeKine(vc.sqlite!, live);
    const liveData = await readKine(vc.sqlite!);
    await rc.kube.core.createNamespacedConfigMap({
      namespace: vc.namespace,
      // a failpoint: the restore process dies (SIGKILL) after writing 3 keys
      body: {
        metadata: { name: "vsnap-fake-faults" },
        data: { env: "VSNAP_FAILPOINT=crash-after-keys:3", "kill-job-prefix": "vsnap-restore-" },
      },
    });
    const run = await vsnap(rc, ["restore", vc.name, snapUrl, "-n", vc.namespace]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /restore failed: the restore Job failed \(exit code 137 \(killed: out of memory, evicted, or its node went away\); last output: restoring into SQLite/,
    );
    expect(run.stderr).toMatch(/restoring into SQLite/);
    expect(run.stderr).toMatch(/Putting the old data back with Job .*-rollback/);
    expect(run.stderr).toMatch(/put the backup back: .*state\.db/);
    expect(run.stdout).toMatch(/\| Failed\s+\|/);
    expect(run.stdout).toContain("old data in place: yes");
    expect(run.stdout).toContain("vCluster resumed: yes");
    expect(await readKine(vc.sqlite!)).toEqual(liveData);
    const sts = await workload(vc);
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.metadata?.annotations?.[RESTORE_ANNOTATION]).toBeUndefined();
    // the half-written temp file and the backup are gone
    expect(await leftovers(vc)).toEqual([]);
  });

  /** Starts a restore whose Job dies mid-write, and kills the CLI once that Job runs: an interrupted restore. */
  async function interruptedRestore(): Promise<void> {
    await rc.kube.core
      .createNamespacedConfigMap({
        namespace: vc.namespace,
        body: {
          metadata: { name: "vsnap-fake-faults" },
          data: { env: "VSNAP_FAILPOINT=crash-after-keys:3", "kill-job-prefix": "vsnap-restore-" },
        },
      })
      .catch(async () =>
        rc.kube.core.patchNamespacedConfigMap(
          {
            name: "vsnap-fake-faults",
            namespace: vc.namespace,
            body: {
              data: { env: "VSNAP_FAILPOINT=crash-after-keys:3", "kill-job-prefix": "vsnap-restore-" },
            },
          },
          merge,
        ),
      );
    const cli = spawn(process.execPath, [CLI_BIN, "restore", vc.name, snapUrl, "-n", vc.namespace], {
      env: { ...process.env, KUBECONFIG: rc.cluster.kubeconfigPath, VSNAP_RESTORE_POLL_MS: "100" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    cli.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise((r) => cli.once("exit", r));
    await until("restore pod running", () => (/pod .* is running/.test(stderr) ? true : undefined));
    cli.kill("SIGKILL");
    await exited;
    await until("the abandoned Job failed", async () => {
      const jobs = await rc.batch.listNamespacedJob({
        namespace: vc.namespace,
        labelSelector: "app=vsnap-restore",
      });
      return jobs.items.some((j) =>
        j.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True"),
      )
        ? true
        : undefined;
    });
    const state = JSON.parse((await workload(vc)).metadata?.annotations?.[RESTORE_ANNOTATION] ?? "{}");
    expect(state).toMatchObject({ phase: "Restoring", replicas: 1, url: snapUrl });
    expect((await workload(vc)).spec?.replicas).toBe(0);
  }

  it("an interrupted restore is recorded on the vCluster: another URL is refused, the same URL continues it with its backup", async () => {
    await writeKine(vc.sqlite!, kineEntries("apps", ["p", "q"], "before"));
    await interruptedRestore();
    const other = path.join(rc.dir, "other.tar.gz");
    copyFileSync(snapFile, other);
    const refused = await vsnap(rc, ["restore", vc.name, `container://${other}`, "-n", vc.namespace]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toMatch(
      /has an unfinished restore of .*snap-a\.tar\.gz \(id \w+, phase Restoring\)/,
    );

    const run = await vsnap(rc, ["restore", vc.name, snapUrl, "-n", vc.namespace]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/continuing the interrupted restore \w+ \(it stopped at phase Restoring\)/);
    expect(run.stderr).toMatch(/kept the backup an earlier attempt of restore \w+ made/);
    expect(await readKine(vc.sqlite!)).toEqual(await archived(snapFile));
    expect((await workload(vc)).spec?.replicas).toBe(1);
    expect(await leftovers(vc)).toEqual([]);
  });

  it("--undo puts back the data an interrupted restore replaced and resumes", async () => {
    await writeKine(vc.sqlite!, kineEntries("apps", ["u"], "undo-me"));
    const before = await readKine(vc.sqlite!);
    await interruptedRestore();
    const run = await vsnap(rc, ["restore", vc.name, "--undo", "-n", vc.namespace]);
    expect(run.stdout).toMatch(/done\s+\|\s+the data from before restore \w+ is back/);
    expect(run.code).toBe(0);
    expect(await readKine(vc.sqlite!)).toEqual(before);
    const sts = await workload(vc);
    expect(sts.spec?.replicas).toBe(1);
    expect(sts.metadata?.annotations?.[RESTORE_ANNOTATION]).toBeUndefined();
    expect(await leftovers(vc)).toEqual([]);
  });

  it("refuses a corrupt archive before touching the cluster", async () => {
    const bad = path.join(rc.dir, "corrupt.tar.gz");
    copyFileSync(snapFile, bad);
    const bytes = readFileSync(bad);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    writeFileSync(bad, bytes);
    const before = readFileSync(vc.sqlite!);
    const run = await vsnap(rc, ["restore", vc.name, `container://${bad}`, "-n", vc.namespace]);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/error: .*(corrupt|checksum|digest|invalid)/i);
    expect(run.stderr).not.toMatch(/Pausing/);
    expect(readFileSync(vc.sqlite!).equals(before)).toBe(true);
    expect((await workload(vc)).metadata?.annotations?.[RESTORE_ANNOTATION]).toBeUndefined();
  });

  it("--new-vcluster restores into another vCluster without the old mappings and kube-root-ca.crt; without it, refuses", async () => {
    const clone = await fakeVc(rc, { name: "clone" });
    await writeKine(clone.sqlite!, kineEntries("other", ["z"], "clone"));
    const refused = await vsnap(rc, ["restore", clone.name, snapUrl, "-n", clone.namespace]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain(
      `the snapshot was taken of vCluster "${vc.name}" in namespace "${vc.namespace}"`,
    );
    expect(refused.stderr).toMatch(/hint: .*--new-vcluster/);

    const run = await vsnap(rc, ["restore", clone.name, snapUrl, "-n", clone.namespace, "--new-vcluster"]);
    expect(run.code).toBe(0);
    const restored = await readKine(clone.sqlite!);
    const expected = await archived(
      snapFile,
      (k) => k.startsWith("/vcluster/mappings/") || k.endsWith("/kube-root-ca.crt"),
    );
    expect(restored).toEqual(expected);
    expect(
      [...restored.keys()].some((k) => k.includes("kube-root-ca.crt") || k.startsWith("/vcluster/mappings/")),
    ).toBe(false);
  });

  it("into a vCluster that does not exist: writes the snapshot's values and prints the helm command", async () => {
    const run = await vsnap(rc, ["restore", "fresh", snapUrl, "-n", "team-new", "--new-vcluster"]);
    expect(run.code).toBe(3);
    const valuesFile = path.join(rc.dir, "fresh-vcluster-values.yaml");
    expect(readFileSync(valuesFile, "utf8")).toContain("persistence:");
    expect(run.stdout).toContain(
      `helm upgrade --install fresh vcluster --repo https://charts.loft.sh --version 0.30.0 --namespace team-new --create-namespace --values ${valuesFile}`,
    );
    expect(run.stdout).toContain(`vsnap restore fresh "${snapUrl}" -n team-new --new-vcluster`);
    expect(existsSync(path.join(rc.dir, "fresh"))).toBe(false);
  });

  it("--new-vcluster --install creates the missing vCluster with helm from the snapshot's values, then restores into it", async () => {
    const log = path.join(rc.dir, "helm.log");
    const run = await vsnap(
      rc,
      ["restore", "installed", snapUrl, "-n", "team-install", "--new-vcluster", "--install"],
      {
        VSNAP_HELM: path.join(here, "fixtures", "fake-helm.mjs"),
        FAKE_HELM_LOG: log,
        FAKE_HELM_DATA_DIR: rc.dir,
      },
    );
    expect(run.stderr).toMatch(
      /Installing vCluster installed in namespace team-install from the snapshot's values \(chart vcluster 0\.30\.0\)/,
    );
    expect(run.code).toBe(0);
    const args = JSON.parse(readFileSync(log, "utf8").trim()) as string[];
    expect(args.slice(0, 4)).toEqual(["upgrade", "--install", "installed", "vcluster"]);
    expect(args).toContain("--version");
    expect(readFileSync(args[args.indexOf("--values") + 1]!, "utf8")).toContain("persistence:");
    const restored = await readKine(path.join(rc.dir, "team-install-installed", "state.db"));
    expect(restored).toEqual(
      await archived(snapFile, (k) => k.startsWith("/vcluster/mappings/") || k.endsWith("/kube-root-ca.crt")),
    );
  });
});

describe("vsnap restore NAME URL (etcd vCluster)", () => {
  let data: EtcdServer;
  let evc: FakeVc;
  let pvc: string;
  const file = () => path.join(rc.dir, "etcd-snap.tar.gz");

  beforeAll(async () => {
    data = await startEtcd();
    const api = await virtualClusterOn(data);
    await fill(api, "apps", 15, 512);
    await api.close();
    evc = await fakeVc(rc, {
      persistent: false,
      config: `controlPlane:\n  backingStore:\n    etcd:\n      external:\n        enabled: true\n        endpoint: ${data.endpoint}\n`,
    });
    pvc = await syncedPvc(rc, evc, "uploads", "user uploads");
    const etcdCtl = await controller(rc, evc, []);
    try {
      const created = await vsnap(rc, [
        "snapshot",
        "create",
        evc.name,
        `container://${file()}`,
        "-n",
        evc.namespace,
        "--include-volumes",
        "--wait",
      ]);
      if (created.code !== 0)
        throw new Error(`snapshot failed: ${created.stdout}${created.stderr}\n${etcdCtl.logs()}`);
    } finally {
      await etcdCtl.kill();
    }
  }, 120_000);
  afterAll(async () => {
    await data?.close();
  });

  async function liveKeys(): Promise<Map<string, string>> {
    const point = await etcdSource({ endpoints: data.endpoint }).open();
    const out = new Map<string, string>();
    try {
      if (point.mode !== "kv") throw new Error("kv expected");
      for await (const kv of point.entries()) out.set(kv.key, Buffer.from(kv.value).toString("base64"));
    } finally {
      await point.close();
    }
    return out;
  }

  it("restores the etcd keys and the volumes after a dry run that shows the difference", async () => {
    const api = await virtualClusterOn(data);
    await fill(api, "later", 3, 64);
    await api.core.deleteNamespacedConfigMap({ name: "blob-0", namespace: "apps" });
    await api.close();
    const dry = await vsnap(rc, [
      "restore",
      evc.name,
      `container://${file()}`,
      "-n",
      evc.namespace,
      "--dry-run",
    ]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/configmaps\s+\|\s+1\s+\|\s+3\s+\|/);
    expect(dry.stdout).toContain("+apps/blob-0");

    await rc.kube.core.deleteNamespacedPersistentVolumeClaim({ name: pvc, namespace: evc.namespace });
    const run = await vsnap(rc, [
      "restore",
      evc.name,
      `container://${file()}`,
      "-n",
      evc.namespace,
      "--include-volumes",
    ]);
    expect(run.stderr).toMatch(/warning: the vCluster has no data volume/);
    expect(run.stderr).toMatch(new RegExp(`volume ${evc.namespace}/${pvc}: Restored`));
    expect(await volumeData(rc, evc.namespace, pvc)).toBe("user uploads");
    expect(run.code).toBe(0);
    const expected = new Map<string, string>();
    for await (const kv of archiveKeyValues(readArchive(createReadStream(file()))))
      expected.set(kv.key, Buffer.from(kv.value).toString("base64"));
    expect(await liveKeys()).toEqual(expected);
    expect((await workload(evc)).spec?.replicas).toBe(1);
    expect(await leftovers(evc)).toEqual([]);
  });
});
