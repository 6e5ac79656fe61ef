import type { Stats } from "node:fs";
import { type FileHandle, open, readdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { inspect } from "node:util";
import {
  markTransient,
  type ObjectInfo,
  type ObjectReader,
  type OperationOptions,
  type PutOptions,
  type Store,
  type StoreContext,
  throwIfAborted,
  VsnapError,
} from "@vsnap/core";
import { PART_SUFFIX, writeFileAtomically } from "./atomic-write.js";
import { CONTAINER_FORMAT, containerUrl, SNAPSHOT_SUFFIX } from "./container-url.js";
import { fileBody } from "./file-body.js";
import { errnoOf, fsError } from "./fs-errors.js";

export interface ContainerStoreOptions {
  /** File mode of new snapshots; default 0o600, since a snapshot holds every Secret of a cluster. */
  readonly fileMode?: number;
}

/** Snapshot files in one directory of the local file system (a disk, or a volume mounted into a pod). */
export class ContainerStore implements Store {
  readonly location: string;
  readonly #root: string;
  readonly #log: ((message: string) => void) | undefined;
  readonly #fileMode: number;
  readonly #closing = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #openReads = new Set<FileHandle>();
  #closed = false;

  constructor(root: string, context?: StoreContext, options: ContainerStoreOptions = {}) {
    if (!path.posix.isAbsolute(root)) {
      throw new VsnapError("INVALID_ARGUMENT", `container store root "${root}" is not an absolute path`, {
        hint: `expected ${CONTAINER_FORMAT}`,
      });
    }
    this.#root = path.posix.normalize(root);
    this.location = containerUrl(this.#root, true);
    this.#log = context?.log;
    this.#fileMode = options.fileMode ?? 0o600;
  }

  /** The absolute directory holding the snapshots. */
  get root(): string {
    return this.#root;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ObjectInfo> {
    const file = this.#path(key, "put");
    if (!key.endsWith(SNAPSHOT_SUFFIX)) {
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `container snapshots are .tar.gz files; cannot put "${key}" in ${this.location}`,
        { hint: `name it e.g. ${containerUrl(`${file}${SNAPSHOT_SUFFIX}`)}` },
      );
    }
    const display = containerUrl(file);
    throwIfAborted(options.signal, `put ${display}`);
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closing.signal])
      : this.#closing.signal;
    const written = await this.#track(
      writeFileAtomically(file, body, {
        signal,
        display,
        onProgress: options.onProgress,
        mode: this.#fileMode,
        log: this.#log,
      }),
    );
    return { key, url: display, size: written.size, modified: written.modified };
  }

  async get(key: string, options: OperationOptions = {}): Promise<ObjectReader> {
    const file = this.#path(key, "get");
    const display = containerUrl(file);
    throwIfAborted(options.signal, `get ${display}`);
    let handle: FileHandle;
    try {
      handle = await open(file, "r");
    } catch (error) {
      throw this.#missingOr(error, "cannot read", display);
    }
    let stats: Stats;
    try {
      stats = await handle.stat();
      if (!stats.isFile()) {
        throw new VsnapError("FAILED_PRECONDITION", `${display} is not a snapshot file (not a regular file)`);
      }
      throwIfAborted(options.signal, `get ${display}`);
    } catch (error) {
      await handle.close().catch(() => {});
      throw fsError(error, "cannot read", display);
    }
    this.#openReads.add(handle);
    const release = async () => {
      if (this.#openReads.delete(handle)) await handle.close().catch(() => {});
    };
    return {
      info: this.#info(key, display, stats),
      // each read is a buffer of its own (file-body.ts)
      body: markTransient(fileBody(handle, display, options.signal, release)),
    };
  }

  async stat(key: string, options: OperationOptions = {}): Promise<ObjectInfo | undefined> {
    const file = this.#path(key, "stat");
    const display = containerUrl(file);
    throwIfAborted(options.signal, `stat ${display}`);
    try {
      const stats = await stat(file);
      return stats.isFile() ? this.#info(key, display, stats) : undefined;
    } catch (error) {
      const errno = errnoOf(error);
      if (errno === "ENOENT" || errno === "ENOTDIR") return undefined;
      throw fsError(error, "cannot stat", display);
    }
  }

  async *list(prefix = "", options: OperationOptions = {}): AsyncGenerator<ObjectInfo> {
    this.#assertOpen("list");
    throwIfAborted(options.signal, `list ${this.location}`);
    let names: string[];
    try {
      names = await readdir(this.#root);
    } catch (error) {
      // A directory nobody has written to yet holds no snapshots.
      if (errnoOf(error) === "ENOENT") return;
      throw fsError(error, "cannot list", this.location);
    }
    const candidates = names
      .filter((name) => name.startsWith(prefix) && name.endsWith(SNAPSHOT_SUFFIX))
      .sort();
    for (const name of candidates) {
      throwIfAborted(options.signal, `list ${this.location}`);
      const file = path.posix.join(this.#root, name);
      let stats: Stats;
      try {
        stats = await stat(file);
      } catch (error) {
        // deleted meanwhile, or a dangling symlink: not a snapshot
        if (errnoOf(error) === "ENOENT") continue;
        throw fsError(error, "cannot stat", containerUrl(file));
      }
      if (stats.isFile()) yield this.#info(name, containerUrl(file), stats);
    }
  }

  async delete(key: string, options: OperationOptions = {}): Promise<void> {
    const file = this.#path(key, "delete");
    const display = containerUrl(file);
    if (!key.endsWith(SNAPSHOT_SUFFIX)) {
      throw new VsnapError("INVALID_ARGUMENT", `refusing to delete ${display}: not a snapshot file`, {
        hint: `only ${SNAPSHOT_SUFFIX} files are deleted; remove anything else by hand`,
      });
    }
    throwIfAborted(options.signal, `delete ${display}`);
    let stats: Stats;
    try {
      stats = await stat(file);
    } catch (error) {
      const errno = errnoOf(error);
      if (errno === "ENOENT" || errno === "ENOTDIR") return;
      throw fsError(error, "cannot delete", display);
    }
    if (!stats.isFile()) {
      throw new VsnapError("FAILED_PRECONDITION", `refusing to delete ${display}: not a regular file`, {
        hint: "only snapshot files are deleted; remove anything else by hand",
      });
    }
    try {
      await unlink(file);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return;
      throw fsError(error, "cannot delete", display);
    }
  }

  /** Aborts puts still running (their part files are removed) and closes bodies never read to the end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new VsnapError("ABORTED", `store ${this.location} was closed`));
    await Promise.allSettled([...this.#pending]);
    const reads = [...this.#openReads];
    this.#openReads.clear();
    await Promise.allSettled(reads.map((handle) => handle.close()));
  }

  toString(): string {
    return `ContainerStore(${this.location})`;
  }

  toJSON(): { plugin: string; location: string } {
    return { plugin: "container", location: this.location };
  }

  [inspect.custom](): string {
    return this.toString();
  }

  #info(key: string, url: string, stats: Stats): ObjectInfo {
    return { key, url, size: stats.size, modified: stats.mtime };
  }

  #track<T>(operation: Promise<T>): Promise<T> {
    this.#pending.add(operation);
    const forget = () => this.#pending.delete(operation);
    operation.then(forget, forget);
    return operation;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) {
      throw new VsnapError("FAILED_PRECONDITION", `cannot ${operation}: store ${this.location} is closed`);
    }
  }

  /** The file a key names. Keys are plain file names: the store never reaches outside its root. */
  #path(key: string, operation: string): string {
    this.#assertOpen(operation);
    const bad = (why: string) =>
      new VsnapError(
        "INVALID_ARGUMENT",
        `${operation}: invalid snapshot key ${JSON.stringify(key)}: ${why}`,
        {
          hint: `a key is a file name in ${this.location}, e.g. my-snapshot${SNAPSHOT_SUFFIX}`,
        },
      );
    if (typeof key !== "string" || key === "") throw bad("a key is required");
    if (key.includes("/") || key.includes("\0")) throw bad("it must be a file name, without '/'");
    if (key === "." || key === "..") throw bad("it must be a file name");
    if (key.endsWith(PART_SUFFIX)) throw bad(`${PART_SUFFIX} files are unfinished writes, not snapshots`);
    return path.posix.join(this.#root, key);
  }

  #missingOr(error: unknown, action: string, display: string): VsnapError {
    const errno = errnoOf(error);
    if (errno === "ENOENT" || errno === "ENOTDIR") {
      return new VsnapError("NOT_FOUND", `snapshot ${display} does not exist`, {
        cause: error,
        hint: `check the path; list the snapshots there with: vsnap snapshot list ${this.location}`,
      });
    }
    return fsError(error, action, display);
  }
}
