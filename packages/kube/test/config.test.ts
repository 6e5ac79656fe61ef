import { describe, expect, it } from "vitest";
import {
  assertSnapshottableStore,
  detectBackingStore,
  findVCluster,
  getHelmRelease,
  readVClusterConfig,
} from "../src/index.js";
import { rejection, testKube, vcluster } from "./helpers.js";

const kube = testKube();
const vc = { name: "demo", namespace: "team-a" };
const values = (yaml: string) => ({ values: (require_yaml(yaml) ?? {}) as Record<string, unknown> });

import { parse as require_yaml } from "yaml";

describe("backing store detection", () => {
  it("reads controlPlane.backingStore like vCluster (default: embedded SQLite)", () => {
    expect(detectBackingStore(values(""), vc)).toEqual({ type: "embedded-sqlite", file: "/data/state.db" });
    expect(
      detectBackingStore(values("controlPlane: {backingStore: {database: {embedded: {enabled: true}}}}"), vc),
    ).toEqual({
      type: "embedded-sqlite",
      file: "/data/state.db",
    });
    expect(
      detectBackingStore(values("controlPlane: {backingStore: {etcd: {embedded: {enabled: true}}}}"), vc),
    ).toMatchObject({
      type: "embedded-etcd",
      endpoints: ["https://127.0.0.1:2379"],
      tls: { caFile: "/data/pki/etcd/ca.crt", certFile: "/data/pki/apiserver-etcd-client.crt" },
    });
    expect(
      detectBackingStore(values("controlPlane: {backingStore: {etcd: {deploy: {enabled: true}}}}"), vc),
    ).toMatchObject({
      type: "deployed-etcd",
      endpoints: ["https://demo-etcd.team-a:2379"],
    });
    expect(
      detectBackingStore(
        values(
          "controlPlane: {backingStore: {etcd: {external: {enabled: true, endpoint: 'etcd.db:2379', tls: {caFile: /c/ca.crt}}}}}",
        ),
        vc,
      ),
    ).toEqual({ type: "external-etcd", endpoints: ["https://etcd.db:2379"], tls: { caFile: "/c/ca.crt" } });
    const external = detectBackingStore(
      values(
        "controlPlane: {backingStore: {database: {external: {enabled: true, dataSource: 'mysql://root:s3cret@tcp(db:3306)/vc'}}}}",
      ),
      vc,
    );
    expect(external).toEqual({
      type: "external-database",
      driver: "mysql",
      display: "mysql://root:***@tcp(db:3306)/vc",
    });
  });

  it("refuses an external database with what to do instead", () => {
    let thrown: { code: string; message: string; hint?: string } | undefined;
    try {
      assertSnapshottableStore(vc, {
        type: "external-database",
        driver: "postgres",
        display: "postgres://u:***@pg/vc",
      });
    } catch (error) {
      thrown = error as typeof thrown;
    }
    expect(thrown?.code).toBe("UNSUPPORTED");
    expect(thrown?.message).toBe(
      'vCluster "demo" keeps its data in an external database (postgres://u:***@pg/vc): back up the database itself; vsnap cannot',
    );
    expect(thrown?.hint).toMatch(/pg_dump/);
  });

  it("prefers the vc-config Secret, falls back to the Helm values", async () => {
    const withSecret = await vcluster(kube, {
      config: "controlPlane:\n  backingStore:\n    etcd:\n      embedded:\n        enabled: true\n",
    });
    const config = await readVClusterConfig(kube, withSecret);
    expect(config.source).toBe("config-secret");
    expect(detectBackingStore(config, withSecret).type).toBe("embedded-etcd");

    const noSecret = await vcluster(kube, {
      config: false,
      helm: { values: { controlPlane: { backingStore: { etcd: { deploy: { enabled: true } } } } } },
    });
    const release = await getHelmRelease(kube, noSecret.name, noSecret.namespace);
    const fromHelm = await readVClusterConfig(kube, noSecret, release.valuesYaml);
    expect(fromHelm.source).toBe("helm-values");
    expect(detectBackingStore(fromHelm, await findVCluster(kube, noSecret.name)).type).toBe("deployed-etcd");
  });
});

describe("Helm release", () => {
  it("takes the highest revision that is not superseded or uninstalled", async () => {
    const vc1 = await vcluster(kube, {
      helm: {
        chartVersion: "0.30.2",
        values: { sync: { toHost: { ingresses: { enabled: true } } } },
        history: [
          { status: "superseded", chartVersion: "0.29.0" },
          { status: "superseded", chartVersion: "0.30.0" },
        ],
      },
    });
    const found = await getHelmRelease(kube, vc1.name, vc1.namespace);
    expect(found.record.version).toBe(3);
    expect(found.release).toMatchObject({
      releaseName: vc1.name,
      releaseNamespace: vc1.namespace,
      chartName: "vcluster",
      chartVersion: "0.30.2",
    });
    expect(Buffer.from(found.release.values ?? "", "base64").toString()).toBe(
      "sync:\n  toHost:\n    ingresses:\n      enabled: true\n",
    );
  });

  it("reads a release stored elsewhere (Flux storageNamespace) with --release-namespace", async () => {
    const vc2 = await vcluster(kube, { helm: { storageNamespace: "flux-system", chartVersion: "0.31.0" } });
    const err = await rejection(getHelmRelease(kube, vc2.name, vc2.namespace));
    expect(err.code).toBe("NOT_FOUND");
    expect(err.message).toBe(`no Helm release "${vc2.name}" found in namespace "${vc2.namespace}"`);
    expect(err.hint).toMatch(/--release-namespace/);
    const found = await getHelmRelease(kube, vc2.name, vc2.namespace, "flux-system");
    expect(found.release.chartVersion).toBe("0.31.0");
    expect(found.release.releaseNamespace).toBe(vc2.namespace);
  });
});
