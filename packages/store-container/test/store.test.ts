import { execFileSync } from "node:child_process";
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { isTransient, VsnapError } from "@vsnap/core";
import { randomStream, sha256Of } from "@vsnap/store-testkit";
import { describe, expect, it } from "vitest";
import { containerUrl, PART_SUFFIX } from "../src/index.js";
import { bytesOf, canRunAsNobody, NOBODY, openStore, startChild, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;

async function codeOf(
  operation: Promise<unknown>,
): Promise<{ code: unknown; message: string; hint?: unknown }> {
  try {
    await operation;
  } catch (error) {
    expect(VsnapError.is(error), `a VsnapError, got ${String(error)}`).toBe(true);
    const e = error as VsnapError;
    return { code: e.code, message: e.message, hint: e.hint };
  }
  throw new Error("expected the operation to reject");
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return chunks;
}

const partsIn = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith(PART_SUFFIX));

describe("put", () => {
  it("creates missing directories and writes the file owner-readable only", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "a/b/c/x.tar.gz"));
    await store.put("x.tar.gz", bytesOf("hello"));
    const file = path.join(dir, "a/b/c/x.tar.gz");
    expect(await readFile(file, "utf8")).toBe("hello");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await partsIn(path.dirname(file))).toEqual([]);
  });

  it("streams into a .part file beside the target, which list never shows", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reachedGate!: () => void;
    const atGate = new Promise<void>((resolve) => {
      reachedGate = resolve;
    });
    async function* body() {
      yield Buffer.alloc(MiB, 1);
      reachedGate();
      await gate;
      yield Buffer.alloc(MiB, 2);
    }
    const put = store.put("x.tar.gz", body());
    await atGate;
    const parts = await partsIn(dir);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatch(/^x\.tar\.gz\.\d+-[0-9a-f]+\.part$/);
    expect(await readdir(dir)).toEqual(parts);
    const listed = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed).toEqual([]);
    release();
    expect((await put).size).toBe(2 * MiB);
    expect(await readdir(dir)).toEqual(["x.tar.gz"]);
  });

  it("removes the .part file when the body throws or the put is aborted", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    async function* failing() {
      yield Buffer.alloc(MiB);
      throw new Error("producer broke");
    }
    await expect(store.put("x.tar.gz", failing())).rejects.toThrow("producer broke");
    const controller = new AbortController();
    async function* aborting() {
      yield Buffer.alloc(MiB);
      controller.abort();
      yield Buffer.alloc(MiB);
    }
    expect((await codeOf(store.put("x.tar.gz", aborting(), { signal: controller.signal }))).code).toBe(
      "ABORTED",
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it("accepts only .tar.gz names, so everything it writes is listable and deletable", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    const error = await codeOf(store.put("x.tgz", bytesOf("x")));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain(".tar.gz");
    expect(await readdir(dir)).toEqual([]);
  });

  it("reports progress per chunk, ending at the total", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    const seen: number[] = [];
    await store.put("x.tar.gz", randomStream(MiB + 3, 1, { chunkSize: 100_000 }), {
      onProgress: (event) => seen.push(event.bytes),
    });
    expect(seen).toEqual(Array.from({ length: 11 }, (_, i) => Math.min((i + 1) * 100_000, MiB + 3)));
    const empty: number[] = [];
    await store.put("e.tar.gz", bytesOf(), { onProgress: (event) => empty.push(event.bytes) });
    expect(empty).toEqual([0]);
  });
});

describe("keys never reach outside the root", () => {
  it.each(["../escape.tar.gz", "sub/x.tar.gz", "..", ".", "", `x.tar.gz.1-ab${PART_SUFFIX}`])(
    "rejects %j for every operation",
    async (key) => {
      const dir = await tempDir();
      const store = await openStore(path.join(dir, "root", "x.tar.gz"));
      for (const operation of [
        () => store.put(key, bytesOf("x")),
        () => store.get(key),
        () => store.stat(key),
        () => store.delete(key),
      ]) {
        expect((await codeOf(operation())).code).toBe("INVALID_ARGUMENT");
      }
      expect(await readdir(dir)).toEqual([]);
    },
  );
});

describe("list", () => {
  it("shows only regular *.tar.gz files (symlinks followed), sorted, with size and mtime", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("b.tar.gz", bytesOf("bb"));
    await store.put("a.tar.gz", bytesOf("a"));
    await writeFile(path.join(dir, `c.tar.gz.123-abcdef${PART_SUFFIX}`), "stale part of a crashed writer");
    await writeFile(path.join(dir, "notes.txt"), "not a snapshot");
    await mkdir(path.join(dir, "dir.tar.gz"));
    await symlink(path.join(dir, "a.tar.gz"), path.join(dir, "latest.tar.gz"));
    await symlink(path.join(dir, "gone.tar.gz"), path.join(dir, "dangling.tar.gz"));
    const listed = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed.map((info) => [info.key, info.size])).toEqual([
      ["a.tar.gz", 1],
      ["b.tar.gz", 2],
      ["latest.tar.gz", 1],
    ]);
    expect(listed[0]?.url).toBe(containerUrl(path.join(dir, "a.tar.gz")));
    expect(listed[0]?.modified.getTime()).toBe((await stat(path.join(dir, "a.tar.gz"))).mtime.getTime());
  });

  it("lists nothing for a directory that does not exist yet", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "not", "yet", "x.tar.gz"));
    const listed = [];
    for await (const info of store.list()) listed.push(info);
    expect(listed).toEqual([]);
  });

  it("fails clearly when the root is a file", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "file"), "x");
    const store = await openStore(path.join(dir, "file", "x.tar.gz"));
    const listing = (async () => {
      for await (const _ of store.list()) {
        // nothing expected
      }
    })();
    expect((await codeOf(listing)).code).toBe("FAILED_PRECONDITION");
    expect((await codeOf(store.put("x.tar.gz", bytesOf("x")))).code).toBe("FAILED_PRECONDITION");
    expect(await store.stat("x.tar.gz")).toBeUndefined();
  });
});

describe("get and stat", () => {
  it("keeps reading the snapshot it opened while a put replaces the file", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("x.tar.gz", randomStream(4 * MiB, "old"));
    const reader = await store.get("x.tar.gz");
    const iterator = reader.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    await store.put("x.tar.gz", randomStream(3 * MiB, "new"));
    async function* rest() {
      if (!first.done) yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    }
    expect(await sha256Of(rest())).toEqual(await sha256Of(randomStream(4 * MiB, "old")));
    expect(await sha256Of((await store.get("x.tar.gz")).body)).toEqual(
      await sha256Of(randomStream(3 * MiB, "new")),
    );
  });

  it("treats a directory as no snapshot", async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, "d.tar.gz"));
    const store = await openStore(path.join(dir, "x.tar.gz"));
    expect(await store.stat("d.tar.gz")).toBeUndefined();
    expect((await codeOf(store.get("d.tar.gz"))).code).toBe("FAILED_PRECONDITION");
  });

  it("hands out each read in a buffer of its own, and marks the body so (markTransient)", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("x.tar.gz", randomStream(2 * MiB + 5, "fresh"));
    const reader = await store.get("x.tar.gz");
    expect(isTransient(reader.body)).toBe(true);
    const buffers = new Set<ArrayBufferLike>();
    let chunks = 0;
    for await (const chunk of reader.body) {
      buffers.add(chunk.buffer);
      chunks++;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(buffers.size).toBe(chunks);
  });

  it("reads a body only once", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("x.tar.gz", bytesOf("once"));
    const reader = await store.get("x.tar.gz");
    expect(Buffer.concat(await collect(reader.body)).toString()).toBe("once");
    expect(() => reader.body[Symbol.asyncIterator]()).toThrow(/only once/);
  });
});

describe("delete", () => {
  it("refuses anything but a regular .tar.gz file, and leaves it alone", async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, "notes.txt"), "keep me");
    await mkdir(path.join(dir, "dir.tar.gz"));
    const store = await openStore(path.join(dir, "x.tar.gz"));
    const notSnapshot = await codeOf(store.delete("notes.txt"));
    expect(notSnapshot.code).toBe("INVALID_ARGUMENT");
    expect(notSnapshot.message).toContain("not a snapshot file");
    expect((await codeOf(store.delete("dir.tar.gz"))).code).toBe("FAILED_PRECONDITION");
    expect((await readdir(dir)).sort()).toEqual(["dir.tar.gz", "notes.txt"]);
  });

  it("removes a symlinked snapshot's link, not its target", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("a.tar.gz", bytesOf("a"));
    await symlink(path.join(dir, "a.tar.gz"), path.join(dir, "latest.tar.gz"));
    await store.delete("latest.tar.gz");
    expect(await readdir(dir)).toEqual(["a.tar.gz"]);
  });
});

describe("close", () => {
  it("aborts running puts (removing their part files) and refuses later calls", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    async function* stalls() {
      yield Buffer.alloc(1024);
      started();
      await new Promise(() => {});
    }
    const put = store.put("x.tar.gz", stalls());
    await running;
    await store.close();
    expect((await codeOf(put)).code).toBe("ABORTED");
    expect(await readdir(dir)).toEqual([]);
    const refused = await codeOf(store.stat("x.tar.gz"));
    expect(refused).toMatchObject({ code: "FAILED_PRECONDITION" });
    expect(refused.message).toContain("closed");
    await store.close(); // idempotent
  });

  it("closes bodies nobody finished reading", async () => {
    const dir = await tempDir();
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("x.tar.gz", randomStream(2 * MiB, 1));
    const reader = await store.get("x.tar.gz");
    await store.close();
    expect((await codeOf(collect(reader.body))).code).toBe("FAILED_PRECONDITION");
  });
});

// Root bypasses file modes, so permission errors come from a child process run as `nobody`.
describe.skipIf(!canRunAsNobody())("file system errors, as another user", () => {
  it("maps EACCES to PERMISSION_DENIED for put and get", async () => {
    const dir = await tempDir();
    await chmod(dir, 0o755); // traversable, not writable, by nobody
    const store = await openStore(path.join(dir, "x.tar.gz"));
    await store.put("private.tar.gz", bytesOf("root only")); // mode 0600

    const put = startChild("put", containerUrl(path.join(dir, "new.tar.gz")), NOBODY);
    const putError = await put.waitFor("error");
    expect(putError, put.stderr()).toMatchObject({
      event: "error",
      vsnapError: true,
      code: "PERMISSION_DENIED",
    });
    expect(putError.message).toContain("permission denied (EACCES)");
    expect(putError.hint).toBeTruthy();

    const get = startChild("get", containerUrl(path.join(dir, "private.tar.gz")), NOBODY);
    expect(await get.waitFor("error"), get.stderr()).toMatchObject({ code: "PERMISSION_DENIED" });
    await Promise.all([put.exited, get.exited]);
    expect(await readdir(dir)).toEqual(["private.tar.gz"]);
  });
});

/** A 1 MiB tmpfs, when this process may mount one (root in a privileged container or VM). */
async function smallTmpfs(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const dir = await tempDir();
  const mountPoint = path.join(dir, "mnt");
  await mkdir(mountPoint);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  return mountPoint;
}

describe("file system errors, on a tiny volume", () => {
  it("maps ENOSPC to UNAVAILABLE with a hint, keeping the previous snapshot and no part file", async ({
    skip,
  }) => {
    const mountPoint = await smallTmpfs();
    if (!mountPoint) return skip("cannot mount a tmpfs here");
    try {
      const store = await openStore(path.join(mountPoint, "x.tar.gz"));
      await store.put("x.tar.gz", randomStream(300 * 1024, "old"));
      const error = await codeOf(store.put("x.tar.gz", randomStream(2 * MiB, "new")));
      expect(error.code).toBe("UNAVAILABLE");
      expect(error.message).toContain("no space left on device (ENOSPC)");
      expect(error.hint).toContain("previous snapshot");
      expect(await readdir(mountPoint)).toEqual(["x.tar.gz"]);
      expect(await sha256Of((await store.get("x.tar.gz")).body)).toEqual(
        await sha256Of(randomStream(300 * 1024, "old")),
      );

      execFileSync("mount", ["-o", "remount,ro", mountPoint]);
      const readOnly = await codeOf(store.put("y.tar.gz", bytesOf("y")));
      expect(readOnly.code).toBe("PERMISSION_DENIED");
      expect(readOnly.message).toContain("EROFS");
      await store.close();
    } finally {
      execFileSync("umount", [mountPoint]);
    }
  });
});
