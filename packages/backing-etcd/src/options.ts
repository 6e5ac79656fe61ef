import { readFile } from "node:fs/promises";
import { registerSecretValue, Secret, VsnapError } from "@vsnap/core";

/**
 * TLS material for etcd, inline or as files (vCluster mounts /data/pki/etcd/ca.crt,
 * apiserver-etcd-client.crt and apiserver-etcd-client.key). A client certificate is what
 * vCluster's etcd requires (mutual TLS); the CA alone is enough for server-only TLS.
 */
export interface EtcdTlsOptions {
  readonly ca?: string | Uint8Array;
  readonly caFile?: string;
  readonly cert?: string | Uint8Array;
  readonly certFile?: string;
  /** The client's private key: a credential, never printed. */
  readonly key?: Secret | string | Uint8Array;
  readonly keyFile?: string;
  /** The name to verify etcd's certificate against when it differs from the endpoint host. */
  readonly serverName?: string;
}

export interface EtcdTimeouts {
  /** First contact with an endpoint (TCP + TLS + one Status call). Default 5 s. */
  readonly connectMs?: number;
  /** Each unary request, and the longest silence allowed inside a stream. Default 60 s. */
  readonly requestMs?: number;
}

export interface EtcdConnectionOptions {
  /** One endpoint, a comma-separated list, or an array: `https://10.0.0.1:2379`, `127.0.0.1:2379`. */
  readonly endpoints: string | readonly string[];
  readonly tls?: EtcdTlsOptions;
  /** etcd user/password authentication (not used by vCluster, which authenticates by certificate). */
  readonly auth?: { readonly username: string; readonly password: Secret | string };
  readonly timeouts?: EtcdTimeouts;
}

export interface ParsedEndpoint {
  readonly secure: boolean;
  /** host:port as gRPC dials it. */
  readonly address: string;
  /** The endpoint as shown to people. */
  readonly display: string;
}

export interface ResolvedTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly serverName?: string;
}

export const DEFAULT_CONNECT_MS = 5_000;
export const DEFAULT_REQUEST_MS = 60_000;
const DEFAULT_PORT = 2379;

/**
 * `https://` dials TLS, `http://` plaintext; a bare `host:port` dials TLS when TLS material is
 * given (as etcdctl does), plaintext otherwise.
 */
export function parseEndpoints(endpoints: string | readonly string[], tlsGiven: boolean): ParsedEndpoint[] {
  const list = (typeof endpoints === "string" ? endpoints.split(",") : [...endpoints])
    .map((e) => e.trim())
    .filter((e) => e.length > 0);
  if (list.length === 0) {
    throw new VsnapError("INVALID_ARGUMENT", "no etcd endpoint given", {
      hint: "pass --etcd https://HOST:2379 (comma-separate several members)",
    });
  }
  return list.map((raw) => {
    const match = /^(?:(https?|unixs?):\/\/)?([^/]+?)\/?$/.exec(raw);
    const scheme = match?.[1];
    const hostPort = match?.[2];
    if (!match || !hostPort || scheme?.startsWith("unix") || hostPort.includes("@")) {
      throw new VsnapError("INVALID_ARGUMENT", `invalid etcd endpoint "${raw}"`, {
        hint: "use http://HOST:PORT or https://HOST:PORT (or HOST:PORT)",
      });
    }
    const hasPort =
      /^\[.*\]:\d+$/.test(hostPort) || (/^[^[\]:]+:\d+$/.test(hostPort) && !hostPort.startsWith("["));
    const address = hasPort ? hostPort : `${hostPort}:${DEFAULT_PORT}`;
    const secure = scheme === "https" || (scheme === undefined && tlsGiven);
    return { secure, address, display: `${secure ? "https" : "http"}://${address}` };
  });
}

async function material(
  inline: string | Uint8Array | Secret | undefined,
  file: string | undefined,
  what: string,
  flag: string,
): Promise<Buffer | undefined> {
  if (inline !== undefined && file !== undefined) {
    throw new VsnapError("INVALID_ARGUMENT", `etcd ${what}: give either the content or a file, not both`);
  }
  if (inline !== undefined) {
    if (inline instanceof Secret) return Buffer.from(inline.reveal());
    return Buffer.from(inline);
  }
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new VsnapError(
      code === "ENOENT" ? "NOT_FOUND" : "INVALID_ARGUMENT",
      `cannot read the etcd ${what} file ${file}: ${code ?? (error as Error).message}`,
      { hint: `check the ${flag} path` },
    );
  }
}

function looksLikePem(buf: Buffer, what: string): void {
  if (!buf.toString("latin1", 0, Math.min(buf.length, 4096)).includes("-----BEGIN ")) {
    throw new VsnapError("INVALID_ARGUMENT", `the etcd ${what} is not PEM (no "-----BEGIN" line)`, {
      hint: "pass the PEM files vCluster mounts under /data/pki/etcd/",
    });
  }
}

export async function resolveTls(tls: EtcdTlsOptions | undefined): Promise<ResolvedTls | undefined> {
  if (!tls) return undefined;
  const ca = await material(tls.ca, tls.caFile, "CA certificate", "--etcd-cacert");
  const cert = await material(tls.cert, tls.certFile, "client certificate", "--etcd-cert");
  const key = await material(tls.key, tls.keyFile, "client key", "--etcd-key");
  if ((cert === undefined) !== (key === undefined)) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      "an etcd client certificate needs its key, and a key its certificate",
      {
        hint: "pass both --etcd-cert and --etcd-key",
      },
    );
  }
  if (ca) looksLikePem(ca, "CA certificate");
  if (cert) looksLikePem(cert, "client certificate");
  if (key) {
    looksLikePem(key, "client key");
    // a key read from a file never went through `new Secret`: make sure no error can echo it
    registerSecretValue(key.toString("utf8").trim());
  }
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(tls.serverName ? { serverName: tls.serverName } : {}),
  };
}
