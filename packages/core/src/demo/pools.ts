import { Rng } from "./rng.js";

/**
 * Shared filler material. Config-file text is cut from a pool generated once per seed, so large
 * values cost a copy rather than fresh randomness, yet compress about as well as real YAML/JSON.
 */

const WORDS = [
  "server",
  "listen",
  "timeout",
  "replicas",
  "endpoint",
  "cache",
  "enabled",
  "level",
  "format",
  "path",
  "backend",
  "upstream",
  "retries",
  "interval",
  "threshold",
  "buffer",
  "workers",
  "region",
  "bucket",
  "metrics",
  "tracing",
  "sampler",
  "exporter",
  "database",
  "pool",
  "max",
  "min",
  "idle",
  "ttl",
  "host",
  "port",
  "scheme",
  "rules",
  "match",
  "route",
  "weight",
  "headers",
  "labels",
  "selector",
  "namespace",
  "panel",
  "title",
  "datasource",
  "expr",
  "legend",
  "targets",
  "gridPos",
  "thresholds",
  "unit",
  "color",
];

function buildText(rng: Rng, size: number): string {
  const parts: string[] = [];
  let length = 0;
  let depth = 0;
  while (length < size) {
    const key = `${rng.pick(WORDS)}${rng.chance(0.3) ? `_${rng.pick(WORDS)}` : ""}`;
    const indent = "  ".repeat(depth);
    let line: string;
    switch (rng.int(6)) {
      case 0:
        line = `${indent}${key}:\n`;
        if (depth < 5) depth++;
        break;
      case 1:
        line = `${indent}${key}: ${rng.range(1, 65535)}\n`;
        break;
      case 2:
        line = `${indent}${key}: "${rng.pick(WORDS)}-${rng.hex(rng.range(4, 12))}"\n`;
        break;
      case 3:
        line = `${indent}- {"${key}": "${rng.pick(WORDS)}", "${rng.pick(WORDS)}": ${rng.float().toFixed(3)}}\n`;
        break;
      case 4:
        line = `${indent}${key}: ${rng.chance(0.5) ? "true" : "false"}\n`;
        if (depth > 0 && rng.chance(0.5)) depth--;
        break;
      default:
        line = `${indent}# ${rng.pick(WORDS)} ${rng.pick(WORDS)} ${rng.pick(WORDS)} ${rng.pick(WORDS)}\n`;
    }
    parts.push(line);
    length += line.length;
  }
  return parts.join("").slice(0, size);
}

function toBytes(text: string): Uint8Array {
  return Buffer.from(text, "latin1");
}

function pem(rng: Rng, label: string, derBytes: number): string {
  const der = new Uint8Array(derBytes);
  rng.fill(der);
  const b64 = Buffer.from(der).toString("base64");
  const lines: string[] = [`-----BEGIN ${label}-----`];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  lines.push(`-----END ${label}-----`, "");
  return lines.join("\n");
}

export interface Pools {
  /** ~256 KiB of YAML-ish text. */
  readonly text: Uint8Array;
  readonly textString: string;
  /** The cluster CA, identical in every namespace's `kube-root-ca.crt` like in a real cluster. */
  readonly caCert: string;
}

const POOL_SIZE = 256 * 1024;
const cache = new Map<number, Pools>();

export function poolsFor(seed: number): Pools {
  let pools = cache.get(seed);
  if (pools === undefined) {
    const rng = new Rng(seed ^ 0x5bd1e995);
    const textString = buildText(rng, POOL_SIZE);
    pools = { text: toBytes(textString), textString, caCert: pem(rng, "CERTIFICATE", 790) };
    if (cache.size >= 8) cache.delete(cache.keys().next().value as number);
    cache.set(seed, pools);
  }
  return pools;
}

/** `length` bytes of pool text starting at a random line-ish offset (wraps around). */
export function textSlice(pools: Pools, rng: Rng, length: number): Uint8Array {
  const text = pools.text;
  if (length <= text.length) {
    const start = rng.int(text.length - length + 1);
    return text.subarray(start, start + length);
  }
  const out = new Uint8Array(length);
  for (let pos = 0; pos < length; ) {
    const start = rng.int(text.length >>> 1);
    const n = Math.min(length - pos, text.length - start);
    out.set(text.subarray(start, start + n), pos);
    pos += n;
  }
  return out;
}

export function textSliceString(pools: Pools, rng: Rng, length: number): string {
  const text = pools.textString;
  const n = Math.min(length, text.length);
  const start = rng.int(text.length - n + 1);
  return text.slice(start, start + n);
}

export function randomBytes(rng: Rng, length: number): Uint8Array {
  const out = new Uint8Array(length);
  rng.fill(out);
  return out;
}

export function randomPem(rng: Rng, label: string, derBytes: number): string {
  return pem(rng, label, derBytes);
}

/** Random bytes rendered as base64 text (Helm release payloads look like this). */
export function randomBase64(rng: Rng, length: number): Uint8Array {
  const raw = randomBytes(rng, Math.ceil((length * 3) / 4));
  return toBytes(Buffer.from(raw).toString("base64").slice(0, length));
}

export function asciiBytes(text: string): Uint8Array {
  return toBytes(text);
}
