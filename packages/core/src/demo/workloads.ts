import { NODE_NAMES } from "./catalog.js";
import {
  type BuildContext,
  beginObject,
  cached,
  endObject,
  intOrString,
  ip,
  labelSelector,
  meta,
  type Pairs,
  templateMeta,
  time,
} from "./encode.js";
import type { AppPlan, NamespacePlan } from "./model.js";
import { ProtoWriter } from "./protobuf.js";
import { hash32, Rng } from "./rng.js";

/** A uid that every object referring to the same owner computes identically. */
export function uidFor(seed: number, what: string, index = 0): string {
  return new Rng(hash32(seed, what, index)).uuid();
}

// Label sets are shared by all of an app's objects; computed once per app.
const appLabelCache = new WeakMap<AppPlan, Pairs>();
const podLabelCache = new WeakMap<AppPlan, Pairs>();

export function appLabels(app: AppPlan): Pairs {
  let labels = appLabelCache.get(app);
  if (labels === undefined) {
    labels = computeAppLabels(app);
    appLabelCache.set(app, labels);
  }
  return labels;
}

export function podLabels(app: AppPlan): Pairs {
  let labels = podLabelCache.get(app);
  if (labels === undefined) {
    labels = computePodLabels(app);
    podLabelCache.set(app, labels);
  }
  return labels;
}

function computeAppLabels(app: AppPlan): Pairs {
  return [
    ["app", app.name],
    ["app.kubernetes.io/instance", app.name],
    ["app.kubernetes.io/name", app.container],
  ];
}

function computePodLabels(app: AppPlan): Pairs {
  return [
    ...appLabels(app),
    app.stateful
      ? ["controller-revision-hash", `${app.name}-${app.templateHash}`]
      : ["pod-template-hash", app.templateHash],
  ];
}

export function replicaSetName(app: AppPlan, old = -1): string {
  return old < 0
    ? `${app.name}-${app.templateHash}`
    : `${app.name}-${new Rng(hash32(app.seed, "oldrs", old)).kubeSuffix(10)}`;
}

export function podName(app: AppPlan, i: number): string {
  return app.stateful
    ? `${app.name}-${i}`
    : `${replicaSetName(app)}-${new Rng(hash32(app.seed, "pod", i)).kubeSuffix(5)}`;
}

export function podIp(app: AppPlan, i: number): string {
  return ip(new Rng(hash32(app.seed, "podip", i)));
}

export function podNode(app: AppPlan, i: number): string {
  return NODE_NAMES[hash32(app.seed, "node", i) % NODE_NAMES.length]!;
}

const ENV_NAMES = [
  "LOG_LEVEL",
  "PORT",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "DATABASE_URL",
  "CACHE_TTL",
  "FEATURE_FLAGS",
  "REGION",
  "WORKERS",
];

/** Container fields 1-8 (name ... resources): the same for every pod of an app, as in its template. */
function containerHead(w: ProtoWriter, app: AppPlan): void {
  const rng = new Rng(hash32(app.seed, "container"));
  w.string(1, app.container).string(2, app.image).string(5, "");
  w.begin(6).string(1, "http").int(2, 0).int(3, app.port).string(4, "TCP").string(5, "").end();
  const envs = rng.range(2, ENV_NAMES.length);
  for (let i = 0; i < envs; i++) {
    const name = ENV_NAMES[i]!;
    const value =
      name === "DATABASE_URL"
        ? `postgres://${app.name}@postgres.${rng.hex(6)}.svc:5432/${app.name}?sslmode=require`
        : name === "OTEL_EXPORTER_OTLP_ENDPOINT"
          ? "http://otel-collector.monitoring.svc:4317"
          : rng.pick(["info", "debug", "8080", "300", "eu-west-1", "4", "beta-ui,new-checkout"]);
    w.begin(7).string(1, name).string(2, value).end();
  }
  w.begin(8);
  w.begin(1)
    .string(1, "memory")
    .begin(2)
    .string(1, `${rng.pick([256, 512, 1024])}Mi`)
    .end()
    .end();
  w.begin(2)
    .string(1, "cpu")
    .begin(2)
    .string(1, `${rng.pick([50, 100, 250, 500])}m`)
    .end()
    .end();
  w.begin(2)
    .string(1, "memory")
    .begin(2)
    .string(1, `${rng.pick([128, 256, 512])}Mi`)
    .end()
    .end();
  w.end();
}

/** Container fields 10-20 (probes ... terminationMessagePolicy). */
function containerTail(w: ProtoWriter, app: AppPlan): void {
  for (const probe of [10, 11]) {
    w.begin(probe)
      .begin(1)
      .begin(2)
      .string(1, probe === 10 ? "/healthz" : "/readyz");
    intOrString(w, 2, app.port);
    w.string(3, "").string(4, "HTTP").end().end();
    w.int(2, probe === 10 ? 10 : 0)
      .int(3, 1)
      .int(4, 10)
      .int(5, 1)
      .int(6, 3)
      .end();
  }
  w.string(13, "/dev/termination-log")
    .string(14, "IfNotPresent")
    .bool(16, false)
    .bool(17, false)
    .bool(18, false);
  w.string(20, "File");
}

/** PodSpec fields after the node name, as a pod carries them (admission added the tolerations). */
function podSpecTail(w: ProtoWriter, forPod: boolean): void {
  w.bool(11, false).bool(12, false).bool(13, false).begin(14).end().string(16, "").string(17, "");
  w.string(19, "default-scheduler");
  if (forPod) {
    for (const key of ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"]) {
      w.begin(22).string(1, key).string(2, "Exists").string(3, "").string(4, "NoExecute").int(5, 300).end();
    }
    w.int(25, 0);
  }
  w.bool(30, true).string(31, "PreemptLowerPriority");
}

/** The projected service-account token volume admission adds to every pod. */
function tokenVolume(w: ProtoWriter, name: string): void {
  w.begin(1).string(1, name).begin(2).begin(26);
  w.begin(1).begin(4).string(1, "").int(2, 3607).string(3, "token").end().end();
  w.begin(1).begin(3).begin(1).string(1, "kube-root-ca.crt").end();
  w.begin(2).string(1, "ca.crt").string(2, "ca.crt").end().end().end();
  w.begin(1).begin(2).begin(1).string(1, "namespace");
  w.begin(2).string(1, "v1").string(2, "metadata.namespace").end().end().end().end();
  w.int(2, 420).end().end().end();
}

function container(ctx: BuildContext, app: AppPlan, tokenMount?: string): void {
  const { w } = ctx;
  w.begin(2).raw(cached(ctx, app, "container-head", (s) => containerHead(s, app)));
  if (tokenMount !== undefined) {
    w.begin(9).string(1, tokenMount).bool(2, true).string(3, "/var/run/secrets/kubernetes.io/serviceaccount");
    w.string(4, "").string(6, "").end();
  }
  w.raw(cached(ctx, app, "container-tail", (s) => containerTail(s, app))).end();
}

/** A pod's spec: its template's plus what admission and the scheduler add (token volume, SA, node). */
function podSpec(ctx: BuildContext, app: AppPlan, rng: Rng, node: string, serviceAccount: string): void {
  const { w } = ctx;
  const token = `kube-api-access-${rng.kubeSuffix(5)}`;
  w.begin(2);
  tokenVolume(w, token);
  if (app.stateful)
    w.begin(1)
      .string(1, "data")
      .begin(2)
      .begin(10)
      .string(1, `data-${app.name}`)
      .bool(2, false)
      .end()
      .end()
      .end();
  container(ctx, app, token);
  w.string(3, "Always")
    .int(4, 30)
    .string(6, "ClusterFirst")
    .string(8, serviceAccount)
    .string(9, serviceAccount)
    .string(10, node);
  w.raw(cached(ctx, undefined, "pod-spec-tail", (s) => podSpecTail(s, true)));
  w.end();
}

/** PodTemplateSpec of a workload: identical for the Deployment, its ReplicaSets and the StatefulSet. */
function podTemplate(ctx: BuildContext, app: AppPlan, field: number): void {
  const template = cached(ctx, app, "pod-template", (s) => {
    templateMeta(s, app.stateful ? appLabels(app) : podLabels(app));
    s.begin(2);
    if (app.stateful)
      s.begin(1)
        .string(1, "data")
        .begin(2)
        .begin(10)
        .string(1, `data-${app.name}`)
        .bool(2, false)
        .end()
        .end()
        .end();
    s.begin(2).raw(cachedPart(app, containerHead)).raw(cachedPart(app, containerTail)).end();
    s.string(3, "Always").int(4, 30).string(6, "ClusterFirst");
    podSpecTail(s, false);
    s.end();
  });
  ctx.w.begin(field).raw(template).end();
}

// Parts of a cached template are built with their own writer (the scratch writer is busy then).
const partWriter = new ProtoWriter(4096);

function cachedPart(app: AppPlan, part: (w: ProtoWriter, app: AppPlan) => void): Uint8Array {
  part(partWriter.reset(), app);
  return partWriter.finish();
}

const POD_MANAGER_FIELDS =
  '{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/name":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\\"uid\\":\\"%OWNER%\\"}":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"%NAME%\\"}":{".":{},"f:env":{".":{},"k:{\\"name\\":\\"LOG_LEVEL\\"}":{".":{},"f:name":{},"f:value":{}},"k:{\\"name\\":\\"PORT\\"}":{".":{},"f:name":{},"f:value":{}}},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:initialDelaySeconds":{},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:name":{},"f:ports":{".":{},"k:{\\"containerPort\\":%PORT%,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}}},"f:readinessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:resources":{".":{},"f:limits":{".":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}'.split(
    /(%OWNER%|%NAME%|%PORT%)/,
  );
const POD_STATUS_FIELDS =
  '{"f:status":{"f:conditions":{"k:{\\"type\\":\\"ContainersReady\\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\\"type\\":\\"Initialized\\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\\"type\\":\\"PodReadyToStartContainers\\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\\"type\\":\\"Ready\\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:hostIPs":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\\"ip\\":\\"%IP%\\"}":{".":{},"f:ip":{}}},"f:startTime":{}}}'.split(
    /(%IP%)/,
  );

/** Fills a template split by `split(/(A|B)/)`: placeholders sit at odd indexes. */
function fill(parts: readonly string[], values: Readonly<Record<string, string>>): string[] {
  return parts.map((part, i) => (i % 2 === 1 ? (values[part] ?? part) : part));
}

export function pod(ctx: BuildContext, ns: NamespacePlan, app: AppPlan, i: number): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(app.seed, "podspec", i));
  const name = podName(app, i);
  const owner = app.stateful
    ? { apiVersion: "apps/v1", kind: "StatefulSet", name: app.name, uid: uidFor(app.seed, "sts") }
    : {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: replicaSetName(app),
        uid: uidFor(app.seed, "rs", -1),
      };
  const started = app.created + 5 + rng.int(86400);
  const address = podIp(app, i);
  const node = podNode(app, i);
  beginObject(w, "v1", "Pod");
  meta(w, {
    name,
    generateName: app.stateful ? `${app.name}-` : `${replicaSetName(app)}-`,
    namespace: ns.name,
    uid: uidFor(app.seed, "pod", i),
    created: started,
    labels: podLabels(app),
    owner,
    managed: [
      {
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "v1",
        time: started,
        fields: fill(POD_MANAGER_FIELDS, {
          "%OWNER%": owner.uid,
          "%NAME%": app.container,
          "%PORT%": String(app.port),
        }),
      },
      {
        manager: "kubelet",
        operation: "Update",
        apiVersion: "v1",
        time: started + 4,
        fields: fill(POD_STATUS_FIELDS, { "%IP%": address }),
        subresource: "status",
      },
    ],
  });
  podSpec(ctx, app, rng, node, app.serviceAccount ? app.name : "default");
  w.begin(3).string(1, "Running");
  for (const type of [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
  ]) {
    w.begin(2).string(1, type).string(2, "True").begin(3).end();
    time(w, 4, started + (type === "PodScheduled" || type === "Initialized" ? 0 : 4));
    w.string(5, "").string(6, "").end();
  }
  w.string(3, "").string(4, "").string(5, "172.18.0.3").string(6, address);
  time(w, 7, started);
  const image = app.image;
  w.begin(8).string(1, app.container).begin(2).begin(2);
  time(w, 1, started + 3);
  w.end()
    .end()
    .begin(3)
    .end()
    .bool(4, true)
    .int(5, rng.chance(0.1) ? rng.range(1, 9) : 0)
    .string(6, image);
  w.randomHex(7, `${image.replace(/:[^:/]+$/, "")}@sha256:`, 64, rng)
    .randomHex(8, "containerd://", 64, rng)
    .bool(9, true)
    .end();
  w.string(9, "Burstable").string(11, "");
  w.begin(12).string(1, address).end();
  w.begin(16).string(1, "172.18.0.3").end();
  w.end();
  return endObject(w);
}

function workloadManagedFields(app: AppPlan, kind: string, time0: number) {
  return [
    {
      manager: "helm",
      operation: "Update" as const,
      apiVersion: "apps/v1",
      time: time0,
      fields: `{"f:metadata":{"f:annotations":{".":{},"f:meta.helm.sh/release-name":{},"f:meta.helm.sh/release-namespace":{}},"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/managed-by":{},"f:app.kubernetes.io/name":{},"f:helm.sh/chart":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/name":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"${app.name}\\"}":{".":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{},"f:name":{},"f:ports":{},"f:readinessProbe":{},"f:resources":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:terminationGracePeriodSeconds":{}}}}}`,
    },
    {
      manager: "kube-controller-manager",
      operation: "Update" as const,
      apiVersion: "apps/v1",
      time: time0 + 30,
      fields: `{"f:metadata":{"f:annotations":{"f:${kind === "Deployment" ? "deployment.kubernetes.io/revision" : "kubectl.kubernetes.io/last-applied"}":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\\"type\\":\\"Available\\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\\"type\\":\\"Progressing\\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}`,
      subresource: "status",
    },
  ];
}

function helmLabels(app: AppPlan): Pairs {
  return [
    ...appLabels(app),
    ["app.kubernetes.io/managed-by", "Helm"],
    ["helm.sh/chart", `${app.container}-1.${app.seed % 20}.0`],
  ];
}

function helmAnnotations(app: AppPlan, ns: NamespacePlan, extra: Pairs = []): Pairs {
  return [["meta.helm.sh/release-name", app.name], ["meta.helm.sh/release-namespace", ns.name], ...extra];
}

export function deployment(ctx: BuildContext, ns: NamespacePlan, app: AppPlan): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(app.seed, "deploy"));
  const generation = 1 + app.oldReplicaSets + rng.int(3);
  beginObject(w, "apps/v1", "Deployment");
  meta(w, {
    name: app.name,
    namespace: ns.name,
    uid: uidFor(app.seed, "deploy"),
    generation,
    created: app.created,
    labels: helmLabels(app),
    annotations: helmAnnotations(app, ns, [
      ["deployment.kubernetes.io/revision", String(1 + app.oldReplicaSets)],
    ]),
    managed: workloadManagedFields(app, "Deployment", app.created),
  });
  w.begin(2).int(1, app.replicas);
  labelSelector(w, 2, appLabels(app));
  podTemplate(ctx, app, 3);
  w.begin(4).string(1, "RollingUpdate").begin(2);
  intOrString(w, 1, "25%");
  intOrString(w, 2, "25%");
  w.end().end().int(5, 0).int(6, 10).bool(7, false).int(9, 600).end();
  w.begin(3).int(1, generation).int(2, app.replicas).int(3, app.replicas).int(4, app.replicas).int(5, 0);
  for (const [type, reason, message] of [
    ["Available", "MinimumReplicasAvailable", "Deployment has minimum availability."],
    [
      "Progressing",
      "NewReplicaSetAvailable",
      `ReplicaSet "${replicaSetName(app)}" has successfully progressed.`,
    ],
  ] as const) {
    w.begin(6).string(1, type).string(2, "True").string(4, reason).string(5, message);
    time(w, 6, app.created + 40);
    time(w, 7, app.created + 20);
    w.end();
  }
  w.int(7, app.replicas).end();
  return endObject(w);
}

export function replicaSet(ctx: BuildContext, ns: NamespacePlan, app: AppPlan, old: number): Uint8Array {
  const { w } = ctx;
  const replicas = old < 0 ? app.replicas : 0;
  const revision = old < 0 ? 1 + app.oldReplicaSets : old + 1;
  const created = app.created + revision * 3600;
  beginObject(w, "apps/v1", "ReplicaSet");
  meta(w, {
    name: replicaSetName(app, old),
    namespace: ns.name,
    uid: uidFor(app.seed, "rs", old),
    generation: old < 0 ? 1 : 2,
    created,
    labels: podLabels(app),
    annotations: [
      ["deployment.kubernetes.io/desired-replicas", String(app.replicas)],
      ["deployment.kubernetes.io/max-replicas", String(app.replicas + Math.ceil(app.replicas / 4))],
      ["deployment.kubernetes.io/revision", String(revision)],
      ...helmAnnotations(app, ns),
    ],
    owner: { apiVersion: "apps/v1", kind: "Deployment", name: app.name, uid: uidFor(app.seed, "deploy") },
    managed: workloadManagedFields(app, "ReplicaSet", created),
  });
  w.begin(2).int(1, replicas);
  labelSelector(w, 2, podLabels(app));
  podTemplate(ctx, app, 3);
  w.int(4, 0).end();
  w.begin(3)
    .int(1, replicas)
    .int(2, replicas)
    .int(3, old < 0 ? 1 : 2)
    .int(4, replicas)
    .int(5, replicas)
    .end();
  return endObject(w);
}

export function statefulSet(ctx: BuildContext, ns: NamespacePlan, app: AppPlan): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(app.seed, "sts"));
  beginObject(w, "apps/v1", "StatefulSet");
  meta(w, {
    name: app.name,
    namespace: ns.name,
    uid: uidFor(app.seed, "sts"),
    generation: app.revisions,
    created: app.created,
    labels: helmLabels(app),
    annotations: helmAnnotations(app, ns),
    managed: workloadManagedFields(app, "StatefulSet", app.created),
  });
  w.begin(2).int(1, app.replicas);
  labelSelector(w, 2, appLabels(app));
  podTemplate(ctx, app, 3);
  w.begin(4);
  w.begin(1)
    .string(1, "data")
    .string(2, "")
    .string(3, "")
    .string(4, "")
    .string(5, "")
    .string(6, "")
    .int(7, 0)
    .begin(8)
    .end()
    .end();
  w.begin(2)
    .string(1, "ReadWriteOnce")
    .begin(2)
    .begin(2)
    .string(1, "storage")
    .begin(2)
    .string(1, `${rng.pick([1, 5, 10, 20])}Gi`)
    .end()
    .end()
    .end()
    .string(6, "Filesystem")
    .end();
  w.begin(3).string(1, "Pending").end().end();
  w.string(5, `${app.name}-headless`)
    .string(6, "OrderedReady")
    .begin(7)
    .string(1, "RollingUpdate")
    .begin(2)
    .int(1, 0)
    .end()
    .end()
    .int(8, 10)
    .int(9, 0);
  w.begin(10).string(1, "Retain").string(2, "Retain").end().end();
  const revision = `${app.name}-${app.templateHash}`;
  w.begin(3)
    .int(1, app.revisions)
    .int(2, app.replicas)
    .int(3, app.replicas)
    .int(4, app.replicas)
    .int(5, app.replicas);
  w.string(6, revision).string(7, revision).int(9, 0).int(11, app.replicas).end();
  return endObject(w);
}

export function controllerRevisionName(app: AppPlan, i: number): string {
  return i === app.revisions - 1
    ? `${app.name}-${app.templateHash}`
    : `${app.name}-${new Rng(hash32(app.seed, "rev", i)).kubeSuffix(10)}`;
}

export function controllerRevision(
  ctx: BuildContext,
  ns: NamespacePlan,
  app: AppPlan,
  i: number,
): Uint8Array {
  const { w } = ctx;
  beginObject(w, "apps/v1", "ControllerRevision");
  meta(w, {
    name: controllerRevisionName(app, i),
    namespace: ns.name,
    uid: uidFor(app.seed, "rev", i),
    created: app.created + i * 7200,
    labels: [...appLabels(app), ["controller.kubernetes.io/hash", app.templateHash]],
    owner: { apiVersion: "apps/v1", kind: "StatefulSet", name: app.name, uid: uidFor(app.seed, "sts") },
    managed: [
      {
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "apps/v1",
        time: app.created,
        fields: '{"f:data":{},"f:metadata":{"f:labels":{},"f:ownerReferences":{}},"f:revision":{}}',
      },
    ],
  });
  const patch = `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"${app.name}"}},"spec":{"containers":[{"image":"${app.image}","imagePullPolicy":"IfNotPresent","name":"${app.container}","ports":[{"containerPort":${app.port},"name":"http","protocol":"TCP"}],"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","volumeMounts":[{"mountPath":"/data","name":"data"}]}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`;
  w.begin(2)
    .string(1, patch)
    .end()
    .int(3, i + 1);
  return endObject(w);
}

export function persistentVolumeClaim(
  ctx: BuildContext,
  ns: NamespacePlan,
  app: AppPlan,
  i: number,
): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(app.seed, "pvc", i));
  const size = `${rng.pick([1, 5, 10, 20])}Gi`;
  beginObject(w, "v1", "PersistentVolumeClaim");
  meta(w, {
    name: `data-${app.name}-${i}`,
    namespace: ns.name,
    uid: uidFor(app.seed, "pvc", i),
    created: app.created + 2,
    labels: appLabels(app),
    annotations: [
      ["pv.kubernetes.io/bind-completed", "yes"],
      ["pv.kubernetes.io/bound-by-controller", "yes"],
      ["volume.beta.kubernetes.io/storage-provisioner", "rancher.io/local-path"],
      ["volume.kubernetes.io/selected-node", podNode(app, i)],
      ["volume.kubernetes.io/storage-provisioner", "rancher.io/local-path"],
    ],
    finalizers: ["kubernetes.io/pvc-protection"],
  });
  const volume = `pvc-${uidFor(app.seed, "pvc", i)}`;
  w.begin(2)
    .string(1, "ReadWriteOnce")
    .begin(2)
    .begin(2)
    .string(1, "storage")
    .begin(2)
    .string(1, size)
    .end()
    .end()
    .end();
  w.string(3, volume).string(5, "local-path").string(6, "Filesystem").end();
  w.begin(3)
    .string(1, "Bound")
    .string(2, "ReadWriteOnce")
    .begin(3)
    .string(1, "storage")
    .begin(2)
    .string(1, size)
    .end()
    .end()
    .end();
  return endObject(w);
}

export function horizontalPodAutoscaler(ctx: BuildContext, ns: NamespacePlan, app: AppPlan): Uint8Array {
  const { w } = ctx;
  beginObject(w, "autoscaling/v2", "HorizontalPodAutoscaler");
  meta(w, {
    name: app.name,
    namespace: ns.name,
    uid: uidFor(app.seed, "hpa"),
    created: app.created + 1,
    labels: helmLabels(app),
    annotations: helmAnnotations(app, ns),
  });
  w.begin(2)
    .begin(1)
    .string(1, "Deployment")
    .string(2, app.name)
    .string(3, "apps/v1")
    .end()
    .int(2, app.replicas)
    .int(3, app.replicas * 4);
  w.begin(4)
    .string(1, "Resource")
    .begin(4)
    .string(1, "cpu")
    .begin(2)
    .string(1, "Utilization")
    .int(4, 70)
    .end()
    .end()
    .end()
    .end();
  w.begin(3).int(1, 1).int(3, app.replicas).int(4, app.replicas);
  for (const [type, reason] of [
    ["AbleToScale", "ReadyForNewScale"],
    ["ScalingActive", "ValidMetricFound"],
    ["ScalingLimited", "DesiredWithinRange"],
  ] as const) {
    w.begin(6)
      .string(1, type)
      .string(2, type === "ScalingLimited" ? "False" : "True");
    time(w, 3, app.created + 60);
    w.string(4, reason).string(5, "the HPA controller was able to get the target's current scale").end();
  }
  w.end();
  return endObject(w);
}

export function podDisruptionBudget(ctx: BuildContext, ns: NamespacePlan, app: AppPlan): Uint8Array {
  const { w } = ctx;
  beginObject(w, "policy/v1", "PodDisruptionBudget");
  meta(w, {
    name: app.name,
    namespace: ns.name,
    uid: uidFor(app.seed, "pdb"),
    generation: 1,
    created: app.created + 1,
    labels: helmLabels(app),
    annotations: helmAnnotations(app, ns),
  });
  w.begin(2);
  intOrString(w, 1, 1);
  labelSelector(w, 2, appLabels(app));
  w.end();
  w.begin(3)
    .int(1, 1)
    .int(2, Math.max(0, app.replicas - 1))
    .int(3, app.replicas)
    .int(4, 1)
    .int(5, app.replicas);
  w.begin(7)
    .string(1, "DisruptionAllowed")
    .string(2, app.replicas > 1 ? "True" : "False")
    .int(3, 1);
  time(w, 4, app.created + 30);
  w.string(5, app.replicas > 1 ? "SufficientPods" : "InsufficientPods")
    .string(6, "")
    .end()
    .end();
  return endObject(w);
}
