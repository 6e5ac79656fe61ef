import { createHash } from "node:crypto";
import { VsnapError } from "@vsnap/core";
import type { Kube } from "../client.js";
import { objectName, SnapshotApi, sleep } from "./api.js";
import type { VolumeTimings } from "./snapshot.js";
import { VOLUME_DELETE_LABEL, type VolumeSnapshotRecord } from "./types.js";

export interface DeleteVolumesInput extends VolumeTimings {
  readonly records: readonly VolumeSnapshotRecord[];
  /** Names and labels the temporary objects. */
  readonly deleteId: string;
  /** Namespace for the temporary VolumeSnapshots (the snapshot's own namespace may be gone). */
  readonly namespace: string;
  readonly signal?: AbortSignal;
}

export interface VolumeDeleteResult {
  readonly key: string;
  readonly snapshotHandle?: string;
  readonly phase: "Deleted" | "Gone" | "Skipped" | "Failed";
  readonly message: string;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/**
 * Deletes the backend snapshots a snapshot recorded. Kubernetes offers no "delete by handle": a
 * VolumeSnapshotContent with deletionPolicy Delete and a VolumeSnapshot bound to it are re-created
 * from the handle, then the VolumeSnapshot is deleted, so the snapshot-controller deletes the
 * content and the CSI driver the snapshot. A handle the driver no longer knows counts as gone.
 */
export async function deleteVolumeSnapshots(
  kube: Kube,
  input: DeleteVolumesInput,
): Promise<VolumeDeleteResult[]> {
  const api = new SnapshotApi(kube);
  return Promise.all(
    input.records.map(async (record): Promise<VolumeDeleteResult> => {
      const base = {
        key: record.key,
        ...(record.snapshotHandle ? { snapshotHandle: record.snapshotHandle } : {}),
      };
      if (record.phase !== "Completed" || !record.snapshotHandle || !record.csiDriver)
        return { ...base, phase: "Skipped", message: "no backend snapshot was taken" };
      try {
        return { ...base, ...(await deleteOne(api, input, record.snapshotHandle, record)) };
      } catch (error) {
        if (input.signal?.aborted) throw error;
        return { ...base, phase: "Failed", message: VsnapError.wrap(error, "INTERNAL").message };
      }
    }),
  );
}

async function deleteOne(
  api: SnapshotApi,
  input: DeleteVolumesInput,
  handle: string,
  record: VolumeSnapshotRecord,
): Promise<Pick<VolumeDeleteResult, "phase" | "message">> {
  const labels = { [VOLUME_DELETE_LABEL]: input.deleteId };
  const contentName = objectName(`vsnap-delete-${input.deleteId}`, hash(handle));
  const snapshotName = objectName(`vsnap-delete-${input.deleteId}`, hash(handle));
  const ns = input.namespace;
  await api.createContent({
    metadata: { name: contentName, labels },
    spec: {
      deletionPolicy: "Delete",
      driver: record.csiDriver ?? "",
      source: { snapshotHandle: handle },
      sourceVolumeMode: record.sourceVolumeMode ?? "Filesystem",
      ...(record.volumeSnapshotClassName ? { volumeSnapshotClassName: record.volumeSnapshotClassName } : {}),
      volumeSnapshotRef: { name: snapshotName, namespace: ns },
    },
  });
  try {
    await api.createSnapshot(ns, {
      metadata: { name: snapshotName, labels },
      spec: {
        ...(record.volumeSnapshotClassName
          ? { volumeSnapshotClassName: record.volumeSnapshotClassName }
          : {}),
        source: { volumeSnapshotContentName: contentName },
      },
    });
    const timeout = input.timeoutMs ?? 10 * 60_000;
    const started = Date.now();
    let gone = false;
    for (;;) {
      const content = await api.getContent(contentName);
      const error = content?.status?.error?.message ?? "";
      if (/not ?found/i.test(error)) {
        gone = true;
        break;
      }
      const vs = await api.getSnapshot(ns, snapshotName);
      if (vs?.status?.readyToUse === true) break;
      if (Date.now() - started > timeout)
        throw new VsnapError(
          "TIMEOUT",
          `the CSI driver did not confirm snapshot ${handle} within ${Math.round(timeout / 1000)}s${error ? ` (${error})` : ""}`,
        );
      await sleep(input.pollMs ?? 1000, input.signal);
    }
    await api.deleteSnapshot(ns, snapshotName);
    await api.deleteContent(contentName);
    // the content is gone only once the driver deleted the snapshot
    const started2 = Date.now();
    while (await api.getContent(contentName)) {
      if (Date.now() - started2 > (input.timeoutMs ?? 10 * 60_000))
        throw new VsnapError(
          "TIMEOUT",
          `VolumeSnapshotContent ${contentName} (snapshot ${handle}) was not deleted in time`,
        );
      await sleep(input.pollMs ?? 1000, input.signal);
    }
    return gone
      ? { phase: "Gone", message: `backend snapshot ${handle} was already gone` }
      : { phase: "Deleted", message: `deleted backend snapshot ${handle}` };
  } catch (error) {
    // never leave a Delete-policy content behind half-way: retaining is the safe failure
    await api.setDeletionPolicy(contentName, "Retain").catch(() => {});
    await api.deleteSnapshot(ns, snapshotName).catch(() => {});
    await api.deleteContent(contentName).catch(() => {});
    throw error;
  }
}
