import {
  defineStorePlugin,
  PluginRegistry,
  type Secret,
  STORE_API_VERSION,
  secretParam,
  VsnapError,
} from "@vsnap/core";
import { describe, expect, it } from "vitest";
import {
  fromConfigMap,
  listRequests,
  OPTIONS_KEY,
  REQUEST_KEY,
  readRequestOptions,
  recordRequestEvent,
  requestDeletion,
  requestSnapshot,
  updateRequestStatus,
} from "../src/index.js";
import { rejection, testKube, vcluster } from "./helpers.js";

const kube = testKube();
const TOKEN = "tok-9f8e7d6c5b4a";

// A store plugin whose URL carries a credential, as s3:// and oci:// do (a real plugin object:
// what is under test is how requests carry its options, not the store).
const plugin = defineStorePlugin<{ bucket: string; token?: Secret }>({
  apiVersion: STORE_API_VERSION,
  name: "memo",
  schemes: ["memo"],
  format: "memo://BUCKET/KEY?token=BASE64",
  params: { token: { description: "access token", type: "base64", secret: true } },
  parse({ url, params }) {
    const token = secretParam(params, "token");
    return { key: url.pathname.slice(1), options: { bucket: url.host, ...(token ? { token } : {}) } };
  },
  async open() {
    throw new VsnapError("UNSUPPORTED", "not used here");
  },
  async toRequestOptions(location) {
    return { bucket: location.options.bucket, token: location.options.token?.reveal() };
  },
});
const registry = PluginRegistry.of(plugin);
const url = `memo://bucket/snap-1.tar.gz?token=${Buffer.from(TOKEN).toString("base64")}`;

describe("snapshot requests", () => {
  it("writes the URL without credentials to a ConfigMap and the options to a Secret of the same name", async () => {
    const vc = await vcluster(kube, {
      helm: { chartVersion: "0.30.0", values: { a: 1 } },
      config: "controlPlane: {}\n",
    });
    const { request, backingStore, warnings } = await requestSnapshot(kube, {
      name: vc.name,
      url,
      registry,
      env: {},
    });
    expect(warnings).toEqual([]);
    expect(backingStore).toEqual({ type: "embedded-sqlite", file: "/data/state.db" });
    expect(request.name).toMatch(new RegExp(`^${vc.name}-snapshot-request-[a-z0-9]{5}$`));
    expect(request.request.spec).toMatchObject({
      url: "memo://bucket/snap-1.tar.gz",
      display: "memo://bucket/snap-1.tar.gz?token=***",
      operation: "snapshot",
    });
    expect(request.request.status).toEqual({ phase: "", error: {} });
    expect(request.labels).toEqual({
      "vsnap.dev/snapshot-request": "",
      "vsnap.dev/vcluster-name": vc.name,
      "vsnap.dev/vcluster-namespace": vc.namespace,
    });

    // no ConfigMap anywhere in the namespace holds the token, in any encoding
    const all = await kube.core.listNamespacedConfigMap({ namespace: vc.namespace });
    const text = JSON.stringify(all.items);
    for (const form of [TOKEN, Buffer.from(TOKEN).toString("base64")]) expect(text).not.toContain(form);

    const secret = await kube.core.readNamespacedSecret({ name: request.name, namespace: vc.namespace });
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: "ConfigMap",
      name: request.name,
      uid: request.uid,
    });
    expect(Object.keys(secret.data ?? {})).toEqual([OPTIONS_KEY]);
    const options = await readRequestOptions(kube, vc.namespace, request.name);
    expect(options).toMatchObject({
      plugin: "memo",
      scheme: "memo",
      key: "snap-1.tar.gz",
      options: { bucket: "bucket", token: TOKEN },
      release: { releaseName: vc.name, chartVersion: "0.30.0" },
      vclusterConfig: "controlPlane: {}\n",
      backingStore: { type: "embedded-sqlite" },
    });
  });

  it("refuses a sleeping vCluster before looking at the URL, and an external database", async () => {
    const sleeping = await vcluster(kube, { annotations: { "loft.sh/paused": "true" } });
    const err = await rejection(
      requestSnapshot(kube, { name: sleeping.name, url: "bogus://x", registry, env: {} }),
    );
    expect(err.message).toMatch(
      new RegExp(
        `^cannot snapshot vCluster "${sleeping.name}" because it is not running \\(current status: "Paused"`,
      ),
    );
    const external = await vcluster(kube, {
      config:
        "controlPlane:\n  backingStore:\n    database:\n      external:\n        enabled: true\n        dataSource: postgres://vc:pw-123456@pg:5432/vc\n",
    });
    const ext = await rejection(requestSnapshot(kube, { name: external.name, url, registry, env: {} }));
    expect(ext.code).toBe("UNSUPPORTED");
    expect(ext.message).toContain("back up the database itself; vsnap cannot");
    expect(ext.message).not.toContain("pw-123456");
    expect(
      (
        await kube.core.listNamespacedConfigMap({
          namespace: external.namespace,
          labelSelector: "vsnap.dev/snapshot-request",
        })
      ).items,
    ).toEqual([]);
  });

  it("warns instead of failing when the Helm release is elsewhere", async () => {
    const vc = await vcluster(kube, { helm: { storageNamespace: "flux-system" } });
    const { warnings, request } = await requestSnapshot(kube, { name: vc.name, url, registry, env: {} });
    expect(warnings[0]).toMatch(/no Helm release .* --release-namespace/);
    expect((await readRequestOptions(kube, vc.namespace, request.name))?.release).toBeUndefined();
    const withNs = await requestSnapshot(kube, {
      name: vc.name,
      url,
      registry,
      env: {},
      releaseNamespace: "flux-system",
    });
    expect(withNs.warnings).toEqual([]);
  });

  it("updates status with optimistic concurrency, lists oldest first, and records events", async () => {
    const vc = await vcluster(kube);
    const first = (await requestSnapshot(kube, { name: vc.name, url, registry, env: {} })).request;
    const del = (await requestDeletion(kube, { name: vc.name, url, registry, env: {} })).request;
    expect(del.name).toMatch(/-snapshot-request-delete-/);
    expect(del.request.status.phase).toBe("Deleting");
    const listed = await listRequests(kube, vc.namespace, { vcluster: vc.name });
    expect(listed.map((r) => r.name)).toEqual([first.name, del.name]);

    const updated = await updateRequestStatus(kube, first, { phase: "CreatingEtcdBackup" });
    expect(updated.request.status.phase).toBe("CreatingEtcdBackup");
    const stale = await rejection(updateRequestStatus(kube, first, { phase: "Failed" }));
    expect(stale.code).toBe("CONFLICT");
    const cm = await kube.core.readNamespacedConfigMap({ name: first.name, namespace: vc.namespace });
    expect(JSON.parse(cm.data?.[REQUEST_KEY] ?? "{}").status.phase).toBe("CreatingEtcdBackup");
    expect(fromConfigMap(cm).request.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    expect(
      await recordRequestEvent(kube, updated, {
        type: "Warning",
        reason: "SnapshotFailed",
        action: "Snapshot",
        note: "it broke",
      }),
    ).toBe(true);
    const events = await kube.core.listNamespacedEvent({
      namespace: vc.namespace,
      fieldSelector: `involvedObject.name=${first.name}`,
    });
    expect(events.items.map((e) => [e.type, e.reason, e.message, e.reportingComponent])).toEqual([
      ["Warning", "SnapshotFailed", "it broke", "vsnap.dev/snapshot-controller"],
    ]);
  });
});
