import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type RegistryServer, startRegistry } from "@vsnap/test-servers/registry";
import type { TestProject } from "vitest/node";

export interface RegistryInfo {
  readonly url: string;
  readonly host: string;
  readonly dataDir: string;
  readonly caPem?: string;
  readonly certDir?: string;
  readonly username?: string;
  readonly password?: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    /** Plain HTTP, anonymous, deletes enabled. */
    registryPlain: RegistryInfo;
    /** HTTPS with a CA made for the run, htpasswd Basic auth, deletes enabled. */
    registryTls: RegistryInfo;
    /** Plain HTTP, anonymous, deletes disabled. */
    registryNoDelete: RegistryInfo;
    /** A temp dir for the run's files (docker configs, helpers, copies); removed at the end. */
    scratchDir: string;
  }
}

function info(server: RegistryServer): RegistryInfo {
  return {
    url: server.url,
    host: server.host,
    dataDir: server.dataDir,
    ...(server.caPem ? { caPem: server.caPem } : {}),
    ...(server.certDir ? { certDir: server.certDir } : {}),
    ...(server.username ? { username: server.username } : {}),
    ...(server.password ? { password: server.password } : {}),
  };
}

/** Real docker-registry processes shared by every test file; token-auth registries are per file. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers = await Promise.all([
    startRegistry(),
    startRegistry({ tls: true, auth: "htpasswd" }),
    startRegistry({ deletes: false }),
  ]);
  const [plain, tls, noDelete] = servers;
  const scratch = mkdtempSync(path.join(os.tmpdir(), "vsnap-oci-test-"));
  project.provide("scratchDir", scratch);
  project.provide("registryPlain", info(plain!));
  project.provide("registryTls", info(tls!));
  project.provide("registryNoDelete", info(noDelete!));
  return async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(scratch, { recursive: true, force: true });
  };
}
