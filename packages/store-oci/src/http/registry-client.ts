import type { Readable } from "node:stream";
import { VsnapError } from "@vsnap/core";
import { type FetchedManifest, parseImageManifest, sha256Digest } from "../artifact.js";
import { MANIFEST_ACCEPT } from "../media-types.js";
import type { RegistryAuth } from "./auth.js";
import { registryError } from "./errors.js";
import {
  discard,
  displayUrl,
  type HttpResponse,
  headerValue,
  readBytes,
  readText,
  type Transport,
} from "./transport.js";

export type Access = "pull" | "push" | "delete";

export interface SendOptions {
  readonly method: string;
  /** Absolute, or a path under the registry's base URL. */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Called once per attempt: a 401 is retried with fresh credentials, so a body must be reproducible. */
  readonly body?: () => Buffer | Readable | string;
  readonly access: Access;
  readonly signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;
/** Tags asked for per page of the tags list (registries may send fewer and a `Link` to the next). */
export const TAGS_PAGE_SIZE = 1000;

/** The distribution-spec calls vsnap needs, for one repository, with auth handled underneath. */
export class RegistryClient {
  readonly baseUrl: string;
  readonly repository: string;
  readonly auth: RegistryAuth;
  readonly #transport: Transport;
  readonly #tagsPageSize: number;

  constructor(options: {
    baseUrl: string;
    repository: string;
    transport: Transport;
    auth: RegistryAuth;
    tagsPageSize?: number;
  }) {
    this.baseUrl = options.baseUrl;
    this.repository = options.repository;
    this.#transport = options.transport;
    this.auth = options.auth;
    this.#tagsPageSize = options.tagsPageSize ?? TAGS_PAGE_SIZE;
  }

  resolve(url: string): string {
    return new URL(url, this.baseUrl).href;
  }

  scopes(access: Access): string[] {
    const actions = access === "pull" ? "pull" : access === "push" ? "pull,push" : "delete";
    return [`repository:${this.repository}:${actions}`];
  }

  /** Sends a request, answering auth challenges (at most one retry per request). */
  async send(options: SendOptions): Promise<HttpResponse> {
    const url = this.resolve(options.url);
    const scopes = this.scopes(options.access);
    const what = `${options.method} ${displayUrl(url)}`;
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const authorization = await this.auth.authorization(scopes, options.signal);
      const body = options.body?.();
      const res = await this.#transport.send({
        method: options.method,
        url,
        headers: { ...options.headers, ...(authorization ? { authorization } : {}) },
        ...(body !== undefined ? { body } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (res.status !== 401) return res;
      await discard(res);
      if (body && typeof body === "object" && "destroy" in body) body.destroy();
      await this.auth.unauthorized(res.headers["www-authenticate"], scopes, authorization, what, attempt > 0);
    }
  }

  /** Throws the registry's error for a response that is not one of `ok`. */
  async expect(res: HttpResponse, ok: readonly number[], what: string, hint?: string): Promise<void> {
    if (ok.includes(res.status)) return;
    const text = await readText(res, 64 * 1024).catch(() => "");
    throw registryError(what, res.status, text, hint);
  }

  async blobExists(digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.send({
      method: "HEAD",
      url: `/v2/${this.repository}/blobs/${digest}`,
      access: "pull",
      ...sig(signal),
    });
    await discard(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw registryError(`HEAD blob ${digest}`, res.status, "");
  }

  /** Opens a blob for reading, following the redirects registries use to hand reads to object storage. */
  async openBlob(digest: string, signal?: AbortSignal): Promise<HttpResponse> {
    let res = await this.send({
      method: "GET",
      url: `/v2/${this.repository}/blobs/${digest}`,
      access: "pull",
      ...sig(signal),
    });
    let url = this.resolve(`/v2/${this.repository}/blobs/${digest}`);
    for (let hop = 0; isRedirect(res.status); hop++) {
      await discard(res);
      const location = headerValue(res.headers, "location");
      if (!location || hop >= MAX_REDIRECTS) {
        throw new VsnapError("UNAVAILABLE", `GET blob ${digest}: too many or empty redirects`);
      }
      const next = new URL(location, url);
      const sameOrigin = next.origin === new URL(url).origin;
      url = next.href;
      // credentials stay with the registry; presigned storage URLs carry their own
      res = sameOrigin
        ? await this.send({ method: "GET", url, access: "pull", ...sig(signal) })
        : await this.#transport.send({ method: "GET", url, ...sig(signal) });
    }
    if (res.status === 404) {
      await discard(res);
      throw new VsnapError("NOT_FOUND", `blob ${digest} is missing from ${this.repository}`, {
        hint: "the manifest exists but its layer was garbage-collected or never pushed",
      });
    }
    await this.expect(res, [200], `GET blob ${digest}`);
    return res;
  }

  /** The manifest at a tag or digest, or undefined when there is none. */
  async getManifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest | undefined> {
    const res = await this.send({
      method: "GET",
      url: `/v2/${this.repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      access: "pull",
      ...sig(signal),
    });
    if (res.status === 404) {
      await discard(res);
      return undefined;
    }
    await this.expect(res, [200], `GET manifest ${reference}`);
    const bytes = await readBytes(res, 4 * 1024 * 1024);
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && reference !== digest) {
      throw new VsnapError("INTEGRITY", `manifest ${reference} arrived with digest ${digest}`);
    }
    return {
      digest,
      mediaType: (headerValue(res.headers, "content-type") ?? "").split(";")[0]!.trim(),
      bytes,
      manifest: parseImageManifest(bytes),
    };
  }

  async putManifest(
    reference: string,
    bytes: Buffer,
    mediaType: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const res = await this.send({
      method: "PUT",
      url: `/v2/${this.repository}/manifests/${reference}`,
      headers: { "content-type": mediaType },
      body: () => bytes,
      access: "push",
      ...sig(signal),
    });
    await this.expect(res, [200, 201], `PUT manifest ${reference}`);
    await discard(res);
    const expected = sha256Digest(bytes);
    const returned = headerValue(res.headers, "docker-content-digest");
    if (returned && returned !== expected) {
      throw new VsnapError(
        "INTEGRITY",
        `registry stored manifest ${reference} as ${returned}, expected ${expected}`,
      );
    }
    return expected;
  }

  /** DELETE of a manifest by tag or digest; the status decides (202 deleted, 404 gone, 400/405 refused). */
  async deleteManifest(reference: string, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const res = await this.send({
      method: "DELETE",
      url: `/v2/${this.repository}/manifests/${reference}`,
      access: "delete",
      ...sig(signal),
    });
    return { status: res.status, text: await readText(res, 64 * 1024).catch(() => "") };
  }

  /** Every tag of the repository, page by page (`Link: <…>; rel="next"`); none when the repository is unknown. */
  async *tags(signal?: AbortSignal): AsyncIterable<string> {
    let next: string | undefined = `/v2/${this.repository}/tags/list?n=${this.#tagsPageSize}`;
    const seen = new Set<string>();
    while (next) {
      const res = await this.send({ method: "GET", url: next, access: "pull", ...sig(signal) });
      if (res.status === 404) {
        await discard(res);
        return;
      }
      await this.expect(res, [200], "GET tags list");
      const text = await readText(res);
      let tags: unknown;
      try {
        tags = (JSON.parse(text) as { tags?: unknown }).tags;
      } catch {
        throw new VsnapError("UNAVAILABLE", `tags list of ${this.repository} is not JSON`);
      }
      for (const tag of Array.isArray(tags) ? tags : []) {
        if (typeof tag === "string" && !seen.has(tag)) {
          seen.add(tag);
          yield tag;
        }
      }
      const link = headerValue(res.headers, "link");
      const target = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      next = target ? this.resolve(target) : undefined;
    }
  }
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

function sig(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}
