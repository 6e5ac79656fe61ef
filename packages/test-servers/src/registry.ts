import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { startTokenServer, type TokenServer, type TokenServerOptions } from "./oci-token-server.js";
import { freePort, hasCommand, waitFor } from "./ports.js";
import { createTestPki, type TestPki } from "./tls.js";

export interface StartRegistryOptions {
  /** `htpasswd`: Basic auth (bcrypt htpasswd); `token`: distribution token auth with a token server. */
  readonly auth?: "none" | "htpasswd" | "token";
  /** Serve HTTPS with a throwaway CA (created with openssl; `caFile`/`caPem` in the result). */
  readonly tls?: boolean;
  /** `storage.delete.enabled` (default true). */
  readonly deletes?: boolean;
  /** Users for htpasswd/token auth; default one user `vsnap` with a random password. */
  readonly users?: Readonly<Record<string, string>>;
  /** Token server options (auth: token). */
  readonly token?: Omit<
    TokenServerOptions,
    "users" | "service" | "issuer" | "signingKeyPem" | "signingCertPem"
  >;
}

export interface RegistryServer {
  /** Base URL, e.g. http://127.0.0.1:41234 (https:// with `tls`). */
  readonly url: string;
  /** host:port, e.g. 127.0.0.1:41234: what goes into oci:// URLs and docker configs. */
  readonly host: string;
  readonly tls: boolean;
  /** PEM file of the CA that signed the server certificate (with `tls`). */
  readonly caFile?: string;
  readonly caPem?: string;
  /** A directory holding `ca.crt`, for `skopeo --cert-dir`. */
  readonly certDir?: string;
  /** The first configured user and password (htpasswd/token auth). */
  readonly username?: string;
  readonly password?: string;
  readonly users: Readonly<Record<string, string>>;
  readonly tokenServer?: TokenServer;
  readonly dataDir: string;
  readonly pid: number;
  close(): Promise<void>;
}

/**
 * A real registry (Debian's docker-registry, distribution 2.8) on a free 127.0.0.1 port with a temp
 * data dir: plain HTTP, or HTTPS with a CA made here; anonymous, htpasswd Basic auth, or token auth
 * backed by a small in-process token server; deletes on or off. A reaper shell kills the registry
 * if this process dies without `close()`.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RegistryServer> {
  if (!hasCommand("docker-registry"))
    throw new Error("docker-registry not found: apt-get install -y docker-registry");
  const authMode = options.auth ?? "none";
  const root = mkdtempSync(path.join(os.tmpdir(), "vsnap-registry-"));
  const dataDir = path.join(root, "data");
  mkdirSync(dataDir);
  const users =
    options.users ?? (authMode === "none" ? {} : { vsnap: randomBytes(12).toString("base64url") });
  let tokenServer: TokenServer | undefined;
  let child: ChildProcess | undefined;
  let reaper: ChildProcess | undefined;
  try {
    const pki: TestPki | undefined = options.tls
      ? createTestPki(path.join(root, "pki"), "registry")
      : undefined;
    let certDir: string | undefined;
    if (pki) {
      certDir = path.join(root, "certs.d");
      mkdirSync(certDir);
      writeFileSync(path.join(certDir, "ca.crt"), pki.ca);
    }
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `${pki ? "https" : "http"}://${host}`;
    const lines = [
      "version: 0.1",
      "log: { level: error, accesslog: { disabled: true } }",
      "storage:",
      `  filesystem: { rootdirectory: ${JSON.stringify(dataDir)} }`,
      `  delete: { enabled: ${options.deletes ?? true} }`,
      "  cache: { blobdescriptor: inmemory }",
      "http:",
      `  addr: ${host}`,
      `  secret: ${randomBytes(16).toString("hex")}`,
      ...(pki
        ? [
            `  tls: { certificate: ${JSON.stringify(pki.serverCertFile)}, key: ${JSON.stringify(pki.serverKeyFile)} }`,
          ]
        : []),
      "health: { storagedriver: { enabled: false } }",
    ];
    if (authMode === "htpasswd") {
      const file = path.join(root, "htpasswd");
      const entries = Object.entries(users).map(([user, pass]) =>
        // bcrypt is checked on every request: the lowest cost keeps tests quick
        execFileSync("htpasswd", ["-B", "-C", "4", "-bn", user, pass], { encoding: "utf8" }).trim(),
      );
      writeFileSync(file, `${entries.join("\n")}\n`);
      lines.push(`auth: { htpasswd: { realm: vsnap-registry, path: ${JSON.stringify(file)} } }`);
    } else if (authMode === "token") {
      const keyFile = path.join(root, "token.key");
      const certFile = path.join(root, "token.crt");
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "2",
          "-subj",
          "/CN=vsnap-token-signer",
          "-keyout",
          keyFile,
          "-out",
          certFile,
        ],
        { stdio: "pipe" },
      );
      tokenServer = await startTokenServer({
        ...options.token,
        users,
        service: "vsnap-registry",
        issuer: "vsnap-token-issuer",
        signingKeyPem: readFileSync(keyFile, "utf8"),
        signingCertPem: readFileSync(certFile, "utf8"),
      });
      lines.push(
        `auth: { token: { realm: ${JSON.stringify(tokenServer.realm)}, service: vsnap-registry, issuer: vsnap-token-issuer, rootcertbundle: ${JSON.stringify(certFile)} } }`,
      );
    }
    const config = path.join(root, "config.yml");
    writeFileSync(config, `${lines.join("\n")}\n`);
    const started = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
    child = started;
    let stderr = "";
    started.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    reaper = startReaper(process.pid, started.pid ?? -1);
    try {
      await waitFor("docker-registry", async () => {
        if (started.exitCode !== null) throw new Error(`exited with ${started.exitCode}`);
        const status = await probe(`${url}/v2/`, pki?.ca);
        return status === 200 || status === 401;
      });
    } catch (error) {
      throw new Error(`docker-registry did not start: ${(error as Error).message}\n${stderr}`);
    }
    const [username, password] = Object.entries(users)[0] ?? [];
    const exited = new Promise<void>((resolve) => {
      if (started.exitCode !== null) resolve();
      else started.once("exit", () => resolve());
    });
    const finalReaper = reaper;
    const finalTokenServer = tokenServer;
    return {
      url,
      host,
      tls: Boolean(pki),
      ...(pki ? { caFile: pki.caFile, caPem: pki.ca.toString("utf8") } : {}),
      ...(certDir ? { certDir } : {}),
      ...(username !== undefined && password !== undefined ? { username, password } : {}),
      users,
      ...(finalTokenServer ? { tokenServer: finalTokenServer } : {}),
      dataDir,
      pid: started.pid ?? -1,
      async close() {
        if (started.exitCode === null && started.signalCode === null) {
          started.kill("SIGTERM");
          const timer = setTimeout(() => started.kill("SIGKILL"), 5_000);
          await exited;
          clearTimeout(timer);
        }
        finalReaper.kill("SIGKILL");
        await finalTokenServer?.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child?.kill("SIGKILL");
    reaper?.kill("SIGKILL");
    await tokenServer?.close();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/** The HTTP status of a GET (any TLS trust problem counts as not ready). */
function probe(url: string, ca: Buffer | undefined): Promise<number> {
  return new Promise((resolve) => {
    const done = (res: http.IncomingMessage) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    };
    const req = url.startsWith("https:") ? https.get(url, { ca }, done) : http.get(url, done);
    req.on("error", () => resolve(0));
    req.setTimeout(2_000, () => req.destroy());
  });
}

/** Kills `pid` once `parent` is gone: no registry outlives a test run that crashed. */
function startReaper(parent: number, pid: number): ChildProcess {
  const script = `while kill -0 ${parent} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null`;
  const reaper = spawn("sh", ["-c", script], { stdio: "ignore", detached: true });
  reaper.unref();
  return reaper;
}

export type { TokenServer } from "./oci-token-server.js";
