import { hostname } from "node:os";
import type { Kube } from "./client.js";
import type { StoredRequest } from "./requests.js";

export const EVENT_CONTROLLER = "vsnap.dev/snapshot-controller";

export interface RequestEvent {
  readonly type: "Normal" | "Warning";
  /** CamelCase: SnapshotStarted, SnapshotCompleted, SnapshotFailed, SnapshotCanceled, ... */
  readonly reason: string;
  readonly action: string;
  readonly note: string;
}

/**
 * Records an events.k8s.io/v1 Event about a request ConfigMap (`kubectl get events` and
 * `kubectl describe cm` show it). Best effort: an event that cannot be written never fails work.
 */
export async function recordRequestEvent(
  kube: Kube,
  stored: StoredRequest,
  event: RequestEvent,
  instance = hostname(),
): Promise<boolean> {
  const now = new Date();
  try {
    await kube.events.createNamespacedEvent({
      namespace: stored.namespace,
      body: {
        metadata: { generateName: `${stored.name}.` },
        eventTime: now.toISOString() as unknown as Date,
        type: event.type,
        reason: event.reason,
        action: event.action,
        note: event.note.length > 1024 ? `${event.note.slice(0, 1021)}...` : event.note,
        reportingController: EVENT_CONTROLLER,
        reportingInstance: instance.slice(0, 128),
        regarding: {
          apiVersion: "v1",
          kind: "ConfigMap",
          name: stored.name,
          namespace: stored.namespace,
          uid: stored.uid,
        },
      },
    });
    return true;
  } catch {
    return false;
  }
}
