import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { randomStream, sha256Of } from "@vsnap/store-testkit";
import { describe, expect, it } from "vitest";
import { containerUrl, PART_SUFFIX } from "../src/index.js";
import { openStore, startChild, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;

async function listKeys(file: string): Promise<Array<[string, number]>> {
  const store = await openStore(file);
  const out: Array<[string, number]> = [];
  for await (const info of store.list()) out.push([info.key, info.size]);
  await store.close();
  return out;
}

/** Starts a child that puts an endless body to `file`, waits until 8 MiB went by, and SIGKILLs it. */
async function killMidPut(file: string) {
  const writer = startChild("put-forever", containerUrl(file));
  const ready = await writer.waitFor("ready");
  expect(ready.event, writer.stderr()).toBe("ready");
  writer.child.kill("SIGKILL");
  expect(await writer.exited).toEqual({ code: null, signal: "SIGKILL" });
}

async function partFiles(dir: string) {
  const names = (await readdir(dir)).filter((name) => name.endsWith(PART_SUFFIX));
  return Promise.all(names.map(async (name) => ({ name, size: (await stat(path.join(dir, name))).size })));
}

describe("a writer killed with SIGKILL mid-put", () => {
  it("leaves the previous snapshot intact and no listable partial", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "snap.tar.gz");
    const store = await openStore(file);
    await store.put("snap.tar.gz", randomStream(4 * MiB, "previous"));
    const before = await sha256Of((await store.get("snap.tar.gz")).body);

    await killMidPut(file);

    // the kill landed mid-write: the writer's part file is there, several MiB long
    const parts = await partFiles(dir);
    expect(parts).toHaveLength(1);
    expect(parts[0]?.size).toBeGreaterThanOrEqual(4 * MiB);
    expect(await sha256Of((await store.get("snap.tar.gz")).body)).toEqual(before);
    expect(await listKeys(file)).toEqual([["snap.tar.gz", 4 * MiB]]);

    // the stale part stays invisible and does not get in the way of the next put
    await store.put("snap.tar.gz", randomStream(MiB, "next"));
    expect(await listKeys(file)).toEqual([["snap.tar.gz", MiB]]);
    expect(await sha256Of((await store.get("snap.tar.gz")).body)).toEqual(
      await sha256Of(randomStream(MiB, "next")),
    );
    await store.close();
  });

  it("leaves nothing readable when there was no previous snapshot", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "first.tar.gz");
    await killMidPut(file);
    expect(await partFiles(dir)).toHaveLength(1);
    const store = await openStore(file);
    expect(await store.stat("first.tar.gz")).toBeUndefined();
    expect(await listKeys(file)).toEqual([]);
    await store.close();
  });
});
