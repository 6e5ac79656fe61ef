import { randomUUID } from "node:crypto";
import { ApiError } from "../errors.js";
import type { ResourceType } from "../resources.js";
import type { KubeObject } from "../selectors.js";
import type { ControllerContext, SimulatedController } from "../server.js";
import type { ObjectStore } from "../store.js";
import { WorkQueue } from "./queue.js";

type Obj = Record<string, unknown>;
const at = (o: unknown, ...path: string[]): unknown => {
  let cur = o;
  for (const p of path) cur = typeof cur === "object" && cur !== null ? (cur as Obj)[p] : undefined;
  return cur;
};
const str = (v: unknown) => (typeof v === "string" ? v : "");

/** The CSI driver the fake serves unless told otherwise. */
export const FAKE_CSI_DRIVER = "hostpath.csi.fake.vsnap.dev";
/** On a PVC: the driver's CreateSnapshot fails with this message (failures on demand). */
export const FAIL_SNAPSHOT_ANNOTATION = "csi.fake.vsnap.dev/fail-snapshot";
/** On a PV: stands for the volume's content; snapshots copy it and volumes restored from them get it. */
export const VOLUME_DATA_ANNOTATION = "csi.fake.vsnap.dev/data";
export const DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class";

export interface CsiControllerOptions {
  /** Drivers with a simulated CSI plugin + external-snapshotter sidecar (default: FAKE_CSI_DRIVER). */
  readonly drivers?: readonly string[];
  /** How long a CreateSnapshot takes before the snapshot is readyToUse (default 200 ms). */
  readonly readyDelayMs?: number;
}

interface Types {
  pvc: ResourceType;
  pv: ResourceType;
  sc?: ResourceType;
  vs: ResourceType;
  vsc: ResourceType;
  vsclass: ResourceType;
  backend: ResourceType;
}

/**
 * Stands in for the CSI external-snapshotter (snapshot-controller + csi-snapshotter sidecar), the
 * external-provisioner and the PV binder, for drivers in `drivers`:
 * - dynamic VolumeSnapshots of bound CSI PVCs get a VolumeSnapshotContent (policy from the class,
 *   or the driver's default class) and, after `readyDelayMs`, a snapshot in the backend
 *   (a BackendSnapshot object named by its handle) and readyToUse;
 * - pre-provisioned contents (`source.snapshotHandle`) are checked against the backend, and their
 *   VolumeSnapshot bound;
 * - deleting a VolumeSnapshot deletes its content when the policy is Delete; deleting a content
 *   with policy Delete deletes the backend snapshot (Retain keeps it);
 * - PVCs are bound: to `spec.volumeName`, or to a new PV provisioned from a StorageClass whose
 *   provisioner is a served driver, or from a `dataSource` VolumeSnapshot (restore).
 * PVC annotation FAIL_SNAPSHOT_ANNOTATION makes CreateSnapshot fail with its value.
 */
export function csiController(options: CsiControllerOptions = {}): SimulatedController {
  const drivers = new Set(options.drivers ?? [FAKE_CSI_DRIVER]);
  const readyDelay = options.readyDelayMs ?? 200;
  const abort = new AbortController();
  let queue: WorkQueue | undefined;
  return {
    name: "csi",
    async start(ctx: ControllerContext) {
      const lookup = (g: string, v: string, p: string) => {
        const rt = ctx.resources.lookup(g, v, p);
        if (!rt)
          throw new Error(
            `the CSI controller needs ${p}.${g || "core"} registered (use storageResourceRegistry())`,
          );
        return rt;
      };
      const t: Types = {
        pvc: lookup("", "v1", "persistentvolumeclaims"),
        pv: lookup("", "v1", "persistentvolumes"),
        vs: lookup("snapshot.storage.k8s.io", "v1", "volumesnapshots"),
        vsc: lookup("snapshot.storage.k8s.io", "v1", "volumesnapshotcontents"),
        vsclass: lookup("snapshot.storage.k8s.io", "v1", "volumesnapshotclasses"),
        backend: lookup("csi.fake.vsnap.dev", "v1", "backendsnapshots"),
        ...(ctx.resources.lookup("storage.k8s.io", "v1", "storageclasses")
          ? { sc: ctx.resources.lookup("storage.k8s.io", "v1", "storageclasses") }
          : {}),
      };
      const r = new Reconciler(
        ctx.store,
        t,
        drivers,
        readyDelay,
        (k, ms) => q.addAfter(k, ms),
        (k) => q.add(k),
      );
      const q = new WorkQueue(
        (key) => r.reconcile(key),
        (key, e) => {
          ctx.log(`csi: ${key}: ${(e as Error).message}`);
          q.addAfter(key, 500);
        },
      );
      queue = q;
      const watch = async (rt: ResourceType, kind: string) =>
        ctx.store.watch(rt, undefined, { signal: abort.signal }, (event) => {
          if (event.type === "ERROR" || event.type === "BOOKMARK") return;
          const o = event.object as KubeObject;
          const key = `${kind}/${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;
          if (event.type === "DELETED") r.deleted(kind, o);
          q.add(key);
          // a snapshot becoming ready unblocks PVCs restored from it
          if (kind === "vs") q.add(`pvcs-in/${o.metadata.namespace ?? ""}/`);
        });
      await watch(t.vsc, "vsc");
      await watch(t.vs, "vs");
      await watch(t.pvc, "pvc");
    },
    async stop() {
      abort.abort();
      await queue?.stop();
    },
  };
}

class Reconciler {
  constructor(
    private readonly store: ObjectStore,
    private readonly t: Types,
    private readonly drivers: Set<string>,
    private readonly readyDelay: number,
    private readonly later: (key: string, ms: number) => void,
    private readonly now: (key: string) => void,
  ) {}

  async reconcile(key: string): Promise<void> {
    const [kind, ns, name] = key.split("/") as [string, string, string];
    if (kind === "vs") return this.#volumeSnapshot(ns, name);
    if (kind === "vs-ready") return this.#snapshotTaken(ns, name);
    if (kind === "vsc") return this.#content(name);
    if (kind === "pvc") return this.#claim(ns, name);
    if (kind === "pvcs-in") {
      for (const pvc of (await this.store.list(this.t.pvc, ns)).items)
        if (at(pvc, "status", "phase") !== "Bound") this.now(`pvc/${ns}/${pvc.metadata.name}`);
    }
    if (kind === "vs-deleted") await this.#maybeDeleteContent(name);
    if (kind === "pvc-deleted") {
      for (const pv of (await this.store.list(this.t.pv, undefined)).items)
        if (
          at(pv, "spec", "claimRef", "uid") === name &&
          at(pv, "spec", "persistentVolumeReclaimPolicy") === "Delete"
        )
          await this.#remove(this.t.pv, undefined, pv.metadata.name ?? "");
    }
    if (kind === "delete-vsc") await this.#remove(this.t.vsc, undefined, name);
    if (kind === "delete-backend") await this.#remove(this.t.backend, undefined, name);
  }

  /** Deletions need the object as it was: what it was bound to and its deletion policy. */
  deleted(kind: string, o: KubeObject): void {
    if (kind === "vs") {
      const content =
        str(at(o, "status", "boundVolumeSnapshotContentName")) ||
        str(at(o, "spec", "source", "volumeSnapshotContentName"));
      // the snapshot-controller deletes a bound content whose policy is Delete; Retain keeps it
      if (content) this.now(`vs-deleted//${content}`);
    }
    // reclaim policy Delete: a provisioned volume goes with its claim
    if (kind === "pvc" && o.metadata.uid) this.now(`pvc-deleted//${o.metadata.uid}`);
    if (kind === "vsc" && at(o, "spec", "deletionPolicy") === "Delete") {
      const handle = str(at(o, "status", "snapshotHandle")) || str(at(o, "spec", "source", "snapshotHandle"));
      if (handle) this.now(`delete-backend//${handle}`);
    }
  }

  async #maybeDeleteContent(name: string): Promise<void> {
    if (!name) return;
    const content = await this.#get(this.t.vsc, undefined, name);
    if (content && at(content, "spec", "deletionPolicy") === "Delete") this.now(`delete-vsc//${name}`);
  }

  async #get(rt: ResourceType, ns: string | undefined, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.store.get(rt, ns, name);
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return undefined;
      throw error;
    }
  }

  async #remove(rt: ResourceType, ns: string | undefined, name: string): Promise<void> {
    await this.store.delete(rt, ns, name).catch((e: unknown) => {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    });
  }

  async #status(rt: ResourceType, ns: string | undefined, name: string, status: Obj): Promise<void> {
    await this.store.update(
      rt,
      ns,
      name,
      (o) => ({ ...o, status: { ...((o.status as Obj) ?? {}), ...status } }),
      { subresource: "status" },
    );
  }

  async #failSnapshot(vs: KubeObject, message: string, content?: string): Promise<void> {
    const error = { message, time: new Date().toISOString() };
    if (content) await this.#status(this.t.vsc, undefined, content, { readyToUse: false, error });
    await this.#status(this.t.vs, vs.metadata.namespace, vs.metadata.name ?? "", {
      readyToUse: false,
      error,
      ...(content ? { boundVolumeSnapshotContentName: content } : {}),
    });
  }

  async #volumeSnapshot(ns: string, name: string): Promise<void> {
    const vs = await this.#get(this.t.vs, ns, name);
    if (!vs || vs.metadata.deletionTimestamp) return;
    const status = (vs.status ?? {}) as Obj;
    const contentName = str(at(vs, "spec", "source", "volumeSnapshotContentName"));
    if (contentName) return this.#bindPreProvisioned(vs, contentName);
    if (status.readyToUse === true || status.error || status.boundVolumeSnapshotContentName) return;
    const claimName = str(at(vs, "spec", "source", "persistentVolumeClaimName"));
    const pvc = await this.#get(this.t.pvc, ns, claimName);
    if (!pvc)
      return this.#failSnapshot(
        vs,
        `failed to get input parameters to create snapshot ${name}: "persistentvolumeclaims \\"${claimName}\\" not found"`,
      );
    if (at(pvc, "status", "phase") !== "Bound" || !at(pvc, "spec", "volumeName"))
      return this.#failSnapshot(
        vs,
        `the PVC ${claimName} is not yet bound to a PV, will not attempt to take a snapshot`,
      );
    const pv = await this.#get(this.t.pv, undefined, str(at(pvc, "spec", "volumeName")));
    const driver = str(at(pv, "spec", "csi", "driver"));
    if (!pv || !driver)
      return this.#failSnapshot(
        vs,
        `the volume of PVC ${claimName} is not a CSI volume; it cannot be snapshotted`,
      );
    if (!this.drivers.has(driver)) return; // no snapshotter for this driver: stays pending, as in a real cluster
    const className = str(at(vs, "spec", "volumeSnapshotClassName"));
    const classes = (await this.store.list(this.t.vsclass, undefined)).items;
    const cls = className
      ? classes.find((c) => c.metadata.name === className)
      : classes.find(
          (c) => c.driver === driver && c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true",
        );
    if (!cls)
      return this.#failSnapshot(
        vs,
        className
          ? `volumesnapshotclass.snapshot.storage.k8s.io "${className}" not found`
          : `cannot find default snapshot class for driver ${driver}`,
      );
    if (cls.driver !== driver)
      return this.#failSnapshot(
        vs,
        `snapshot class ${cls.metadata.name} is for driver ${String(cls.driver)}, not ${driver}`,
      );
    const content = `snapcontent-${vs.metadata.uid}`;
    await this.store
      .create(this.t.vsc, undefined, {
        metadata: { name: content },
        spec: {
          deletionPolicy: cls.deletionPolicy,
          driver,
          source: { volumeHandle: str(at(pv, "spec", "csi", "volumeHandle")) },
          sourceVolumeMode: str(at(pv, "spec", "volumeMode")) || "Filesystem",
          volumeSnapshotClassName: cls.metadata.name,
          volumeSnapshotRef: {
            apiVersion: "snapshot.storage.k8s.io/v1",
            kind: "VolumeSnapshot",
            name,
            namespace: ns,
            uid: vs.metadata.uid,
          },
        },
      })
      .catch((e: unknown) => {
        if (!(e instanceof ApiError && e.code === 409)) throw e;
      });
    const failure = pvc.metadata.annotations?.[FAIL_SNAPSHOT_ANNOTATION];
    if (failure !== undefined) {
      const handle = str(at(pv, "spec", "csi", "volumeHandle"));
      return this.#failSnapshot(
        vs,
        `Failed to check and update snapshot content: failed to take snapshot of the volume ${handle}: "rpc error: code = Internal desc = ${failure}"`,
        content,
      );
    }
    await this.#status(this.t.vs, ns, name, { boundVolumeSnapshotContentName: content, readyToUse: false });
    this.later(`vs-ready/${ns}/${name}`, this.readyDelay);
  }

  /** The driver's CreateSnapshot finished: the backend holds the snapshot; content and snapshot are ready. */
  async #snapshotTaken(ns: string, name: string): Promise<void> {
    const vs = await this.#get(this.t.vs, ns, name);
    const contentName = str(at(vs, "status", "boundVolumeSnapshotContentName"));
    if (!vs || !contentName || at(vs, "status", "readyToUse") === true) return;
    const content = await this.#get(this.t.vsc, undefined, contentName);
    if (!content) return;
    const volumeHandle = str(at(content, "spec", "source", "volumeHandle"));
    const pvs = (await this.store.list(this.t.pv, undefined)).items;
    const pv = pvs.find((p) => at(p, "spec", "csi", "volumeHandle") === volumeHandle);
    const size = str(at(pv, "spec", "capacity", "storage")) || "1Gi";
    const handle = `snap-${randomUUID()}`;
    await this.store.create(this.t.backend, undefined, {
      metadata: { name: handle },
      spec: {
        driver: at(content, "spec", "driver"),
        sourceVolumeHandle: volumeHandle,
        size,
        data: pv?.metadata.annotations?.[VOLUME_DATA_ANNOTATION] ?? "",
        createdFor: `${ns}/${name}`,
      },
    });
    const created = Date.now();
    await this.#status(this.t.vsc, undefined, contentName, {
      snapshotHandle: handle,
      readyToUse: true,
      restoreSize: quantityBytes(size),
      creationTime: created * 1_000_000,
    });
    await this.#status(this.t.vs, ns, name, {
      boundVolumeSnapshotContentName: contentName,
      readyToUse: true,
      restoreSize: size,
      creationTime: new Date(created).toISOString(),
    });
  }

  async #content(name: string): Promise<void> {
    const content = await this.#get(this.t.vsc, undefined, name);
    if (!content || content.metadata.deletionTimestamp) return;
    const handle = str(at(content, "spec", "source", "snapshotHandle"));
    const status = (content.status ?? {}) as Obj;
    if (!handle || status.readyToUse === true || status.error) return;
    const driver = str(at(content, "spec", "driver"));
    if (!this.drivers.has(driver)) return;
    const backend = await this.#get(this.t.backend, undefined, handle);
    const error = !backend
      ? `failed to check snapshot ${handle}: rpc error: code = NotFound desc = snapshot ${handle} not found`
      : at(backend, "spec", "driver") !== driver
        ? `snapshot ${handle} belongs to driver ${String(at(backend, "spec", "driver"))}, not ${driver}`
        : undefined;
    if (error)
      await this.#status(this.t.vsc, undefined, name, {
        readyToUse: false,
        error: { message: error, time: new Date().toISOString() },
      });
    else
      await this.#status(this.t.vsc, undefined, name, {
        snapshotHandle: handle,
        readyToUse: true,
        restoreSize: quantityBytes(str(at(backend, "spec", "size")) || "1Gi"),
        creationTime: Date.now() * 1_000_000,
      });
    const ref = at(content, "spec", "volumeSnapshotRef") as Obj | undefined;
    if (ref?.name) this.now(`vs/${str(ref.namespace)}/${str(ref.name)}`);
  }

  async #bindPreProvisioned(vs: KubeObject, contentName: string): Promise<void> {
    if (at(vs, "status", "readyToUse") === true) return;
    const ns = vs.metadata.namespace ?? "";
    const name = vs.metadata.name ?? "";
    const content = await this.#get(this.t.vsc, undefined, contentName);
    if (!content) return; // waits for the content, as the snapshot-controller does
    const ref = (at(content, "spec", "volumeSnapshotRef") ?? {}) as Obj;
    if (ref.name !== name || ref.namespace !== ns)
      return this.#failSnapshot(
        vs,
        `VolumeSnapshotContent ${contentName} is bound to ${String(ref.namespace)}/${String(ref.name)}, not to this VolumeSnapshot`,
      );
    const cstatus = (content.status ?? {}) as Obj;
    if (cstatus.error) return this.#failSnapshot(vs, str(at(cstatus, "error", "message")));
    if (cstatus.readyToUse !== true) return;
    const backend = await this.#get(this.t.backend, undefined, str(cstatus.snapshotHandle));
    await this.#status(this.t.vs, ns, name, {
      boundVolumeSnapshotContentName: contentName,
      readyToUse: true,
      restoreSize: str(at(backend, "spec", "size")) || "1Gi",
      creationTime: new Date().toISOString(),
    });
  }

  async #claim(ns: string, name: string): Promise<void> {
    const pvc = await this.#get(this.t.pvc, ns, name);
    if (!pvc || pvc.metadata.deletionTimestamp || at(pvc, "status", "phase") === "Bound") return;
    const volumeName = str(at(pvc, "spec", "volumeName"));
    if (volumeName) {
      const pv = await this.#get(this.t.pv, undefined, volumeName);
      if (!pv) return;
      const claim = at(pv, "spec", "claimRef") as Obj | undefined;
      if (claim && (claim.name !== name || claim.namespace !== ns)) return;
      return this.#bind(pvc, pv);
    }
    const request = str(at(pvc, "spec", "resources", "requests", "storage")) || "1Gi";
    const source = (at(pvc, "spec", "dataSourceRef") ?? at(pvc, "spec", "dataSource")) as Obj | undefined;
    let driver: string | undefined;
    let data = "";
    let size = request;
    if (source) {
      if (source.kind !== "VolumeSnapshot" || source.apiGroup !== "snapshot.storage.k8s.io") return;
      const vs = await this.#get(this.t.vs, ns, str(source.name));
      if (at(vs, "status", "readyToUse") !== true) return; // provisioned once the snapshot is ready
      const content = await this.#get(
        this.t.vsc,
        undefined,
        str(at(vs, "status", "boundVolumeSnapshotContentName")),
      );
      const backend = await this.#get(
        this.t.backend,
        undefined,
        str(at(content, "status", "snapshotHandle")),
      );
      if (!backend) return;
      driver = str(at(backend, "spec", "driver"));
      data = str(at(backend, "spec", "data"));
      size = str(at(backend, "spec", "size")) || request;
    } else {
      const className = str(at(pvc, "spec", "storageClassName"));
      if (!className || !this.t.sc) return;
      const sc = await this.#get(this.t.sc, undefined, className);
      driver = str(sc?.provisioner);
    }
    if (!driver || !this.drivers.has(driver)) return;
    const pvName = `pvc-${pvc.metadata.uid}`;
    const pv = await this.store
      .create(this.t.pv, undefined, {
        metadata: {
          name: pvName,
          annotations: { "pv.kubernetes.io/provisioned-by": driver, [VOLUME_DATA_ANNOTATION]: data },
        },
        spec: {
          capacity: { storage: size },
          accessModes: at(pvc, "spec", "accessModes") ?? ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Delete",
          storageClassName: str(at(pvc, "spec", "storageClassName")),
          volumeMode: str(at(pvc, "spec", "volumeMode")) || "Filesystem",
          csi: { driver, volumeHandle: `vol-${randomUUID()}`, fsType: "ext4" },
          claimRef: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            namespace: ns,
            name,
            uid: pvc.metadata.uid,
          },
        },
      })
      .catch(async (e: unknown) => {
        if (e instanceof ApiError && e.code === 409) return this.store.get(this.t.pv, undefined, pvName);
        throw e;
      });
    await this.#bind(pvc, pv);
  }

  async #bind(pvc: KubeObject, pv: KubeObject): Promise<void> {
    const ns = pvc.metadata.namespace ?? "";
    const name = pvc.metadata.name ?? "";
    const pvName = pv.metadata.name ?? "";
    await this.store.update(this.t.pv, undefined, pvName, (o) => ({
      ...o,
      spec: {
        ...((o.spec as Obj) ?? {}),
        claimRef: {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          namespace: ns,
          name,
          uid: pvc.metadata.uid,
        },
      },
    }));
    await this.#status(this.t.pv, undefined, pvName, { phase: "Bound" });
    await this.store.update(this.t.pvc, ns, name, (o) => ({
      ...o,
      metadata: {
        ...o.metadata,
        annotations: {
          ...(o.metadata.annotations ?? {}),
          "pv.kubernetes.io/bind-completed": "yes",
          "pv.kubernetes.io/bound-by-controller": "yes",
        },
      },
      spec: { ...((o.spec as Obj) ?? {}), volumeName: pvName },
    }));
    await this.#status(this.t.pvc, ns, name, {
      phase: "Bound",
      accessModes: at(pv, "spec", "accessModes") ?? ["ReadWriteOnce"],
      capacity: { storage: str(at(pv, "spec", "capacity", "storage")) || "1Gi" },
    });
  }
}

/** `1Gi` -> bytes (what VolumeSnapshotContent.status.restoreSize holds). */
function quantityBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) return 0;
  const mult: Record<string, number> = {
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(m[1]) * (m[2] ? (mult[m[2]] ?? 1) : 1));
}
