import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshNamespace, type Harness, harness, until } from "./helpers.js";

let h: Harness;
beforeAll(async () => {
  h = await harness({ bookmarkIntervalMs: 200 });
});
afterAll(() => h.close());

interface Seen {
  type: string;
  name?: string;
  rv?: string;
  code?: number;
}

async function watch(
  path: string,
  query: Record<string, string | number | boolean>,
  seen: Seen[],
): Promise<{ abort: AbortController; done: Promise<unknown> }> {
  let finish: (e: unknown) => void = () => {};
  const done = new Promise((r) => {
    finish = r;
  });
  const abort = await new k8s.Watch(h.kc).watch(
    path,
    query,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) =>
      seen.push({ type, name: obj.metadata?.name, rv: obj.metadata?.resourceVersion, code: obj.code }),
    (err) => finish(err),
  );
  return { abort, done };
}

describe("watch", () => {
  it("drives a client-node informer: list, then add/update/delete", async () => {
    const ns = await freshNamespace(h);
    await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "pre", labels: { w: "1" } } },
    });
    const informer = k8s.makeInformer(
      h.kc,
      `/api/v1/namespaces/${ns}/configmaps`,
      () => h.core.listNamespacedConfigMap({ namespace: ns, labelSelector: "w=1" }),
      "w=1",
    );
    const events: string[] = [];
    informer.on("add", (o) => events.push(`add ${o.metadata?.name}`));
    informer.on("update", (o) => events.push(`update ${o.metadata?.name} ${JSON.stringify(o.data ?? {})}`));
    informer.on("delete", (o) => events.push(`delete ${o.metadata?.name}`));
    await informer.start();
    await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "new", labels: { w: "1" } } },
    });
    await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "other" } } });
    await h.core.patchNamespacedConfigMap(
      { name: "new", namespace: ns, body: { data: { k: "v" } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await h.core.deleteNamespacedConfigMap({ name: "new", namespace: ns });
    await until("delete event", () => events.includes("delete new"));
    await informer.stop();
    expect(events).toEqual(["add pre", "add new", 'update new {"k":"v"}', "delete new"]);
    expect(informer.list().map((o) => o.metadata?.name)).toEqual(["pre"]);
  });

  it("replays from a resourceVersion and turns selector transitions into ADDED/DELETED", async () => {
    const ns = await freshNamespace(h);
    const start = await h.core.listNamespacedConfigMap({ namespace: ns });
    await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "m", labels: { on: "no" } } },
    });
    const seen: Seen[] = [];
    const w = await watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: start.metadata?.resourceVersion ?? "", labelSelector: "on=yes" },
      seen,
    );
    const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
    await h.core.patchNamespacedConfigMap(
      { name: "m", namespace: ns, body: { metadata: { labels: { on: "yes" } } } },
      merge,
    );
    await h.core.patchNamespacedConfigMap({ name: "m", namespace: ns, body: { data: { a: "b" } } }, merge);
    await h.core.patchNamespacedConfigMap(
      { name: "m", namespace: ns, body: { metadata: { labels: { on: "no" } } } },
      merge,
    );
    await until("3 events", () => seen.length >= 3);
    w.abort.abort();
    expect(seen.map((s) => `${s.type} ${s.name}`)).toEqual(["ADDED m", "MODIFIED m", "DELETED m"]);
    expect(Number(seen[1]?.rv)).toBeGreaterThan(Number(seen[0]?.rv));
  });

  it("sends ERROR 410 Expired for a compacted resourceVersion", async () => {
    const ns = await freshNamespace(h);
    const first = await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "old" } },
    });
    const later = await h.core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "later" } },
    });
    await h.etcdctl("compact", later.metadata?.resourceVersion ?? "");
    const seen: Seen[] = [];
    const w = await watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: String(Number(first.metadata?.resourceVersion) - 1) },
      seen,
    );
    await w.done;
    expect(seen).toEqual([{ type: "ERROR", code: 410, name: undefined, rv: undefined }]);
  });

  it("sends bookmarks when allowed and ends at timeoutSeconds", async () => {
    const ns = await freshNamespace(h);
    const seen: Seen[] = [];
    const started = Date.now();
    const w = await watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { allowWatchBookmarks: true, timeoutSeconds: 1 },
      seen,
    );
    await w.done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(seen.filter((s) => s.type === "BOOKMARK").length).toBeGreaterThanOrEqual(2);
    expect(seen.every((s) => s.type === "BOOKMARK" && Number(s.rv) > 0)).toBe(true);
  });

  it("flushes headers at once, so a watch on a quiet collection starts", async () => {
    const ns = await freshNamespace(h);
    const seen: Seen[] = [];
    const started = Date.now();
    const w = await watch(`/api/v1/namespaces/${ns}/secrets`, { resourceVersion: "1" }, seen);
    expect(Date.now() - started).toBeLessThan(2000);
    w.abort.abort();
  });
});
