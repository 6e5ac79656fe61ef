import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { KeyValue } from "@vsnap/core";
import { inject } from "vitest";
import { EtcdClient, type EtcdConnectionOptions } from "../src/index.js";
import type { EtcdInfo, EtcdName } from "./global-setup.js";

const execFileAsync = promisify(execFile);

export function server(name: EtcdName): EtcdInfo {
  return inject("etcd")[name];
}

/** Connection options for a test server: files for TLS, as the CLI passes them. */
export function connection(
  info: EtcdInfo,
  extra: Partial<EtcdConnectionOptions> = {},
): EtcdConnectionOptions {
  return {
    endpoints: info.endpoint,
    ...(info.tls
      ? { tls: { caFile: info.tls.caFile, certFile: info.tls.certFile, keyFile: info.tls.keyFile } }
      : {}),
    ...extra,
  };
}

export async function client(info: EtcdInfo): Promise<EtcdClient> {
  return (await EtcdClient.connect(connection(info))).client;
}

/** etcdctl (Debian's etcd-client): the independent client every check is made with. */
export async function etcdctl(info: EtcdInfo | undefined, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync("etcdctl", [...(info?.etcdctlArgs ?? []), ...args], {
    maxBuffer: 1024 * 1024 * 1024,
    env: { ...process.env, ETCDCTL_API: "3" },
  });
  return stdout;
}

/** `etcdctl get --prefix / [--rev=N] -w json`: keys and values in etcd's order. */
export async function etcdctlGetAll(
  info: EtcdInfo,
  revision?: number,
): Promise<{ revision: number; kvs: [string, Buffer][] }> {
  const args = ["get", "--prefix", "/", "-w", "json", ...(revision ? [`--rev=${revision}`] : [])];
  const out = JSON.parse(await etcdctl(info, args)) as {
    header: { revision: number };
    kvs?: { key: string; value?: string }[];
  };
  return {
    revision: out.header.revision,
    kvs: (out.kvs ?? []).map((kv) => [
      Buffer.from(kv.key, "base64").toString("utf8"),
      Buffer.from(kv.value ?? "", "base64"),
    ]),
  };
}

/** Writes entries in transactions of at most 100 puts and about 1 MiB. */
export async function seed(c: EtcdClient, entries: Iterable<[string, Uint8Array]>): Promise<number> {
  let batch: [string, Uint8Array][] = [];
  let bytes = 0;
  let revision = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const r = await c.txn(batch.map(([key, value]) => ({ put: { key: Buffer.from(key), value } })));
    revision = r.header.revision;
    batch = [];
    bytes = 0;
  };
  for (const entry of entries) {
    if (batch.length === 100 || bytes + entry[1].length > 1024 * 1024) await flush();
    batch.push(entry);
    bytes += entry[1].length;
  }
  await flush();
  return revision;
}

export async function clearAll(c: EtcdClient): Promise<void> {
  await c.deleteRange(Buffer.from([0]), Buffer.from([0]));
}

/** Deterministic bytes that look like a Kubernetes protobuf object (a header, then text-ish data). */
export function objectValue(i: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.write("k8s\0\n\x0b\n\x02v1\x12\x05Thing", 0, "latin1");
  let x = (i + 1) * 2654435761;
  for (let p = 20; p < size; p++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[p] = 0x61 + ((x >>> 16) % 26);
  }
  return out;
}

export async function collect(entries: AsyncIterable<KeyValue>): Promise<[string, Buffer][]> {
  const out: [string, Buffer][] = [];
  for await (const kv of entries) out.push([kv.key, Buffer.from(kv.value)]);
  return out;
}

export function withoutMetadata(kvs: [string, Buffer][]): [string, Buffer][] {
  return kvs.filter(([key]) => !key.startsWith("/vcluster/snapshot/"));
}
