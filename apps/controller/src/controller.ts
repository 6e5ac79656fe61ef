import * as k8s from "@kubernetes/client-node";
import { type PluginRegistry, type SnapshotProgress, takeSnapshot, VsnapError } from "@vsnap/core";
import {
  compareRequests,
  deleteArchiveVolumes,
  deleteRequest,
  deleteRequestOptions,
  getRequest,
  isTerminal,
  type Kube,
  listRequests,
  REQUEST_LABEL,
  type RequestPhase,
  type RequestProgress,
  readRequestOptions,
  recordRequestEvent,
  type SnapshotRequest,
  type StatusUpdate,
  type StoredRequest,
  snapshotRequestVolumes,
  updateRequestStatus,
  VCLUSTER_NAME_LABEL,
  volumesOutcome,
  volumeTimingsFromEnv,
} from "@vsnap/kube";
import { backingSource } from "./backing.js";
import type { Logger } from "./log.js";
import type { ControllerSettings } from "./settings.js";
import { openRequestStore } from "./stores.js";
import { throttleStore } from "./throttle.js";
import { TOOL_VERSION } from "./version.js";

type StopReason = "canceled" | "deleted" | "shutdown" | "lease-lost";

interface Job {
  readonly name: string;
  readonly url: string;
  readonly abort: AbortController;
  reason?: StopReason;
  done?: Promise<void>;
}

export interface ControllerDeps {
  readonly settings: ControllerSettings;
  readonly kube: Kube;
  readonly registry: PluginRegistry;
  readonly log: Logger;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const BUSY_PHASES: readonly RequestPhase[] = ["CreatingEtcdBackup", "DeletingEtcdBackup", "Canceling"];
const now = () => new Date().toISOString();

/**
 * Turns request ConfigMaps into snapshots. One snapshot per URL at a time (a newer request for a
 * URL cancels older unfinished ones, aborting an upload in flight); different URLs run in
 * parallel up to `maxConcurrent`. Each running request carries a lease this controller renews;
 * a request whose lease lapsed was left by a controller that died and is retried from scratch
 * (up to `maxAttempts`) or failed with the reason. Terminal phases are final: no finalizer loop.
 */
export class SnapshotController {
  readonly #deps: ControllerDeps;
  readonly #jobs = new Map<string, Job>();
  readonly #busy = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #waiting = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #cleaned = new Set<string>();
  #informer?: k8s.Informer<k8s.V1ConfigMap>;
  #sweeper?: NodeJS.Timeout;
  #stopped = false;

  constructor(deps: ControllerDeps) {
    this.#deps = deps;
  }

  get #ns(): string {
    return this.#deps.settings.namespace;
  }

  async start(): Promise<void> {
    const { kube, settings, log } = this.#deps;
    const labelSelector = settings.vcluster
      ? `${REQUEST_LABEL},${VCLUSTER_NAME_LABEL}=${settings.vcluster}`
      : REQUEST_LABEL;
    const informer = k8s.makeInformer(
      kube.config,
      `/api/v1/namespaces/${this.#ns}/configmaps`,
      () => kube.core.listNamespacedConfigMap({ namespace: this.#ns, labelSelector }),
      labelSelector,
    );
    const onChange = (cm: k8s.V1ConfigMap) => cm.metadata?.name && this.enqueue(cm.metadata.name);
    informer.on("add", onChange);
    informer.on("update", onChange);
    informer.on("delete", onChange);
    informer.on("error", (error: unknown) => {
      if (this.#stopped) return;
      log.warn(
        `watch of request ConfigMaps failed (${(error as Error)?.message ?? error}); restarting in 2s`,
      );
      setTimeout(() => !this.#stopped && informer.start().catch(() => {}), 2_000);
    });
    this.#informer = informer;
    await informer.start();
    this.#sweeper = setInterval(() => void this.sweep(), settings.cleanupIntervalMs);
    void this.sweep();
    log.info(
      `serving snapshot requests in namespace ${this.#ns}${settings.vcluster ? ` for vCluster ${settings.vcluster}` : ""} as ${settings.identity}`,
    );
  }

  /** Graceful stop: in-flight work is aborted and its lease released, so the next controller retries at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    for (const t of this.#timers.values()) clearTimeout(t);
    await this.#informer?.stop();
    const running = [...this.#jobs.values()];
    for (const job of running) this.#abort(job, "shutdown");
    await Promise.all(running.map((j) => j.done));
  }

  /** Reconciles `name` (after `delayMs`); reconciles of one name never overlap. */
  enqueue(name: string, delayMs = 0): void {
    if (this.#stopped) return;
    if (delayMs > 0) {
      clearTimeout(this.#timers.get(name));
      this.#timers.set(
        name,
        setTimeout(() => {
          this.#timers.delete(name);
          this.enqueue(name);
        }, delayMs),
      );
      return;
    }
    if (this.#busy.has(name)) {
      this.#dirty.add(name);
      return;
    }
    this.#busy.add(name);
    void this.#reconcile(name)
      .catch((error: unknown) => {
        this.#deps.log.error(`request ${this.#ns}/${name}: ${(error as Error).message}`);
        this.enqueue(name, 5_000);
      })
      .finally(() => {
        this.#busy.delete(name);
        if (this.#dirty.delete(name)) this.enqueue(name);
      });
  }

  async #reconcile(name: string): Promise<void> {
    const { kube, settings, log } = this.#deps;
    const stored = await getRequest(kube, this.#ns, name).catch((error: unknown) => {
      if (VsnapError.is(error, "INVALID_ARGUMENT")) {
        log.warn(error.message);
        return null;
      }
      throw error;
    });
    if (stored === null) return;
    const job = this.#jobs.get(name);
    if (!stored || stored.deleting) {
      // deleted by a user: stop its work, and its credentials go with it
      if (job) this.#abort(job, "deleted");
      await deleteRequestOptions(kube, this.#ns, name);
      return;
    }
    if (settings.verbose) log.info(`reconcile ${name} phase=${JSON.stringify(stored.request.status.phase)}`);
    const phase = stored.request.status.phase;
    if (isTerminal(phase)) {
      if (!this.#cleaned.has(name)) {
        await deleteRequestOptions(kube, this.#ns, name);
        this.#cleaned.add(name);
      }
      return;
    }
    switch (phase) {
      case "Canceling":
        if (job) return this.#abort(job, "canceled");
        if (this.#leaseValid(stored)) return this.enqueue(name, this.#leaseRemaining(stored) + 100);
        await this.#finish(stored, { phase: "Canceled", completionTime: now(), lease: undefined });
        await this.#event(stored, "Normal", "SnapshotCanceled", "Cancel", this.#canceledNote(stored));
        return;
      case "":
      case "Deleting":
        return this.#startIfPossible(stored);
      case "CreatingEtcdBackup":
      case "DeletingEtcdBackup":
        if (job) return;
        return this.#recover(stored);
      default:
        await this.#finish(stored, {
          phase: "Failed",
          error: { message: `invalid snapshot request phase "${String(phase)}"` },
          completionTime: now(),
        });
    }
  }

  #leaseValid(stored: StoredRequest): boolean {
    return this.#leaseRemaining(stored) > 0;
  }

  #leaseRemaining(stored: StoredRequest): number {
    const lease = stored.request.status.lease;
    if (!lease || lease.holder === this.#deps.settings.identity) return 0;
    return Date.parse(lease.renewTime) + lease.durationSeconds * 1000 - Date.now();
  }

  /** Is another request for this URL running, or must this one wait for a free slot? */
  async #mustWait(stored: StoredRequest, all: StoredRequest[]): Promise<boolean> {
    const url = stored.request.spec.url;
    const sameUrlBusy = all.some(
      (o) =>
        o.name !== stored.name && o.request.spec.url === url && BUSY_PHASES.includes(o.request.status.phase),
    );
    const localSameUrl = [...this.#jobs.values()].some((j) => j.url === url && j.name !== stored.name);
    if (sameUrlBusy || localSameUrl || this.#jobs.size >= this.#deps.settings.maxConcurrent) {
      this.#waiting.add(stored.name);
      // a busy request held by a controller that died is recovered by its own reconcile; look again later
      this.enqueue(stored.name, 10_000);
      return true;
    }
    this.#waiting.delete(stored.name);
    return false;
  }

  async #startIfPossible(stored: StoredRequest): Promise<void> {
    const { kube, settings } = this.#deps;
    const all = await listRequests(kube, this.#ns, settings.vcluster ? { vcluster: settings.vcluster } : {});
    if (stored.request.spec.operation === "snapshot") {
      const newer = all.find(
        (o) =>
          o.request.spec.url === stored.request.spec.url &&
          o.request.spec.operation === "snapshot" &&
          !isTerminal(o.request.status.phase) &&
          o.request.status.phase !== "Canceling" &&
          compareRequests(o, stored) > 0,
      );
      if (newer) {
        await this.#finish(stored, { phase: "Canceled", canceledBy: newer.name, completionTime: now() });
        await this.#event(
          stored,
          "Normal",
          "SnapshotCanceled",
          "Cancel",
          this.#canceledNote({
            ...stored,
            request: { ...stored.request, status: { ...stored.request.status, canceledBy: newer.name } },
          }),
        );
        return;
      }
      for (const older of all) {
        if (
          older.name === stored.name ||
          older.request.spec.url !== stored.request.spec.url ||
          older.request.spec.operation !== "snapshot" ||
          compareRequests(older, stored) >= 0 ||
          (older.request.status.phase !== "" && older.request.status.phase !== "CreatingEtcdBackup")
        )
          continue;
        await this.#cancel(older, stored.name);
      }
    }
    const fresh = await listRequests(
      kube,
      this.#ns,
      settings.vcluster ? { vcluster: settings.vcluster } : {},
    );
    if (await this.#mustWait(stored, fresh)) return;
    await this.#claim(stored, (stored.request.status.attempts ?? 0) + 1);
  }

  async #cancel(older: StoredRequest, by: string): Promise<void> {
    const { log, kube } = this.#deps;
    let target: StoredRequest | undefined = older;
    // the older request's own heartbeat may write between our read and our write: re-read and retry
    for (let attempt = 0; target && attempt < 10; attempt++) {
      const phase = target.request.status.phase;
      if (phase !== "" && phase !== "CreatingEtcdBackup") return;
      try {
        const canceling = await updateRequestStatus(kube, target, { phase: "Canceling", canceledBy: by });
        log.info(`request ${older.name}: canceled by newer request ${by} for the same URL`);
        await this.#event(
          canceling,
          "Normal",
          "SnapshotCanceling",
          "Cancel",
          `a newer request (${by}) for ${older.request.spec.display} replaces this one`,
        );
        const job = this.#jobs.get(older.name);
        if (job) this.#abort(job, "canceled");
        else this.enqueue(older.name);
        return;
      } catch (error) {
        if (VsnapError.is(error, "NOT_FOUND")) return;
        if (!VsnapError.is(error, "CONFLICT")) throw error;
        target = await getRequest(kube, this.#ns, older.name);
      }
    }
    if (target) this.enqueue(older.name);
  }

  /** A request left busy with no job here: wait out a live lease, then retry or fail it. */
  async #recover(stored: StoredRequest): Promise<void> {
    const { settings } = this.#deps;
    if (this.#leaseValid(stored)) return this.enqueue(stored.name, this.#leaseRemaining(stored) + 100);
    const attempts = stored.request.status.attempts ?? 1;
    const lease = stored.request.status.lease;
    const why = lease
      ? `controller ${lease.holder} stopped renewing its lease at ${lease.renewTime} (it crashed or was killed, e.g. out of memory)`
      : "the controller working on it was stopped";
    const what = stored.request.spec.operation === "delete" ? "deletion" : "snapshot";
    if (attempts >= settings.maxAttempts) {
      const message = `${what} interrupted: ${why}; giving up after ${attempts} attempt${attempts === 1 ? "" : "s"}`;
      await this.#finish(stored, {
        phase: "Failed",
        error: { message },
        completionTime: now(),
        lease: undefined,
      });
      await this.#event(stored, "Warning", "SnapshotFailed", "Recover", message);
      return;
    }
    const all = await listRequests(
      this.#deps.kube,
      this.#ns,
      settings.vcluster ? { vcluster: settings.vcluster } : {},
    );
    if (
      await this.#mustWait(
        stored,
        all.filter((o) => o.name !== stored.name),
      )
    )
      return;
    const claimed = await this.#claim(stored, attempts + 1, false);
    if (claimed)
      await this.#event(
        claimed,
        "Warning",
        "SnapshotRetried",
        "Recover",
        `${why}; retrying the ${what} from scratch (attempt ${attempts + 1} of ${settings.maxAttempts})`,
      );
  }

  async #claim(stored: StoredRequest, attempt: number, announce = true): Promise<StoredRequest | undefined> {
    const { log } = this.#deps;
    const deleting = stored.request.spec.operation === "delete";
    let claimed: StoredRequest;
    try {
      claimed = await updateRequestStatus(this.#deps.kube, stored, {
        phase: deleting ? "DeletingEtcdBackup" : "CreatingEtcdBackup",
        attempts: attempt,
        lease: this.#lease(),
        startTime: now(),
        error: {},
        progress: undefined,
      });
    } catch (error) {
      if (VsnapError.is(error, "CONFLICT")) {
        this.enqueue(stored.name);
        return undefined;
      }
      throw error;
    }
    this.#waiting.delete(stored.name);
    log.info(
      `request ${claimed.name}: ${deleting ? "deleting" : "snapshotting to"} ${claimed.request.spec.display} (attempt ${attempt})`,
    );
    if (announce)
      await this.#event(
        claimed,
        "Normal",
        deleting ? "DeletionStarted" : "SnapshotStarted",
        deleting ? "Delete" : "Snapshot",
        `${deleting ? "deleting" : "snapshotting to"} ${claimed.request.spec.display}`,
      );
    const job: Job = { name: claimed.name, url: claimed.request.spec.url, abort: new AbortController() };
    this.#jobs.set(job.name, job);
    job.done = this.#run(job, claimed);
    return claimed;
  }

  #lease() {
    const { settings } = this.#deps;
    return {
      holder: settings.identity,
      renewTime: now(),
      durationSeconds: Math.ceil(settings.leaseDurationMs / 1000),
    };
  }

  #abort(job: Job, reason: StopReason): void {
    job.reason ??= reason;
    job.abort.abort(new VsnapError("ABORTED", `snapshot request ${job.name}: ${reason}`));
  }

  async #run(job: Job, claimed: StoredRequest): Promise<void> {
    const { kube, settings, registry, env, log } = this.#deps;
    const writer = new StatusWriter(
      kube,
      claimed,
      settings.identity,
      (reason) => this.#abort(job, reason),
      log,
    );
    const started = Date.now();
    let latest: SnapshotProgress | undefined;
    let lastProgressWrite = 0;
    const progressOf = (p: SnapshotProgress): RequestProgress => ({
      keys: p.keys,
      bytes: p.bytes,
      ...(p.totalKeys === undefined ? {} : { totalKeys: p.totalKeys }),
      ...(p.totalBytes === undefined ? {} : { totalBytes: p.totalBytes }),
      archiveBytes: p.archiveBytes,
      bytesPerSecond: Math.round(p.archiveBytes / Math.max(0.001, (Date.now() - started) / 1000)),
      updatedAt: now(),
    });
    const heartbeat = setInterval(
      () => {
        lastProgressWrite = Date.now();
        writer.write({ lease: this.#lease(), ...(latest ? { progress: progressOf(latest) } : {}) });
      },
      Math.max(200, Math.floor(settings.leaseDurationMs / 3)),
    );
    const request = claimed.request;
    try {
      const options = await readRequestOptions(kube, this.#ns, job.name);
      if (!options)
        throw new VsnapError(
          "FAILED_PRECONDITION",
          `can't find snapshot request Secret ${this.#ns}/${job.name}`,
          {
            hint: "its store options (and credentials) are gone; create the request again",
          },
        );
      const opened = await openRequestStore(registry, request, options, env);
      try {
        if (request.spec.operation === "delete") {
          // issue 7: the archive is the only record of its volume snapshots: delete those first
          await deleteArchiveVolumes(kube, opened.store, opened.location.key, {
            ...volumeTimingsFromEnv(env),
            namespace: this.#ns,
            signal: job.abort.signal,
          });
          await opened.store.delete(opened.location.key, { signal: job.abort.signal });
          await writer.finish({ phase: "Deleted", completionTime: now(), lease: undefined });
          log.info(`request ${job.name}: deleted ${request.spec.display}`);
          await this.#event(
            writer.current,
            "Normal",
            "SnapshotDeleted",
            "Delete",
            `deleted ${request.spec.display}`,
          );
          return;
        }
        // issue 7: CSI volume snapshots (--include-volumes) come before the backing store is read
        const volumes = await snapshotRequestVolumes(kube, request, {
          ...volumeTimingsFromEnv(env),
          signal: job.abort.signal,
          onStatus: (volumeSnapshots) => writer.write({ volumeSnapshots, lease: this.#lease() }),
        });
        const source = await backingSource(settings, options.backingStore);
        const store = throttleStore(opened.store, settings.maxUploadRate);
        const { info, manifest } = await takeSnapshot({
          source,
          store,
          key: opened.location.key,
          metadata: {
            ...(options.release ? { release: options.release } : {}),
            request: archivedRequest(request),
            ...(options.vclusterConfig ? { vclusterConfig: options.vclusterConfig } : {}),
            ...(volumes ? { volumes: volumes.records } : {}),
          },
          toolVersion: TOOL_VERSION,
          ...(settings.compressionLevel ? { compressionLevel: settings.compressionLevel } : {}),
          signal: job.abort.signal,
          onProgress: (p) => {
            latest = p;
            if (Date.now() - lastProgressWrite >= settings.progressIntervalMs) {
              lastProgressWrite = Date.now();
              writer.write({ progress: progressOf(p), lease: this.#lease() });
            }
          },
        });
        const seconds = (Date.now() - started) / 1000;
        await writer.finish({
          ...volumesOutcome(volumes),
          ...(volumes ? { volumeSnapshots: volumes.status } : {}),
          completionTime: now(),
          lease: undefined,
          ...(latest ? { progress: progressOf({ ...latest, archiveBytes: info.size }) } : {}),
          result: {
            size: info.size,
            keys: manifest.keys,
            bytes: manifest.bytes,
            sha256: manifest.sha256,
            ...(manifest.revision === undefined ? {} : { revision: manifest.revision }),
            backingStore: manifest.backingStore,
          },
        });
        const note = `saved ${manifest.keys} keys (${manifest.bytes} bytes, archive ${info.size} bytes) from ${source.description} to ${request.spec.display} in ${seconds.toFixed(1)}s`;
        log.info(`request ${job.name}: ${note}`);
        const partial = volumesOutcome(volumes).error.message;
        if (partial)
          await this.#event(
            writer.current,
            "Warning",
            "SnapshotPartiallyFailed",
            "Snapshot",
            `${note}; ${partial}`,
          );
        else await this.#event(writer.current, "Normal", "SnapshotCompleted", "Snapshot", note);
      } finally {
        await opened.store.close().catch(() => {});
      }
    } catch (error) {
      await this.#stopped_(job, writer, error);
    } finally {
      clearInterval(heartbeat);
      await writer.idle();
      this.#jobs.delete(job.name);
      if (isTerminal(writer.current.request.status.phase)) {
        await deleteRequestOptions(kube, this.#ns, job.name).catch(() => {});
        this.#cleaned.add(job.name);
      }
      for (const name of this.#waiting) this.enqueue(name);
    }
  }

  async #stopped_(job: Job, writer: StatusWriter, error: unknown): Promise<void> {
    const { log } = this.#deps;
    switch (job.reason) {
      case "canceled": {
        await writer.finish({ phase: "Canceled", completionTime: now(), lease: undefined });
        log.info(
          `request ${job.name}: canceled; nothing was written to ${writer.current.request.spec.display}`,
        );
        await this.#event(
          writer.current,
          "Normal",
          "SnapshotCanceled",
          "Cancel",
          this.#canceledNote(writer.current),
        );
        return;
      }
      case "shutdown": {
        // not a crash: give the attempt back and free the lease so the next controller starts at once
        const attempts = Math.max(0, (writer.current.request.status.attempts ?? 1) - 1);
        await writer.finish({ lease: undefined, attempts, progress: undefined });
        log.info(`request ${job.name}: interrupted by shutdown; released for the next controller`);
        return;
      }
      case "deleted":
      case "lease-lost":
        log.info(`request ${job.name}: stopped (${job.reason})`);
        return;
      default: {
        const wrapped = VsnapError.wrap(error, "INTERNAL");
        const message = wrapped.hint ? `${wrapped.message} (${wrapped.hint})` : wrapped.message;
        log.error(`request ${job.name}: failed: ${message}`);
        await writer.finish({ phase: "Failed", error: { message }, completionTime: now(), lease: undefined });
        await this.#event(writer.current, "Warning", "SnapshotFailed", "Snapshot", message);
      }
    }
  }

  #canceledNote(stored: StoredRequest): string {
    const by = stored.request.status.canceledBy;
    return `canceled${by ? ` by newer request ${by}` : ""}; nothing was written to ${stored.request.spec.display} by this request`;
  }

  async #finish(stored: StoredRequest, update: StatusUpdate): Promise<void> {
    try {
      await updateRequestStatus(this.#deps.kube, stored, update);
    } catch (error) {
      if (VsnapError.is(error, "CONFLICT")) this.enqueue(stored.name);
      else if (!VsnapError.is(error, "NOT_FOUND")) throw error;
    }
  }

  async #event(
    stored: StoredRequest,
    type: "Normal" | "Warning",
    reason: string,
    action: string,
    note: string,
  ): Promise<void> {
    await recordRequestEvent(
      this.#deps.kube,
      stored,
      { type, reason, action, note },
      this.#deps.settings.identity,
    );
  }

  /** Deletes finished requests older than the TTL (and any options Secret they still have). */
  async sweep(): Promise<number> {
    const { kube, settings, log } = this.#deps;
    let removed = 0;
    try {
      const all = await listRequests(
        kube,
        this.#ns,
        settings.vcluster ? { vcluster: settings.vcluster } : {},
      );
      for (const r of all) {
        if (!isTerminal(r.request.status.phase)) continue;
        const finished = Date.parse(
          r.request.status.completionTime ?? r.request.metadata.creationTimestamp ?? "",
        );
        if (Number.isNaN(finished) || Date.now() - finished < settings.requestTtlMs) continue;
        await deleteRequestOptions(kube, this.#ns, r.name);
        await deleteRequest(kube, this.#ns, r.name);
        this.#cleaned.delete(r.name);
        removed++;
        log.info(`request ${r.name}: removed (finished ${new Date(finished).toISOString()}, TTL expired)`);
      }
    } catch (error) {
      log.warn(`cleanup failed: ${(error as Error).message}`);
    }
    return removed;
  }
}

/** The request as the archive records it: vCluster's shape, phase as it was while running. */
function archivedRequest(request: SnapshotRequest): SnapshotRequest {
  return {
    metadata: request.metadata,
    spec: request.spec,
    status: { phase: "CreatingEtcdBackup", error: {} },
  };
}

/**
 * Serialises a job's status writes. Each write is conditional on the version last seen; on a
 * conflict it re-reads: a request now Canceling or deleted stops the job, a lease taken by
 * another controller stops it too (it must not keep writing), anything else is retried.
 */
class StatusWriter {
  #chain: Promise<void> = Promise.resolve();
  current: StoredRequest;

  constructor(
    private readonly kube: Kube,
    initial: StoredRequest,
    private readonly identity: string,
    private readonly stop: (reason: StopReason) => void,
    private readonly log: Logger,
  ) {
    this.current = initial;
  }

  write(update: StatusUpdate): void {
    this.#chain = this.#chain.then(() => this.#apply(update, false));
  }

  finish(update: StatusUpdate): Promise<void> {
    this.#chain = this.#chain.then(() => this.#apply(update, true));
    return this.#chain;
  }

  idle(): Promise<void> {
    return this.#chain;
  }

  async #apply(update: StatusUpdate, final: boolean): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        this.current = await updateRequestStatus(this.kube, this.current, update);
        return;
      } catch (error) {
        if (VsnapError.is(error, "NOT_FOUND")) return this.stop("deleted");
        if (!VsnapError.is(error, "CONFLICT")) {
          this.log.warn(`request ${this.current.name}: status write failed: ${(error as Error).message}`);
          return;
        }
        const fresh = await getRequest(this.kube, this.current.namespace, this.current.name).catch(
          () => undefined,
        );
        if (!fresh || fresh.deleting) return this.stop("deleted");
        const holder = fresh.request.status.lease?.holder;
        if (holder && holder !== this.identity) return this.stop("lease-lost");
        if (fresh.request.status.phase === "Canceling" && !final) {
          this.current = fresh;
          return this.stop("canceled");
        }
        this.current = fresh;
      }
    }
  }
}
