import { describe, expect, it } from "vitest";
import { releaseView } from "../src/backing.js";

describe("releaseView", () => {
  it("frees a buffer the view covers whole, or all but a prefix within the slack", () => {
    const whole = new Uint8Array(100_000);
    releaseView(whole);
    expect(whole.buffer.detached).toBe(true);
    expect(whole.byteLength).toBe(0);

    const framed = Buffer.alloc(1005).subarray(5);
    releaseView(framed, 5);
    expect(framed.buffer.detached).toBe(true);
  });

  it("leaves alone Node's Buffer pool, parts of larger buffers, and shared memory", () => {
    const pooled = Buffer.from("pooled bytes");
    const neighbour = Buffer.from("a neighbour in the same pool");
    expect(pooled.buffer).toBe(neighbour.buffer);
    releaseView(pooled);
    releaseView(pooled, 64);
    expect(neighbour.toString()).toBe("a neighbour in the same pool");

    const part = new Uint8Array(10_000).subarray(0, 5_000);
    releaseView(part);
    expect(part.buffer.detached).toBe(false);
    const prefixTooLong = new Uint8Array(10_000).subarray(6);
    releaseView(prefixTooLong, 5);
    expect(prefixTooLong.buffer.detached).toBe(false);

    const shared = new Uint8Array(new SharedArrayBuffer(4096));
    releaseView(shared);
    shared[0] = 1;
    expect(shared[0]).toBe(1);
  });
});
