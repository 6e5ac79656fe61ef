import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ApiError } from "../errors.js";
import type { ResourceType } from "../resources.js";
import type { KubeObject } from "../selectors.js";
import type { ControllerContext, SimulatedController } from "../server.js";
import type { ObjectStore } from "../store.js";

type Obj = Record<string, unknown>;
const at = (o: unknown, ...p: string[]): unknown => {
  let cur = o;
  for (const k of p) cur = typeof cur === "object" && cur !== null ? (cur as Obj)[k] : undefined;
  return cur;
};
const str = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * A ConfigMap of this name in a Job's namespace injects faults: key `kill-on-output` holds a
 * regular expression; the next container whose output matches it is killed with SIGKILL (what
 * the OOM killer or a lost node does), and the key is removed. Key `env` holds NAME=VALUE lines
 * added to the next container's environment (e.g. a failpoint), also used once. `kill-job-prefix`
 * limits both to Jobs whose name starts with the value.
 */
export const FAULTS_CONFIGMAP = "vsnap-fake-faults";
/** On the Pod: the last 16 KiB of the container's output (the fake serves no pods/log). */
export const POD_LOG_ANNOTATION = "fake.vsnap.dev/log";

export interface JobControllerOptions {
  /**
   * What a container's `command[0]` runs, by its base name, e.g.
   * `{ vsnap: [process.execPath, "/repo/packages/cli/dist/bin.js"] }`. Other executables fail to
   * start as a missing binary in the image would.
   */
  readonly binaries: Readonly<Record<string, readonly string[]>>;
  /** Extra environment for every container (a real image has its own PATH etc.). */
  readonly env?: Readonly<Record<string, string>>;
}

interface Running {
  readonly child: ChildProcess;
  readonly done: Promise<void>;
}

/**
 * Stands in for the Job controller and a kubelet. A Job gets a Pod; the Pod's first container runs
 * as a local child process with every volume mapped to a local directory: a PVC to its bound PV's
 * `hostPath`/`local` path (as a node would mount it), emptyDir to a temp dir, Secrets and
 * ConfigMaps written out as files. Paths under a mount in the command, args and env (also inside
 * `scheme://` URLs) are rewritten to those directories. The exit code, the termination message
 * (the file at terminationMessagePath, or the log tail with FallbackToLogsOnError) and the Job's
 * conditions are recorded as a real cluster records them; `backoffLimit` and
 * `activeDeadlineSeconds` are honoured. A Pod whose PVC is not bound waits, like an unschedulable one.
 */
export function jobController(options: JobControllerOptions): SimulatedController {
  const abort = new AbortController();
  const running = new Map<string, Running>();
  const starting = new Set<string>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const types = (c: ControllerContext) => {
    const need = (g: string, p: string) => {
      const rt = c.resources.lookup(g, "v1", p);
      if (!rt) throw new Error(`the job controller needs ${p} registered (use storageResourceRegistry())`);
      return rt;
    };
    return {
      job: need("batch", "jobs"),
      pod: need("", "pods"),
      pvc: need("", "persistentvolumeclaims"),
      pv: need("", "persistentvolumes"),
      secret: need("", "secrets"),
      cm: need("", "configmaps"),
    };
  };
  type Types = ReturnType<typeof types>;

  async function sync(c: ControllerContext, t: Types, ns: string, name: string): Promise<void> {
    const key = `${ns}/${name}`;
    if (stopped || running.has(key) || starting.has(key)) return;
    starting.add(key);
    try {
      const job = await get(c.store, t.job, ns, name);
      if (!job || job.metadata.deletionTimestamp || finished(job)) return;
      await launch(c, t, job);
    } finally {
      starting.delete(key);
    }
  }

  async function launch(c: ControllerContext, t: Types, job: KubeObject): Promise<void> {
    const ns = job.metadata.namespace ?? "";
    const name = job.metadata.name ?? "";
    const key = `${ns}/${name}`;
    const status = (job.status ?? {}) as Obj;
    const failedSoFar = Number(status.failed ?? 0);
    const startTime = str(status.startTime) || new Date().toISOString();
    const deadline = Number(at(job, "spec", "activeDeadlineSeconds") ?? 0);
    const template = (at(job, "spec", "template") ?? {}) as { metadata?: Obj; spec?: Obj };
    const podSpec = (template.spec ?? {}) as Obj;
    const container = ((podSpec.containers ?? []) as Obj[])[0] ?? {};
    const podName = `${name}-${randomBytes(3).toString("hex").slice(0, 5)}`;
    const labels = {
      ...((template.metadata?.labels as Record<string, string>) ?? {}),
      "batch.kubernetes.io/job-name": name,
      "job-name": name,
      "batch.kubernetes.io/controller-uid": job.metadata.uid ?? "",
      "controller-uid": job.metadata.uid ?? "",
    };
    const existing = (await c.store.list(t.pod, ns, { labelSelector: `controller-uid=${job.metadata.uid}` }))
      .items;
    const pending = existing.find((p) => !["Succeeded", "Failed"].includes(str(at(p, "status", "phase"))));
    const pod =
      pending ??
      (await c.store.create(t.pod, ns, {
        metadata: {
          name: podName,
          labels,
          annotations: (template.metadata?.annotations as Record<string, string>) ?? {},
          ownerReferences: [
            {
              apiVersion: "batch/v1",
              kind: "Job",
              name,
              uid: job.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: podSpec,
      }));
    const actualPod = pod.metadata.name ?? podName;
    await setJobStatus(c.store, t.job, ns, name, { startTime, active: 1 });

    const scratch = mkdtempSync(path.join(os.tmpdir(), `vsnap-fake-pod-${actualPod}-`));
    let mounts: Map<string, string>;
    try {
      mounts = await resolveMounts(c.store, t, ns, podSpec, container, scratch);
    } catch (error) {
      rmSync(scratch, { recursive: true, force: true });
      const message = (error as Error).message;
      await setStatus(c.store, t.pod, ns, actualPod, {
        phase: "Pending",
        conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }],
      });
      // retried when the claim gets bound (a periodic resync)
      return;
    }
    const terminationPath = str(container.terminationMessagePath) || "/dev/termination-log";
    const terminationFile = path.join(scratch, "termination-log");
    writeFileSync(terminationFile, "");
    mounts.set(terminationPath, terminationFile);
    const rewrite = (value: string) => rewritePaths(value, mounts);
    const command = [...((container.command as string[]) ?? []), ...((container.args as string[]) ?? [])].map(
      rewrite,
    );
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: scratch,
      HOSTNAME: actualPod,
      ...(options.env ?? {}),
    };
    try {
      for (const [k, v] of Object.entries(await containerEnv(c.store, t, ns, actualPod, container)))
        env[k] = rewrite(v);
    } catch (error) {
      await finishPod(
        c,
        t,
        job,
        actualPod,
        { exitCode: 1, reason: "CreateContainerConfigError", message: (error as Error).message, output: "" },
        failedSoFar,
        startTime,
      );
      rmSync(scratch, { recursive: true, force: true });
      return;
    }
    const injected = await takeInjectedEnv(c.store, t.cm, ns, name);
    Object.assign(env, injected);
    const binary = options.binaries[path.basename(command[0] ?? "")];
    const startedAt = new Date().toISOString();
    if (!binary) {
      await finishPod(
        c,
        t,
        job,
        actualPod,
        {
          exitCode: 128,
          reason: "StartError",
          message: `failed to create containerd task: exec: "${command[0] ?? ""}": executable file not found in $PATH`,
          output: "",
        },
        failedSoFar,
        startTime,
      );
      rmSync(scratch, { recursive: true, force: true });
      return;
    }
    const cwd = container.workingDir ? rewrite(str(container.workingDir)) : scratch;
    mkdirSync(cwd, { recursive: true });
    const child = spawn(binary[0] ?? "", [...binary.slice(1), ...command.slice(1)], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let killedFor: string | undefined;
    let faults: RegExp | undefined;
    const onData = (d: Buffer) => {
      output = (output + d.toString()).slice(-64 * 1024);
      if (faults && !killedFor && faults.test(output)) {
        killedFor = "OOMKilled";
        child.kill("SIGKILL");
        void consumeFault(c.store, t.cm, ns);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    const deadlineMs = deadline > 0 ? Date.parse(startTime) + deadline * 1000 - Date.now() : 0;
    const deadlineTimer =
      deadline > 0
        ? setTimeout(
            () => {
              killedFor = "DeadlineExceeded";
              child.kill("SIGKILL");
            },
            Math.max(0, deadlineMs),
          )
        : undefined;
    let markedRunning: Promise<void> = Promise.resolve();
    const done = new Promise<void>((resolve) => {
      child.once("error", (error) => {
        output += `\n${error.message}`;
      });
      child.once("close", (code, signal) => {
        clearTimeout(deadlineTimer);
        const exitCode = code ?? (signal === "SIGKILL" ? 137 : 143);
        let message = "";
        try {
          message = readFileSync(terminationFile, "utf8");
        } catch {
          // no message
        }
        if (
          !message.trim() &&
          exitCode !== 0 &&
          container.terminationMessagePolicy === "FallbackToLogsOnError"
        )
          message = logTail(output);
        rmSync(scratch, { recursive: true, force: true });
        const reason = killedFor === "OOMKilled" ? "OOMKilled" : exitCode === 0 ? "Completed" : "Error";
        const finish = stopped
          ? Promise.resolve()
          : markedRunning.then(() =>
              finishPod(
                c,
                t,
                job,
                actualPod,
                {
                  exitCode,
                  reason,
                  message: message.slice(0, 4096),
                  output,
                  startedAt,
                  deadline: killedFor === "DeadlineExceeded",
                },
                failedSoFar,
                startTime,
              ),
            );
        finish
          .catch((e: unknown) => c.log(`jobs: ${key}: ${(e as Error).message}`))
          .finally(() => {
            running.delete(key);
            resolve();
            if (!stopped) void sync(c, t, ns, name).catch(() => {});
          });
      });
    });
    running.set(key, { child, done });
    markedRunning = setStatus(c.store, t.pod, ns, actualPod, {
      phase: "Running",
      startTime: startedAt,
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [
        {
          name: container.name,
          image: container.image,
          ready: true,
          restartCount: 0,
          started: true,
          state: { running: { startedAt } },
        },
      ],
    }).catch(() => {});
    faults = await faultsFor(c.store, t.cm, ns, name);
    if (faults?.test(output) && !killedFor) {
      killedFor = "OOMKilled";
      child.kill("SIGKILL");
      void consumeFault(c.store, t.cm, ns);
    }
  }

  async function finishPod(
    c: ControllerContext,
    t: Types,
    job: KubeObject,
    pod: string,
    result: {
      exitCode: number;
      reason: string;
      message: string;
      output: string;
      startedAt?: string;
      deadline?: boolean;
    },
    failedSoFar: number,
    startTime: string,
  ): Promise<void> {
    const ns = job.metadata.namespace ?? "";
    const name = job.metadata.name ?? "";
    const finishedAt = new Date().toISOString();
    const ok = result.exitCode === 0;
    await c.store
      .update(t.pod, ns, pod, (o) => ({
        ...o,
        metadata: {
          ...o.metadata,
          annotations: {
            ...(o.metadata.annotations ?? {}),
            [POD_LOG_ANNOTATION]: result.output.slice(-16 * 1024),
          },
        },
      }))
      .catch(() => {});
    await setStatus(c.store, t.pod, ns, pod, {
      phase: ok ? "Succeeded" : "Failed",
      conditions: [{ type: "Ready", status: "False", reason: "PodCompleted" }],
      containerStatuses: [
        {
          name: str(at(job, "spec", "template", "spec", "containers", "0", "name")) || "main",
          ready: false,
          restartCount: 0,
          started: false,
          state: {
            terminated: {
              exitCode: result.exitCode,
              reason: result.reason,
              ...(result.message ? { message: result.message } : {}),
              startedAt: result.startedAt ?? finishedAt,
              finishedAt,
            },
          },
        },
      ],
    }).catch(() => {});
    const backoffLimit = Number(at(job, "spec", "backoffLimit") ?? 6);
    const failed = failedSoFar + (ok ? 0 : 1);
    const condition = (type: string, reason: string, message: string) => ({
      type,
      status: "True",
      reason,
      message,
      lastProbeTime: finishedAt,
      lastTransitionTime: finishedAt,
    });
    if (ok)
      await setJobStatus(c.store, t.job, ns, name, {
        startTime,
        active: 0,
        succeeded: 1,
        ...(failed ? { failed } : {}),
        completionTime: finishedAt,
        conditions: [condition("Complete", "Completed", "Reached expected number of succeeded pods")],
      });
    else if (result.deadline)
      await setJobStatus(c.store, t.job, ns, name, {
        startTime,
        active: 0,
        failed,
        conditions: [
          condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"),
        ],
      });
    else if (failed > backoffLimit)
      await setJobStatus(c.store, t.job, ns, name, {
        startTime,
        active: 0,
        failed,
        conditions: [
          condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ],
      });
    else await setJobStatus(c.store, t.job, ns, name, { startTime, active: 0, failed });
  }

  return {
    name: "jobs",
    async start(c) {
      const t = types(c);
      await c.store.watch(t.job, undefined, { signal: abort.signal }, (event) => {
        if (event.type === "ERROR" || event.type === "BOOKMARK") return;
        const o = event.object as KubeObject;
        const ns = o.metadata.namespace ?? "";
        const name = o.metadata.name ?? "";
        if (event.type === "DELETED") {
          // the garbage collector: the Job's pods (and a running container) go with it
          running.get(`${ns}/${name}`)?.child.kill("SIGKILL");
          void c.store
            .list(t.pod, ns, { labelSelector: `controller-uid=${o.metadata.uid}` })
            .then(async (pods) => {
              for (const p of pods.items)
                await c.store.delete(t.pod, ns, p.metadata.name ?? "").catch(() => {});
            })
            .catch(() => {});
          return;
        }
        void sync(c, t, ns, name).catch((e: unknown) =>
          c.log(`jobs: ${ns}/${name}: ${(e as Error).message}`),
        );
      });
      // pods waiting for a claim to be bound
      timer = setInterval(() => {
        void c.store
          .list(t.job, undefined)
          .then((jobs) => {
            for (const j of jobs.items)
              void sync(c, t, j.metadata.namespace ?? "", j.metadata.name ?? "").catch(() => {});
          })
          .catch(() => {});
      }, 500);
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      abort.abort();
      for (const r of running.values()) r.child.kill("SIGKILL");
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}

function finished(job: KubeObject): boolean {
  const conditions = (at(job, "status", "conditions") ?? []) as Obj[];
  return conditions.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True");
}

async function get(
  store: ObjectStore,
  rt: ResourceType,
  ns: string | undefined,
  name: string,
): Promise<KubeObject | undefined> {
  try {
    return await store.get(rt, ns, name);
  } catch (error) {
    if (error instanceof ApiError && error.code === 404) return undefined;
    throw error;
  }
}

async function setStatus(
  store: ObjectStore,
  rt: ResourceType,
  ns: string,
  name: string,
  status: Obj,
): Promise<void> {
  await store.update(rt, ns, name, (o) => ({ ...o, status }), { subresource: "status" });
}

async function setJobStatus(
  store: ObjectStore,
  rt: ResourceType,
  ns: string,
  name: string,
  status: Obj,
): Promise<void> {
  await store
    .update(rt, ns, name, (o) => ({ ...o, status: { ...((o.status as Obj) ?? {}), ...status } }), {
      subresource: "status",
    })
    .catch((e: unknown) => {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    });
}

/** mountPath -> local directory, for every mount of the container. */
async function resolveMounts(
  store: ObjectStore,
  t: { pvc: ResourceType; pv: ResourceType; secret: ResourceType; cm: ResourceType },
  ns: string,
  podSpec: Obj,
  container: Obj,
  scratch: string,
): Promise<Map<string, string>> {
  const volumes = new Map(((podSpec.volumes ?? []) as Obj[]).map((v) => [str(v.name), v]));
  const out = new Map<string, string>();
  for (const mount of (container.volumeMounts ?? []) as Obj[]) {
    const volume = volumes.get(str(mount.name));
    if (!volume) throw new Error(`volume "${str(mount.name)}" is not declared in the pod spec`);
    let dir: string;
    if (volume.persistentVolumeClaim) {
      const claim = str(at(volume, "persistentVolumeClaim", "claimName"));
      const pvc = await get(store, t.pvc, ns, claim);
      if (!pvc) throw new Error(`persistentvolumeclaim "${claim}" not found`);
      if (at(pvc, "status", "phase") !== "Bound")
        throw new Error(`pod has unbound immediate PersistentVolumeClaims (${claim})`);
      const pv = await get(store, t.pv, undefined, str(at(pvc, "spec", "volumeName")));
      const local = str(at(pv, "spec", "hostPath", "path")) || str(at(pv, "spec", "local", "path"));
      if (!local)
        throw new Error(`volume of claim ${claim} has no hostPath/local path this fake node can mount`);
      dir = local;
    } else if (volume.hostPath) {
      dir = str(at(volume, "hostPath", "path"));
    } else if (volume.secret || volume.configMap) {
      const isSecret = !!volume.secret;
      const ref = isSecret ? str(at(volume, "secret", "secretName")) : str(at(volume, "configMap", "name"));
      const object = await get(store, isSecret ? t.secret : t.cm, ns, ref);
      if (!object) throw new Error(`${isSecret ? "secret" : "configmap"} "${ref}" not found`);
      dir = path.join(scratch, "volumes", str(volume.name));
      mkdirSync(dir, { recursive: true });
      for (const [k, v] of Object.entries((object.data ?? {}) as Record<string, string>))
        writeFileSync(path.join(dir, k), isSecret ? Buffer.from(v, "base64") : v);
    } else {
      dir = path.join(scratch, "volumes", str(volume.name));
      mkdirSync(dir, { recursive: true });
    }
    const sub = str(mount.subPath);
    out.set(str(mount.mountPath).replace(/\/+$/, ""), sub ? path.join(dir, sub) : dir);
  }
  return out;
}

/** `/data/x` -> `<dir>/x` for a mount at /data, also as a flag value (`--f=/data/x`) or inside a URL (`container:///data/x`). */
export function rewritePaths(value: string, mounts: ReadonlyMap<string, string>): string {
  // longest mount first: /data/etcd wins over /data
  const sorted = [...mounts].sort((a, b) => b[0].length - a[0].length);
  for (const [mountPath, dir] of sorted) {
    const escaped = mountPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const re = new RegExp(`(^|=|[a-z][a-z0-9+.-]*://)${escaped}(?=/|$)`, "i");
    if (re.test(value)) return value.replace(re, (_m, lead: string) => `${lead}${dir}`);
  }
  return value;
}

async function containerEnv(
  store: ObjectStore,
  t: { secret: ResourceType; cm: ResourceType },
  ns: string,
  pod: string,
  container: Obj,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const dataOf = async (kind: "secret" | "configmap", name: string, optional: boolean) => {
    const o = await get(store, kind === "secret" ? t.secret : t.cm, ns, name);
    if (!o) {
      if (optional) return {};
      throw new Error(`${kind} "${name}" not found`);
    }
    const data = (o.data ?? {}) as Record<string, string>;
    return kind === "secret"
      ? Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
        )
      : data;
  };
  for (const from of (container.envFrom ?? []) as Obj[]) {
    if (from.secretRef)
      Object.assign(
        out,
        await dataOf(
          "secret",
          str(at(from, "secretRef", "name")),
          at(from, "secretRef", "optional") === true,
        ),
      );
    if (from.configMapRef)
      Object.assign(
        out,
        await dataOf(
          "configmap",
          str(at(from, "configMapRef", "name")),
          at(from, "configMapRef", "optional") === true,
        ),
      );
  }
  for (const e of (container.env ?? []) as Obj[]) {
    const name = str(e.name);
    if (e.value !== undefined) out[name] = str(e.value);
    const secretRef = at(e, "valueFrom", "secretKeyRef") as Obj | undefined;
    const cmRef = at(e, "valueFrom", "configMapKeyRef") as Obj | undefined;
    const fieldPath = str(at(e, "valueFrom", "fieldRef", "fieldPath"));
    if (secretRef || cmRef) {
      const ref = (secretRef ?? cmRef) as Obj;
      const data = await dataOf(secretRef ? "secret" : "configmap", str(ref.name), ref.optional === true);
      const value = data[str(ref.key)];
      if (value === undefined && ref.optional !== true)
        throw new Error(
          `couldn't find key ${str(ref.key)} in ${secretRef ? "Secret" : "ConfigMap"} ${ns}/${str(ref.name)}`,
        );
      if (value !== undefined) out[name] = value;
    }
    if (fieldPath === "metadata.name") out[name] = pod;
    if (fieldPath === "metadata.namespace") out[name] = ns;
  }
  return out;
}

async function faultsFor(
  store: ObjectStore,
  cm: ResourceType,
  ns: string,
  job: string,
): Promise<RegExp | undefined> {
  const faults = await get(store, cm, ns, FAULTS_CONFIGMAP);
  const data = (faults?.data ?? {}) as Record<string, string>;
  if (!data["kill-on-output"]) return undefined;
  if (data["kill-job-prefix"] && !job.startsWith(data["kill-job-prefix"])) return undefined;
  return new RegExp(data["kill-on-output"]);
}

/** NAME=VALUE lines of the faults ConfigMap's `env` key, removed once used. */
async function takeInjectedEnv(
  store: ObjectStore,
  cm: ResourceType,
  ns: string,
  job: string,
): Promise<Record<string, string>> {
  const faults = await get(store, cm, ns, FAULTS_CONFIGMAP);
  const data = (faults?.data ?? {}) as Record<string, string>;
  if (!data.env || (data["kill-job-prefix"] && !job.startsWith(data["kill-job-prefix"]))) return {};
  await store
    .update(cm, ns, FAULTS_CONFIGMAP, (o) => {
      const d = { ...((o.data as Record<string, string>) ?? {}) };
      delete d.env;
      return { ...o, data: d };
    })
    .catch(() => {});
  const out: Record<string, string> = {};
  for (const line of data.env.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1);
  }
  return out;
}

async function consumeFault(store: ObjectStore, cm: ResourceType, ns: string): Promise<void> {
  await store
    .update(cm, ns, FAULTS_CONFIGMAP, (o) => {
      const data = { ...((o.data as Record<string, string>) ?? {}) };
      delete data["kill-on-output"];
      return { ...o, data };
    })
    .catch(() => {});
}

/** What the kubelet keeps of a failed container's log as its termination message: 80 lines, 2 KiB. */
function logTail(output: string): string {
  const lines = output.split("\n");
  const tail = lines.slice(-81).join("\n");
  return tail.length > 2048 ? tail.slice(-2048) : tail;
}
