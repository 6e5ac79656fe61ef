import { describe, expect, it } from "vitest";
import { verifyArchive } from "../src/archive/index.js";
import { releaseView, type SnapshotSource } from "../src/backing.js";
import { takeSnapshot } from "../src/snapshot.js";
import type { ObjectInfo, Store } from "../src/store.js";
import { isTransient } from "../src/transient.js";
import { kv, kvReadPoint, METADATA, objectValue, TOOL_VERSION } from "./archive-helpers.js";

describe("takeSnapshot's put body", () => {
  it("is marked transient, and the archive stays whole when each chunk is freed once copied", async () => {
    const keys = Array.from({ length: 2000 }, (_, i) => kv(`/registry/k/${i}`, objectValue(i, 1500)));
    const source: SnapshotSource = {
      kind: "sqlite",
      description: "test",
      open: async () => kvReadPoint(keys),
    };
    let marked: boolean | undefined;
    let chunks = 0;
    let freed = 0;
    const copies: Buffer[] = [];
    const unused = () => Promise.reject(new Error("not used by takeSnapshot"));
    // just enough of a store to watch what takeSnapshot hands to put
    const store = {
      location: "test://",
      async put(key: string, body: AsyncIterable<Uint8Array>): Promise<ObjectInfo> {
        marked = isTransient(body);
        for await (const chunk of body) {
          copies.push(Buffer.from(chunk));
          chunks++;
          // what a store may do with a marked body: the writer must never need the chunk again
          releaseView(chunk);
          if (chunk.byteLength === 0) freed++;
        }
        return { key, url: `test://${key}`, size: Buffer.concat(copies).length, modified: new Date() };
      },
      get: unused,
      stat: unused,
      delete: unused,
      close: async () => {},
    } as unknown as Store;
    const { manifest } = await takeSnapshot({
      source,
      store,
      key: "x.tar.gz",
      toolVersion: TOOL_VERSION,
      metadata: METADATA,
    });
    expect(marked).toBe(true);
    expect(chunks).toBeGreaterThan(1);
    expect(freed, "gzip members are buffers of their own").toBeGreaterThan(0);
    const summary = await verifyArchive([Buffer.concat(copies)]);
    expect(summary.keys).toBe(2000);
    expect(summary.manifest?.sha256).toBe(manifest.sha256);
  });
});
