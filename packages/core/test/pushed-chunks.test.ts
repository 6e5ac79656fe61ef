import { randomFillSync } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { pushedChunks } from "../src/archive/pushed-chunks.js";

const KiB = 1024;
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

/** A readable the test pushes into by hand. */
function manual(): Readable {
  return new Readable({ read() {} });
}

describe("pushedChunks", () => {
  it("hands out each pushed chunk itself, in order, then ends", async () => {
    const stream = manual();
    const chunks = [Buffer.from("one"), Buffer.from("two"), Buffer.from("three")];
    const next = pushedChunks(stream, 1 * KiB);
    for (const chunk of chunks) stream.push(chunk);
    stream.push(null);
    const got: Buffer[] = [];
    for (let r = await next.next(); !r.done; r = await next.next()) got.push(r.value);
    expect(got.length).toBe(3);
    for (let i = 0; i < 3; i++) expect(got[i]).toBe(chunks[i]);
  });

  it("pauses the stream while `ahead` bytes wait, and resumes it as they are taken", async () => {
    const stream = manual();
    const next = pushedChunks(stream, 250);
    stream.push(Buffer.alloc(100));
    stream.push(Buffer.alloc(100));
    await settle();
    expect(stream.isPaused()).toBe(false);
    stream.push(Buffer.alloc(100));
    await settle();
    expect(stream.isPaused(), "300 bytes wait").toBe(true);
    await next.next();
    expect(stream.isPaused(), "200 bytes wait").toBe(false);
  });

  it("delivers what arrived before an error, then the error; a close without an end is an error", async () => {
    const failing = manual();
    const next = pushedChunks(failing, KiB);
    failing.push(Buffer.from("data"));
    failing.destroy(new Error("inflate failed"));
    expect((await next.next()).value?.toString()).toBe("data");
    await expect(next.next()).rejects.toThrow("inflate failed");

    const closed = manual();
    const afterClose = pushedChunks(closed, KiB);
    closed.destroy();
    await expect(afterClose.next()).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("reads gunzip's output ahead of a slow consumer, as gunzip's own buffers, never joined copies", async () => {
    const data = randomFillSync(Buffer.alloc(4 * 1024 * KiB));
    const gunzip = createGunzip({ chunkSize: 128 * KiB });
    let inflated = 0;
    gunzip.on("data", (chunk: Buffer) => {
      inflated += chunk.length;
    });
    const next = pushedChunks(gunzip, 1024 * KiB);
    gunzip.end(gzipSync(data, { level: 1 }));
    // the consumer has not asked yet: gunzip goes on past its first output buffer until `ahead` waits
    const deadline = Date.now() + 10_000;
    while (!gunzip.isPaused() && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(gunzip.isPaused(), "paused once `ahead` bytes waited").toBe(true);
    await settle();
    expect(inflated).toBeGreaterThanOrEqual(1024 * KiB);
    expect(inflated, "and no further while paused").toBeLessThan(1024 * KiB + 128 * KiB);
    const got: Buffer[] = [];
    for (let r = await next.next(); !r.done; r = await next.next()) {
      // a slice of one of gunzip's 128 KiB output buffers; a joined copy would be larger
      expect(r.value.buffer.byteLength).toBe(128 * KiB);
      got.push(r.value);
      await settle();
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });
});
