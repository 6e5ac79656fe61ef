import { execa } from "execa";
import { describe, expect, inject, it } from "vitest";
import { collect, errorOf, openStore, payload, uniqueRepo } from "./helpers.js";

const plain = inject("registryPlain");
const noDelete = inject("registryNoDelete");

describe("delete", () => {
  it("removes the tag's manifest, by tag or by digest, and is idempotent", async () => {
    const repo = uniqueRepo("delete");
    const store = await openStore(`oci://${plain.host}/${repo}`);
    try {
      await store.put("a", payload(1000).chunks());
      const b = await store.put("b", payload(2000).chunks());
      await store.delete("a");
      await store.delete("a");
      expect(await store.stat("a")).toBeUndefined();
      await store.delete(`@${b.etag}`);
      expect(await store.stat("b")).toBeUndefined();
      expect(await collect(store.list())).toEqual([]);
      // the registry agrees: no tags left
      const tags = await execa("skopeo", [
        "list-tags",
        "--tls-verify=false",
        `docker://${plain.host}/${repo}`,
      ]);
      expect(JSON.parse(tags.stdout).Tags ?? []).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("says UNSUPPORTED, with what to do, when the registry refuses deletes", async () => {
    const store = await openStore(`oci://${noDelete.host}/${uniqueRepo("nodelete")}`);
    try {
      await store.put("keep", payload(500).chunks());
      const error = await errorOf(store.delete("keep"));
      expect(error.code).toBe("UNSUPPORTED");
      expect(error.message).toContain("does not allow deleting");
      expect(error.hint).toContain("storage.delete.enabled");
      expect((await store.stat("keep"))?.size).toBe(500);
    } finally {
      await store.close();
    }
  });
});
