import type { DecodedParams, ParamSpecs } from "./params.js";

/** The store plugin contract version this core speaks. */
export const STORE_API_VERSION = 1 as const;

export interface ProgressEvent {
  /** Bytes handled so far (monotone). */
  readonly bytes: number;
  /** Total bytes when known up front. */
  readonly totalBytes?: number;
}
export type ProgressListener = (event: ProgressEvent) => void;

export interface OperationOptions {
  readonly signal?: AbortSignal;
}

export interface PutOptions extends OperationOptions {
  readonly onProgress?: ProgressListener;
  /** The body's size when known (lets a store choose part sizes); a hint, not a promise. */
  readonly sizeHint?: number;
  /**
   * Small string annotations the store keeps with the object where it can (OCI manifest
   * annotations, S3 metadata). A function is called once the body has been read to its end, so
   * figures only known then (key count) can be included; stores that must send metadata before
   * the body (S3 headers) may call it early and get what is known up front.
   */
  readonly annotations?: Readonly<Record<string, string>> | (() => Readonly<Record<string, string>>);
}

export interface ObjectInfo {
  /** The object's key within the store (e.g. `snap-1.tar.gz`, or an OCI tag). */
  readonly key: string;
  /** The object's display URL (secrets masked). */
  readonly url: string;
  readonly size: number;
  readonly modified: Date;
  readonly etag?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ObjectReader {
  readonly info: ObjectInfo;
  readonly body: AsyncIterable<Uint8Array>;
}

/**
 * A store rooted at a location's "directory" (a folder, an S3 prefix, an OCI repository).
 * `put` is atomic: until it resolves, nothing new is readable or listable under the key and the
 * previous object stays intact; on error or abort nothing of the new object remains.
 */
export interface Store {
  /** Display form of the store's root; every secret replaced by `***`. */
  readonly location: string;
  put(key: string, body: AsyncIterable<Uint8Array>, options?: PutOptions): Promise<ObjectInfo>;
  /** Rejects with VsnapError NOT_FOUND when the key does not exist. */
  get(key: string, options?: OperationOptions): Promise<ObjectReader>;
  /** Resolves `undefined` when the key does not exist. */
  stat(key: string, options?: OperationOptions): Promise<ObjectInfo | undefined>;
  /** The snapshot objects under the root whose key starts with `prefix`. */
  list(prefix?: string, options?: OperationOptions): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting a missing key resolves. */
  delete(key: string, options?: OperationOptions): Promise<void>;
  close(): Promise<void>;
}

/** What core hands a plugin's `parse`: the URL plus its query, already checked and decoded. */
export interface UrlParts {
  readonly url: URL;
  readonly scheme: string;
  readonly params: DecodedParams;
}

/** A URL a plugin has understood: the root to open, the object key within it, and options. */
export interface ParsedLocation<Options = unknown> {
  readonly scheme: string;
  /** The plugin that parsed it (its `name`). */
  readonly plugin: string;
  /** The object key within the root (a file name, an S3 key's last part, an OCI tag). */
  readonly key: string;
  /** The URL with every secret replaced by `***`: safe for logs, statuses and ConfigMaps. */
  readonly display: string;
  /**
   * The URL without any secret parameter or userinfo password; what a request records so that
   * credentials travel separately (in a Kubernetes Secret).
   */
  readonly publicUrl: string;
  readonly options: Options;
}

export interface StoreContext {
  /** Environment to read credentials from; plugins never write to process.env. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log?: (message: string) => void;
}

export interface PluginParseResult<Options> {
  readonly key: string;
  readonly options: Options;
}

export interface StorePlugin<Options = unknown> {
  readonly apiVersion: typeof STORE_API_VERSION;
  /** "s3"; third parties use a domain, e.g. "acme.dev/gcs". */
  readonly name: string;
  readonly schemes: readonly string[];
  /** Every query option the plugin accepts. Core rejects all others before `parse`. */
  readonly params: ParamSpecs;
  /** The URL format shown in errors, e.g. `s3://BUCKET/KEY`. */
  readonly format: string;
  parse(parts: UrlParts): PluginParseResult<Options>;
  open(location: ParsedLocation<Options>, context: StoreContext): Promise<Store>;
  /**
   * JSON-safe options for handing a request to the controller; they travel in a Kubernetes
   * Secret, never in the request's URL. A plugin resolves local credentials here (docker
   * config, the AWS chain) so the cluster can use them. Without it, `options` must be JSON-safe.
   */
  toRequestOptions?(
    location: ParsedLocation<Options>,
    context: StoreContext,
  ): Promise<Record<string, unknown>>;
  /** The inverse of `toRequestOptions`, run by the controller. */
  fromRequestOptions?(data: Record<string, unknown>): Options;
}

export function defineStorePlugin<Options>(plugin: StorePlugin<Options>): StorePlugin<Options> {
  return plugin;
}
