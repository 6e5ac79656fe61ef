import { createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";
import { isNotFound, type Kube, kubeError } from "../client.js";

export const SNAPSHOT_GROUP = "snapshot.storage.k8s.io";
export const SNAPSHOT_VERSION = "v1";
export const SNAPSHOT_API_VERSION = `${SNAPSHOT_GROUP}/${SNAPSHOT_VERSION}`;

/** The parts of snapshot.storage.k8s.io/v1 objects vsnap reads and writes. */
export interface VolumeSnapshot {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: {
    volumeSnapshotClassName?: string;
    source: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string };
  };
  status?: {
    boundVolumeSnapshotContentName?: string;
    readyToUse?: boolean;
    restoreSize?: string;
    creationTime?: string;
    error?: { message?: string; time?: string };
  };
}

export interface VolumeSnapshotContent {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.V1ObjectMeta;
  spec: {
    deletionPolicy: "Delete" | "Retain";
    driver: string;
    source: { volumeHandle?: string; snapshotHandle?: string };
    sourceVolumeMode?: string;
    volumeSnapshotClassName?: string;
    volumeSnapshotRef: { apiVersion?: string; kind?: string; name: string; namespace: string; uid?: string };
  };
  status?: {
    snapshotHandle?: string;
    readyToUse?: boolean;
    restoreSize?: number;
    error?: { message?: string };
  };
}

export interface VolumeSnapshotClass {
  metadata: k8s.V1ObjectMeta;
  driver: string;
  deletionPolicy: "Delete" | "Retain";
}

const clients = new WeakMap<Kube, k8s.CustomObjectsApi>();
const merge = () => k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/** snapshot.storage.k8s.io/v1 through the custom-objects API (no generated client exists for it). */
export class SnapshotApi {
  readonly #custom: k8s.CustomObjectsApi;

  constructor(readonly kube: Kube) {
    let custom = clients.get(kube);
    if (!custom) {
      custom = kube.config.makeApiClient(k8s.CustomObjectsApi);
      clients.set(kube, custom);
    }
    this.#custom = custom;
  }

  async classes(): Promise<VolumeSnapshotClass[]> {
    try {
      const list = (await this.#custom.listClusterCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        plural: "volumesnapshotclasses",
      })) as {
        items: VolumeSnapshotClass[];
      };
      return list.items;
    } catch (error) {
      if (isNotFound(error))
        throw new VsnapError(
          "UNSUPPORTED",
          "this cluster does not serve snapshot.storage.k8s.io/v1 (VolumeSnapshot CRDs are not installed)",
          {
            hint: "install the CSI external-snapshotter's CRDs and snapshot-controller, or snapshot without --include-volumes",
          },
        );
      throw kubeError(error, "listing VolumeSnapshotClasses");
    }
  }

  async createSnapshot(namespace: string, body: VolumeSnapshot): Promise<VolumeSnapshot> {
    try {
      return (await this.#custom.createNamespacedCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        namespace,
        plural: "volumesnapshots",
        body: { apiVersion: SNAPSHOT_API_VERSION, kind: "VolumeSnapshot", ...body },
      })) as VolumeSnapshot;
    } catch (error) {
      throw kubeError(error, `creating VolumeSnapshot ${namespace}/${body.metadata.name}`);
    }
  }

  async getSnapshot(namespace: string, name: string): Promise<VolumeSnapshot | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        namespace,
        plural: "volumesnapshots",
        name,
      })) as VolumeSnapshot;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw kubeError(error, `reading VolumeSnapshot ${namespace}/${name}`);
    }
  }

  /** Idempotent. */
  async deleteSnapshot(namespace: string, name: string): Promise<void> {
    try {
      await this.#custom.deleteNamespacedCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        namespace,
        plural: "volumesnapshots",
        name,
      });
    } catch (error) {
      if (!isNotFound(error)) throw kubeError(error, `deleting VolumeSnapshot ${namespace}/${name}`);
    }
  }

  async createContent(body: VolumeSnapshotContent): Promise<VolumeSnapshotContent> {
    try {
      return (await this.#custom.createClusterCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        plural: "volumesnapshotcontents",
        body: { apiVersion: SNAPSHOT_API_VERSION, kind: "VolumeSnapshotContent", ...body },
      })) as VolumeSnapshotContent;
    } catch (error) {
      throw kubeError(error, `creating VolumeSnapshotContent ${body.metadata.name}`);
    }
  }

  async getContent(name: string): Promise<VolumeSnapshotContent | undefined> {
    try {
      return (await this.#custom.getClusterCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        plural: "volumesnapshotcontents",
        name,
      })) as VolumeSnapshotContent;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw kubeError(error, `reading VolumeSnapshotContent ${name}`);
    }
  }

  async setDeletionPolicy(name: string, deletionPolicy: "Delete" | "Retain"): Promise<void> {
    try {
      await this.#custom.patchClusterCustomObject(
        {
          group: SNAPSHOT_GROUP,
          version: SNAPSHOT_VERSION,
          plural: "volumesnapshotcontents",
          name,
          body: { spec: { deletionPolicy } },
        },
        merge(),
      );
    } catch (error) {
      if (!isNotFound(error))
        throw kubeError(error, `setting deletionPolicy ${deletionPolicy} on VolumeSnapshotContent ${name}`);
    }
  }

  /** Idempotent. */
  async deleteContent(name: string): Promise<void> {
    try {
      await this.#custom.deleteClusterCustomObject({
        group: SNAPSHOT_GROUP,
        version: SNAPSHOT_VERSION,
        plural: "volumesnapshotcontents",
        name,
      });
    } catch (error) {
      if (!isNotFound(error)) throw kubeError(error, `deleting VolumeSnapshotContent ${name}`);
    }
  }
}

/** A DNS-1123 name `<base>-<suffix>` of at most 253 characters (a hash keeps long ones unique). */
export function objectName(base: string, suffix: string, max = 253): string {
  const name = `${base}-${suffix}`.toLowerCase();
  if (name.length <= max) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
  return `${name.slice(0, max - 11).replace(/[-.]+$/, "")}-${hash}`;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new VsnapError("ABORTED", "aborted"));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason ?? new VsnapError("ABORTED", "aborted"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
