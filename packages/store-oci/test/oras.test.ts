import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { describe, expect, inject, it } from "vitest";
import { orasAvailable } from "../src/index.js";
import { errorOf, MiB, openStore, payload, readAll, tempDir, testEnv, uniqueRepo } from "./helpers.js";

const registry = inject("registryPlain");
// oras is not packaged for Debian or npm; these run wherever an oras binary is on PATH
const hasOras = await orasAvailable(process.env);

describe.skipIf(!hasOras)("the oras CLI (VSNAP_OCI_CLIENT=oras)", () => {
  it("pushes through oras, and each client reads what the other wrote", async () => {
    const repo = uniqueRepo("oras");
    const viaOras = await openStore(`oci://${registry.host}/${repo}`, {
      env: testEnv({ VSNAP_OCI_CLIENT: "oras" }),
    });
    const viaHttp = await openStore(`oci://${registry.host}/${repo}`);
    try {
      const a = payload(5 * MiB + 3);
      const b = payload(9 * MiB);
      await viaOras.put("by-oras", a.chunks(), { annotations: { "dev.vsnap.archive.keys": "7" } });
      await viaHttp.put("by-http", b.chunks());
      expect((await readAll((await viaHttp.get("by-oras")).body)).equals(a.bytes)).toBe(true);
      expect((await readAll((await viaOras.get("by-http")).body)).equals(b.bytes)).toBe(true);
      const listed = await viaHttp.stat("by-oras");
      expect(listed?.annotations?.["dev.vsnap.archive.keys"]).toBe("7");
    } finally {
      await Promise.all([viaOras.close(), viaHttp.close()]);
    }
  });

  it("oras pull of a vsnap snapshot yields the archive as the file etcd", async () => {
    const repo = uniqueRepo("oras-pull");
    const store = await openStore(`oci://${registry.host}/${repo}`);
    const dir = tempDir("oras-pull");
    try {
      const data = payload(3 * MiB);
      await store.put("v1", data.chunks());
      await execa("oras", ["pull", "--plain-http", "-o", dir, `${registry.host}/${repo}:v1`]);
      const pulled = readFileSync(path.join(dir, "etcd"));
      expect(createHash("sha256").update(pulled).digest("hex")).toBe(data.sha256);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("VSNAP_OCI_CLIENT", () => {
  it("names a missing oras clearly, and rejects unknown clients", async () => {
    const env = testEnv({ VSNAP_OCI_CLIENT: "oras", PATH: "/nonexistent" });
    const store = await openStore(`oci://${registry.host}/${uniqueRepo("no-oras")}`, { env });
    try {
      const error = await errorOf(store.get("v1"));
      expect(error.code).toBe("FAILED_PRECONDITION");
      expect(error.message).toContain("no oras executable is on PATH");
    } finally {
      await store.close();
    }
    const unknown = await errorOf(
      openStore(`oci://${registry.host}/x`, { env: testEnv({ VSNAP_OCI_CLIENT: "curl" }) }),
    );
    expect(unknown.code).toBe("INVALID_ARGUMENT");
  });
});
