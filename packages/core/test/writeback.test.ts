import { randomFillSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { appendFile, type FileHandle, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EarlyWriteback, type SyncableFile } from "../src/writeback.js";

const MiB = 1024 * 1024;

/**
 * A real file handle whose syncs are recorded in order. Each background flush waits for the test
 * to `release` it, so what runs when is decided by the test, not by the disk's speed.
 */
function recorded(handle: FileHandle, failDatasync?: Error) {
  const events: string[] = [];
  const gates: (() => void)[] = [];
  const file: SyncableFile = {
    async datasync() {
      events.push("datasync");
      await new Promise<void>((resolve) => gates.push(resolve));
      try {
        if (failDatasync) throw failDatasync;
        await handle.datasync();
      } finally {
        events.push("datasync done");
      }
    },
    async sync() {
      events.push("sync");
      await handle.sync();
    },
  };
  const done = () => events.filter((e) => e === "datasync done").length;
  /** Lets the running flush finish, and waits until it has (the disk takes what it takes). */
  const release = async () => {
    const before = done();
    gates.shift()?.();
    while (done() === before) await new Promise((resolve) => setTimeout(resolve, 5));
    // and until EarlyWriteback has seen it end
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { file, events, release };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("EarlyWriteback", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "vsnap-writeback-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("flushes in the background as the file grows, one flush at a time, and syncs after the last", async () => {
    const file = path.join(dir, "data");
    const handle = await open(file, "wx");
    const { file: syncable, events, release } = recorded(handle);
    const writeback = new EarlyWriteback(syncable, 8 * MiB);
    const chunk = randomFillSync(Buffer.alloc(MiB));
    let at = 0;
    const write = async (mebibytes: number) => {
      for (let i = 0; i < mebibytes; i++, at += MiB) {
        await handle.write(chunk, 0, chunk.length, at);
        writeback.written(chunk.length);
      }
    };
    await write(7);
    expect(events, "no flush before 8 MiB").toEqual([]);
    await write(1);
    expect(events, "a flush at 8 MiB").toEqual(["datasync"]);
    await write(16);
    expect(events, "no second flush while one runs").toEqual(["datasync"]);
    await release();
    await write(1);
    // what was written while the first ran is due at once
    expect(events).toEqual(["datasync", "datasync done", "datasync"]);
    const synced = writeback.sync();
    await tick();
    expect(events.at(-1), "the final sync waits for the running flush").toBe("datasync");
    await release();
    await synced;
    expect(events).toEqual(["datasync", "datasync done", "datasync", "datasync done", "sync"]);
    await writeback.close();
    await handle.close();
    expect(readFileSync(file).length).toBe(25 * MiB);
  });

  it("starts no flush before `every` bytes were written", async () => {
    const handle = await open(path.join(dir, "small"), "wx");
    const { file, events } = recorded(handle);
    const writeback = new EarlyWriteback(file, 8 * MiB);
    writeback.written(8 * MiB - 1);
    await writeback.sync();
    await handle.close();
    expect(events).toEqual(["sync"]);
  });

  it("reports a failed background flush from sync, and starts no more", async () => {
    const handle = await open(path.join(dir, "failing"), "wx");
    const failure = Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" });
    const { file, events, release } = recorded(handle, failure);
    const writeback = new EarlyWriteback(file, MiB);
    writeback.written(MiB);
    await release();
    writeback.written(4 * MiB);
    await expect(writeback.sync()).rejects.toBe(failure);
    await writeback.close();
    await handle.close();
    expect(events).toEqual(["datasync", "datasync done"]);
  });

  it("forPath syncs a file that others write, through a handle of its own that close closes", async () => {
    const file = path.join(dir, "shared");
    await appendFile(file, "");
    const writeback = await EarlyWriteback.forPath(file, MiB);
    const chunk = randomFillSync(Buffer.alloc(MiB));
    for (let i = 0; i < 4; i++) {
      await appendFile(file, chunk);
      writeback.written(chunk.length);
    }
    await writeback.sync();
    await writeback.close();
    expect(readFileSync(file).length).toBe(4 * MiB);
    // closed: syncing through it again fails
    await expect(writeback.sync()).rejects.toMatchObject({ code: "EBADF" });
  });
});
