import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { customResource, ResourceRegistry } from "../src/index.js";
import { freshNamespace, type Harness, harness, statusOf } from "./helpers.js";

const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
const strategic = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch);
const jsonPatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);

let h: Harness;
beforeAll(async () => {
  const resources = new ResourceRegistry().register(
    customResource({
      group: "snapshot.storage.k8s.io",
      version: "v1",
      kind: "VolumeSnapshot",
      plural: "volumesnapshots",
      namespaced: true,
    }),
  );
  h = await harness({ resources });
});
afterAll(() => h.close());

describe("storage in the real etcd", () => {
  it("keeps objects as JSON under kube-apiserver's keys, resourceVersion = mod_revision", async () => {
    const ns = await freshNamespace(h);
    const cm = await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "one" }, data: { a: "1" } },
    });
    const raw = JSON.parse(await h.etcdctl("get", `/registry/configmaps/${ns}/one`, "-w", "json"));
    const kv = raw.kvs[0];
    expect(String(kv.mod_revision)).toBe(cm.metadata?.resourceVersion);
    const stored = JSON.parse(Buffer.from(kv.value, "base64").toString());
    expect(stored).toMatchObject({
      kind: "ConfigMap",
      apiVersion: "v1",
      data: { a: "1" },
      metadata: { name: "one", namespace: ns },
    });
    expect(stored.metadata.resourceVersion).toBeUndefined();

    await h.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: {
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: { containers: [{ name: "c", image: "nginx" }] },
          },
        },
      },
    });
    expect(await h.etcdctl("get", `/registry/deployments/${ns}/web`, "--keys-only")).toContain(
      `/registry/deployments/${ns}/web`,
    );
    expect(await h.etcdctl("get", `/registry/namespaces/${ns}`, "--keys-only")).toContain(
      `/registry/namespaces/${ns}`,
    );
  });

  it("stores a registered custom resource under /registry/<group>/<plural> and lists it in discovery", async () => {
    const ns = await freshNamespace(h);
    const custom = h.kc.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: "snapshot.storage.k8s.io",
      version: "v1",
      namespace: ns,
      plural: "volumesnapshots",
      body: {
        apiVersion: "snapshot.storage.k8s.io/v1",
        kind: "VolumeSnapshot",
        metadata: { name: "vs1" },
        spec: { source: { persistentVolumeClaimName: "data" } },
      },
    });
    expect(
      await h.etcdctl("get", `/registry/snapshot.storage.k8s.io/volumesnapshots/${ns}/vs1`, "--keys-only"),
    ).toContain("vs1");
    const list = (await custom.listNamespacedCustomObject({
      group: "snapshot.storage.k8s.io",
      version: "v1",
      namespace: ns,
      plural: "volumesnapshots",
    })) as {
      items: { metadata: { name: string; generation: number } }[];
    };
    expect(list.items.map((i) => i.metadata.name)).toEqual(["vs1"]);
    expect(list.items[0]?.metadata.generation).toBe(1);
    const apis = await h.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    expect(apis.groups.map((g) => g.name)).toContain("snapshot.storage.k8s.io");
  });

  it("serves events.k8s.io/v1 and core/v1 events from the same keys", async () => {
    const ns = await freshNamespace(h);
    const events = h.kc.makeApiClient(k8s.EventsV1Api);
    await events.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: "e1" },
        eventTime: new k8s.V1MicroTime(),
        reason: "Started",
        note: "snapshot started",
        type: "Normal",
        action: "Snapshot",
        reportingController: "vsnap.dev/controller",
        reportingInstance: "i-1",
        regarding: { kind: "ConfigMap", name: "req", namespace: ns },
      },
    });
    expect(await h.etcdctl("get", `/registry/events/${ns}/e1`, "--keys-only")).toContain("e1");
    const core = await h.core.readNamespacedEvent({ name: "e1", namespace: ns });
    expect(core.message).toBe("snapshot started");
    expect(core.involvedObject.name).toBe("req");
    expect(core.reportingComponent).toBe("vsnap.dev/controller");
    const back = await events.readNamespacedEvent({ name: "e1", namespace: ns });
    expect(back.note).toBe("snapshot started");
    expect(back.regarding?.kind).toBe("ConfigMap");
  });
});

describe("errors are Status objects like the apiserver's", () => {
  it("404, 409 AlreadyExists, 409 Conflict, 422 Invalid, namespace missing", async () => {
    const ns = await freshNamespace(h);
    expect(await statusOf(h.core.readNamespacedConfigMap({ name: "nope", namespace: ns }))).toMatchObject({
      code: 404,
      reason: "NotFound",
      message: 'configmaps "nope" not found',
      details: { name: "nope", kind: "configmaps" },
    });
    expect(await statusOf(h.apps.readNamespacedStatefulSet({ name: "nope", namespace: ns }))).toMatchObject({
      code: 404,
      message: 'statefulsets.apps "nope" not found',
      details: { group: "apps" },
    });
    const cm = await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "x" } } });
    expect(
      await statusOf(h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "x" } } })),
    ).toMatchObject({
      code: 409,
      reason: "AlreadyExists",
      message: 'configmaps "x" already exists',
    });
    await h.core.patchNamespacedConfigMap({ name: "x", namespace: ns, body: { data: { b: "2" } } }, merge);
    expect(
      await statusOf(
        h.core.replaceNamespacedConfigMap({ name: "x", namespace: ns, body: { ...cm, data: { c: "3" } } }),
      ),
    ).toMatchObject({
      code: 409,
      reason: "Conflict",
      message:
        'Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again',
    });
    const invalid = await statusOf(
      h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "Bad_Name" } } }),
    );
    expect(invalid).toMatchObject({ code: 422, reason: "Invalid" });
    expect(invalid.message).toMatch(
      /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    expect(
      await statusOf(h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: {} } })),
    ).toMatchObject({
      code: 422,
      message: 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required',
    });
    expect(
      await statusOf(
        h.core.createNamespacedConfigMap({ namespace: `${ns}-missing`, body: { metadata: { name: "y" } } }),
      ),
    ).toMatchObject({
      code: 404,
      message: `namespaces "${ns}-missing" not found`,
    });
  });

  it("generateName, uid and creationTimestamp are set by the server", async () => {
    const ns = await freshNamespace(h);
    const a = await h.core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { generateName: "req-" }, stringData: { k: "v" } },
    });
    expect(a.metadata?.name).toMatch(/^req-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(a.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(a.data).toEqual({ k: Buffer.from("v").toString("base64") });
    expect(a.type).toBe("Opaque");
    expect((a as { stringData?: unknown }).stringData).toBeUndefined();
  });
});

describe("list", () => {
  it("filters with label selectors =, !=, in, notin, exists, !exists", async () => {
    const ns = await freshNamespace(h);
    const mk = (name: string, labels: Record<string, string>) =>
      h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels } } });
    await mk("a", { tier: "web", env: "prod" });
    await mk("b", { tier: "db", env: "dev" });
    await mk("c", { tier: "cache" });
    const names = async (labelSelector: string) =>
      (await h.core.listNamespacedConfigMap({ namespace: ns, labelSelector })).items.map(
        (i) => i.metadata?.name,
      );
    expect(await names("tier=web")).toEqual(["a"]);
    expect(await names("tier!=web")).toEqual(["b", "c"]);
    expect(await names("tier in (web, db)")).toEqual(["a", "b"]);
    expect(await names("tier notin (web,db)")).toEqual(["c"]);
    expect(await names("env")).toEqual(["a", "b"]);
    expect(await names("!env")).toEqual(["c"]);
    expect(await names("env,tier=db")).toEqual(["b"]);
    const fields = await h.core.listNamespacedConfigMap({ namespace: ns, fieldSelector: "metadata.name!=a" });
    expect(fields.items.map((i) => i.metadata?.name)).toEqual(["b", "c"]);
    expect(
      await statusOf(h.core.listNamespacedConfigMap({ namespace: ns, labelSelector: "bad key!" })),
    ).toMatchObject({ code: 400 });
  });

  it("pages with limit/continue at one revision, and 410 once the revision is compacted", async () => {
    const ns = await freshNamespace(h);
    for (let i = 0; i < 7; i++)
      await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `cm-${i}` } } });
    const first = await h.core.listNamespacedConfigMap({ namespace: ns, limit: 3 });
    expect(first.items.map((i) => i.metadata?.name)).toEqual(["cm-0", "cm-1", "cm-2"]);
    expect(first.metadata?._continue).toBeTruthy();
    // a change after the first page is not seen by later pages: one consistent list
    await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "cm-9" } } });
    const second = await h.core.listNamespacedConfigMap({
      namespace: ns,
      limit: 3,
      _continue: first.metadata?._continue,
    });
    expect(second.items.map((i) => i.metadata?.name)).toEqual(["cm-3", "cm-4", "cm-5"]);
    expect(second.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    const third = await h.core.listNamespacedConfigMap({
      namespace: ns,
      limit: 3,
      _continue: second.metadata?._continue,
    });
    expect(third.items.map((i) => i.metadata?.name)).toEqual(["cm-6"]);
    expect(third.metadata?._continue).toBeFalsy();
    const all = await h.core.listNamespacedConfigMap({ namespace: ns });
    expect(all.items).toHaveLength(8);
    await h.etcdctl("compact", String(Number(all.metadata?.resourceVersion)));
    const gone = await statusOf(
      h.core.listNamespacedConfigMap({ namespace: ns, limit: 3, _continue: first.metadata?._continue }),
    );
    expect(gone).toMatchObject({ code: 410, reason: "Expired" });
    expect(gone.message).toMatch(/^The provided continue parameter is too old/);
  });
});

describe("writes", () => {
  it("merge, strategic-merge (containers by name) and JSON patches", async () => {
    const ns = await freshNamespace(h);
    await h.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "d" },
        spec: {
          selector: { matchLabels: { app: "d" } },
          template: {
            metadata: { labels: { app: "d" } },
            spec: {
              containers: [
                { name: "a", image: "a:1" },
                { name: "b", image: "b:1", env: [{ name: "X", value: "1" }] },
              ],
            },
          },
        },
      },
    });
    const patched = await h.apps.patchNamespacedDeployment(
      {
        name: "d",
        namespace: ns,
        body: { spec: { template: { spec: { containers: [{ name: "b", image: "b:2" }] } } } },
      },
      strategic,
    );
    const containers = patched.spec?.template.spec?.containers ?? [];
    expect(containers.map((c) => `${c.name}=${c.image}`)).toEqual(["a=a:1", "b=b:2"]);
    expect(containers[1]?.env).toEqual([{ name: "X", value: "1" }]);
    expect(patched.metadata?.generation).toBe(2);
    const merged = await h.apps.patchNamespacedDeployment(
      {
        name: "d",
        namespace: ns,
        body: { spec: { template: { spec: { containers: [{ name: "c", image: "c:1" }] } } } },
      },
      merge,
    );
    expect(merged.spec?.template.spec?.containers.map((c) => c.name)).toEqual(["c"]);
    const json = await h.apps.patchNamespacedDeployment(
      {
        name: "d",
        namespace: ns,
        body: [
          { op: "replace", path: "/spec/replicas", value: 3 },
          { op: "add", path: "/metadata/labels", value: { x: "y" } },
        ],
      },
      jsonPatch,
    );
    expect(json.spec?.replicas).toBe(3);
    expect(json.metadata?.labels).toEqual({ x: "y" });
  });

  it("status subresource: the main endpoint ignores status, /status changes only status", async () => {
    const ns = await freshNamespace(h);
    const base = {
      metadata: { name: "s" },
      spec: {
        serviceName: "s",
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { labels: { a: "b" } }, spec: { containers: [] } },
      },
    };
    await h.apps.createNamespacedStatefulSet({ namespace: ns, body: base });
    const viaMain = await h.apps.patchNamespacedStatefulSet(
      { name: "s", namespace: ns, body: { status: { replicas: 5 } } },
      merge,
    );
    expect(viaMain.status?.replicas).toBeUndefined();
    const viaStatus = await h.apps.patchNamespacedStatefulSetStatus(
      {
        name: "s",
        namespace: ns,
        body: { status: { replicas: 5, readyReplicas: 5 }, spec: { replicas: 9 } },
      },
      merge,
    );
    expect(viaStatus.status?.readyReplicas).toBe(5);
    expect(viaStatus.spec?.replicas).toBe(1);
    expect(viaStatus.metadata?.generation).toBe(1);
  });

  it("finalizers: delete sets deletionTimestamp; removing the last finalizer deletes", async () => {
    const ns = await freshNamespace(h);
    await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "f", finalizers: ["vsnap.dev/test"] } },
    });
    await h.core.deleteNamespacedConfigMap({ name: "f", namespace: ns });
    const still = await h.core.readNamespacedConfigMap({ name: "f", namespace: ns });
    expect(still.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(still.metadata?.finalizers).toEqual(["vsnap.dev/test"]);
    const forbidden = await statusOf(
      h.core.patchNamespacedConfigMap(
        { name: "f", namespace: ns, body: { metadata: { finalizers: ["vsnap.dev/test", "other"] } } },
        merge,
      ),
    );
    expect(forbidden.code).toBe(422);
    await h.core.patchNamespacedConfigMap(
      { name: "f", namespace: ns, body: { metadata: { finalizers: null } } },
      merge,
    );
    expect((await statusOf(h.core.readNamespacedConfigMap({ name: "f", namespace: ns }))).code).toBe(404);
  });

  it("delete honours a resourceVersion precondition", async () => {
    const ns = await freshNamespace(h);
    await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "p" } } });
    const err = await statusOf(
      h.core.deleteNamespacedConfigMap({
        name: "p",
        namespace: ns,
        body: { preconditions: { resourceVersion: "1" } },
      }),
    );
    expect(err).toMatchObject({ code: 409, reason: "Conflict" });
    expect(err.message).toContain("Precondition failed: ResourceVersion in precondition: 1");
  });
});
