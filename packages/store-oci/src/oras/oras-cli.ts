import { createHash } from "node:crypto";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { VsnapError } from "@vsnap/core";
import type { ResultPromise } from "execa";

/** execa, loaded only when oras is used: most processes never start a child. */
const loadExeca = async () => (await import("execa")).execa;

import { type FetchedManifest, parseImageManifest, sha256Digest } from "../artifact.js";
import {
  ANNOTATION_CREATED,
  ANNOTATION_FILE_SHA256,
  ANNOTATION_FILE_SIZE,
  SNAPSHOT_ARTIFACT_TYPE,
  SNAPSHOT_LAYER_MEDIA_TYPE,
  SNAPSHOT_LAYER_TITLE,
} from "../media-types.js";
import type { RegistryCredentials } from "../options.js";
import { ChunkReader } from "../upload/chunk-reader.js";

export interface OrasOptions {
  /** The API host (Docker Hub's is registry-1.docker.io). */
  readonly registry: string;
  readonly repository: string;
  readonly plainHttp: boolean;
  readonly insecureSkipTlsVerify: boolean;
  readonly caCert?: string;
  readonly credentials: () => Promise<RegistryCredentials | undefined>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly tmpDir: string;
}

/**
 * Push and pull through the `oras` CLI (VSNAP_OCI_CLIENT=oras), for users who want the reference
 * client. oras pushes files, so the snapshot is spooled to a temp file first; the HTTP client is the
 * default because it streams. Credentials go to oras in a private temporary registry config, never
 * on its command line.
 */
export class OrasCli {
  readonly #options: OrasOptions;

  constructor(options: OrasOptions) {
    this.#options = options;
  }

  async push(
    tag: string,
    body: AsyncIterable<Uint8Array>,
    options: {
      /** Read after the body has been spooled (the caller's figures are final then). */
      annotations: () => Readonly<Record<string, string>>;
      onProgress?: (bytes: number) => void;
      signal?: AbortSignal;
    },
  ): Promise<void> {
    await this.#withWorkDir(async (dir, common) => {
      const file = path.join(dir, SNAPSHOT_LAYER_TITLE);
      const { digest, size } = await spool(body, file, options.signal, options.onProgress);
      const annotationFile = path.join(dir, "annotations.json");
      await writeFile(
        annotationFile,
        JSON.stringify({
          $manifest: {
            ...options.annotations(),
            [ANNOTATION_CREATED]: new Date().toISOString(),
            [ANNOTATION_FILE_SHA256]: digest.replace(/^sha256:/, ""),
            [ANNOTATION_FILE_SIZE]: String(size),
          },
        }),
      );
      await this.#run(
        [
          "push",
          ...common,
          "--artifact-type",
          SNAPSHOT_ARTIFACT_TYPE,
          "--annotation-file",
          annotationFile,
          this.#ref(`:${tag}`),
          `${SNAPSHOT_LAYER_TITLE}:${SNAPSHOT_LAYER_MEDIA_TYPE}`,
        ],
        { cwd: dir, ...(options.signal ? { signal: options.signal } : {}) },
      );
    });
  }

  /** `oras manifest fetch`; undefined when the reference does not exist. */
  async fetchManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest | undefined> {
    return this.#withWorkDir(async (dir, common) => {
      const ref = this.#ref(reference.startsWith("sha256:") ? `@${reference}` : `:${reference}`);
      const execa = await loadExeca();
      const result = await execa("oras", ["manifest", "fetch", ...common, ref], {
        ...this.#execOptions(dir, signal),
        encoding: "buffer",
        reject: false,
      });
      if (result.failed) {
        const stderr = Buffer.from(result.stderr ?? "").toString("utf8");
        if (/not found|MANIFEST_UNKNOWN|NAME_UNKNOWN/i.test(stderr)) return undefined;
        throw orasError(`oras manifest fetch ${ref}`, result, stderr);
      }
      const bytes = Buffer.from(result.stdout);
      return { digest: sha256Digest(bytes), mediaType: "", bytes, manifest: parseImageManifest(bytes) };
    });
  }

  /** `oras blob fetch --output -`: the blob streamed from oras' stdout (the caller verifies the digest). */
  async fetchBlob(digest: string, signal?: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const dir = await mkdtemp(path.join(this.#options.tmpDir, "vsnap-oras-"));
    const common = await this.#commonArgs(dir);
    const ref = this.#ref(`@${digest}`);
    const execa = await loadExeca();
    const child = execa("oras", ["blob", "fetch", ...common, "--output", "-", ref], {
      ...this.#execOptions(dir, signal),
      encoding: "buffer",
      buffer: { stdout: false, stderr: true },
      reject: false,
    });
    return streamChild(child, `oras blob fetch ${ref}`, () => rm(dir, { recursive: true, force: true }));
  }

  async #withWorkDir<T>(fn: (dir: string, common: string[]) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(path.join(this.#options.tmpDir, "vsnap-oras-"));
    try {
      return await fn(dir, await this.#commonArgs(dir));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** TLS flags and a registry config holding exactly the credentials vsnap resolved. */
  async #commonArgs(dir: string): Promise<string[]> {
    const args: string[] = [];
    if (this.#options.plainHttp) args.push("--plain-http");
    if (this.#options.insecureSkipTlsVerify) args.push("--insecure");
    if (this.#options.caCert) {
      const caFile = path.join(dir, "ca.crt");
      await writeFile(caFile, this.#options.caCert, { mode: 0o600 });
      args.push("--ca-file", caFile);
    }
    const credentials = await this.#options.credentials();
    const entry: Record<string, string> = {};
    if (credentials?.registryToken) entry.registrytoken = credentials.registryToken.reveal();
    else if (credentials?.identityToken) entry.identitytoken = credentials.identityToken.reveal();
    else if (credentials?.password) {
      entry.auth = Buffer.from(`${credentials.username ?? ""}:${credentials.password.reveal()}`).toString(
        "base64",
      );
    }
    const configFile = path.join(dir, "config.json");
    await writeFile(configFile, JSON.stringify({ auths: { [this.#options.registry]: entry } }), {
      mode: 0o600,
    });
    args.push("--registry-config", configFile);
    return args;
  }

  #ref(suffix: string): string {
    return `${this.#options.registry}/${this.#options.repository}${suffix}`;
  }

  #execOptions(cwd: string, signal: AbortSignal | undefined) {
    return {
      cwd,
      env: this.#options.env as NodeJS.ProcessEnv,
      extendEnv: false,
      ...(signal ? { cancelSignal: signal } : {}),
    } as const;
  }

  async #run(args: string[], options: { cwd: string; signal?: AbortSignal }): Promise<void> {
    const execa = await loadExeca();
    const result = await execa("oras", args, {
      ...this.#execOptions(options.cwd, options.signal),
      reject: false,
    });
    if (options.signal?.aborted) throw new VsnapError("ABORTED", `oras ${args[0]} aborted`);
    if (result.failed) throw orasError(`oras ${args[0]}`, result, String(result.stderr ?? ""));
  }
}

/** True when an `oras` executable is on the PATH of `env`. */
export async function orasAvailable(env: Readonly<Record<string, string | undefined>>): Promise<boolean> {
  const execa = await loadExeca();
  const result = await execa("oras", ["version"], {
    env: env as NodeJS.ProcessEnv,
    extendEnv: false,
    reject: false,
    timeout: 10_000,
  });
  return !result.failed;
}

async function spool(
  body: AsyncIterable<Uint8Array>,
  file: string,
  signal: AbortSignal | undefined,
  onProgress: ((bytes: number) => void) | undefined,
): Promise<{ digest: string; size: number }> {
  const reader = new ChunkReader(body, signal);
  const hash = createHash("sha256");
  let size = 0;
  const handle = await open(file, "w", 0o600);
  try {
    for (;;) {
      const chunk = await reader.read(4 * 1024 * 1024);
      if (!chunk.length) break;
      hash.update(chunk);
      size += chunk.length;
      await handle.write(chunk);
      onProgress?.(size);
    }
  } finally {
    await handle.close();
    reader.close();
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

async function* streamChild(
  child: ResultPromise,
  what: string,
  cleanup: () => Promise<void>,
): AsyncIterable<Uint8Array> {
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Uint8Array>) yield chunk;
    const result = await child;
    finished = true;
    if (result.failed)
      throw orasError(what, result, Buffer.from(result.stderr as Uint8Array).toString("utf8"));
  } finally {
    if (!finished) child.kill();
    await child.catch(() => {});
    await cleanup();
  }
}

function orasError(what: string, result: { exitCode?: number; code?: string }, stderr: string): VsnapError {
  const text = stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400);
  const exitCode = result.exitCode;
  if (result.code === "ENOENT") {
    return new VsnapError(
      "FAILED_PRECONDITION",
      "VSNAP_OCI_CLIENT=oras is set but no oras executable is on PATH",
      {
        hint: "install oras (https://oras.land) or unset VSNAP_OCI_CLIENT to use the built-in HTTP client",
      },
    );
  }
  const code = /unauthorized|401/i.test(text)
    ? "UNAUTHENTICATED"
    : /denied|403/i.test(text)
      ? "PERMISSION_DENIED"
      : "UNAVAILABLE";
  return new VsnapError(code, `${what} failed (exit ${exitCode ?? "?"}): ${text}`);
}
