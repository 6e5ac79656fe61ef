import { type BuildContext, beginObject, endObject, intOrString, iso, meta, pairs } from "./encode.js";
import type { AppPlan, NamespacePlan } from "./model.js";
import { hash32, Rng } from "./rng.js";
import { appLabels, podIp, podName, podNode, uidFor } from "./workloads.js";

/** One Service's facts, shared by the Service, its Endpoints and its EndpointSlice. */
export interface ServiceInfo {
  readonly name: string;
  readonly namespace: string;
  readonly seed: number;
  readonly created: number;
  readonly port: number;
  readonly portName: string;
  readonly headless: boolean;
  readonly selector: readonly (readonly [string, string])[];
  readonly labels: readonly (readonly [string, string])[];
  readonly backends: readonly {
    readonly pod: string;
    readonly ip: string;
    readonly node: string;
    readonly uid: string;
  }[];
}

export function appServices(ns: NamespacePlan, app: AppPlan): ServiceInfo[] {
  if (!app.service) return [];
  const backends = Array.from({ length: app.replicas }, (_, i) => ({
    pod: podName(app, i),
    ip: podIp(app, i),
    node: podNode(app, i),
    uid: uidFor(app.seed, "pod", i),
  }));
  const base = {
    namespace: ns.name,
    created: app.created,
    port: app.port,
    portName: "http",
    selector: appLabels(app),
    labels: appLabels(app),
    backends,
  };
  const services: ServiceInfo[] = [
    { ...base, name: app.name, seed: hash32(app.seed, "svc", 0), headless: false },
  ];
  if (app.stateful)
    services.push({
      ...base,
      name: `${app.name}-headless`,
      seed: hash32(app.seed, "svc", 1),
      headless: true,
    });
  return services;
}

export function clusterIp(svc: ServiceInfo): string {
  const rng = new Rng(hash32(svc.seed, "clusterip"));
  return `10.96.${rng.int(256)}.${rng.range(1, 254)}`;
}

export function service(ctx: BuildContext, svc: ServiceInfo): Uint8Array {
  const { w } = ctx;
  const address = svc.headless ? "None" : clusterIp(svc);
  beginObject(w, "v1", "Service");
  meta(w, {
    name: svc.name,
    namespace: svc.namespace,
    uid: uidFor(svc.seed, "svc"),
    created: svc.created,
    labels: svc.labels,
    managed: [
      {
        manager: "helm",
        operation: "Update",
        apiVersion: "v1",
        time: svc.created,
        fields: `{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/name":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\\"port\\":${svc.port},\\"protocol\\":\\"TCP\\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}`,
      },
    ],
  });
  w.begin(2).begin(1).string(1, svc.portName).string(2, "TCP").int(3, svc.port);
  intOrString(w, 4, svc.port);
  w.int(5, 0).end();
  pairs(w, 2, svc.selector);
  w.string(3, address)
    .string(4, "ClusterIP")
    .string(7, "None")
    .string(8, "")
    .string(10, "")
    .string(11, "")
    .int(12, 0)
    .bool(13, svc.headless);
  w.string(17, "SingleStack").string(18, address).string(19, "IPv4").string(22, "Cluster").end();
  w.begin(3).begin(1).end().end();
  return endObject(w);
}

export function endpoints(ctx: BuildContext, svc: ServiceInfo): Uint8Array {
  const { w } = ctx;
  beginObject(w, "v1", "Endpoints");
  meta(w, {
    name: svc.name,
    namespace: svc.namespace,
    uid: uidFor(svc.seed, "ep"),
    created: svc.created,
    labels: svc.headless ? [...svc.labels, ["service.kubernetes.io/headless", ""]] : svc.labels,
    annotations: [["endpoints.kubernetes.io/last-change-trigger-time", iso(svc.created + 40)]],
    managed: [
      {
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "v1",
        time: svc.created + 40,
        fields:
          '{"f:metadata":{"f:annotations":{".":{},"f:endpoints.kubernetes.io/last-change-trigger-time":{}},"f:labels":{".":{},"f:app":{}}},"f:subsets":{}}',
      },
    ],
  });
  if (svc.backends.length > 0) {
    w.begin(2);
    for (const b of svc.backends) {
      w.begin(1).string(1, b.ip);
      if (b.pod !== "")
        w.begin(2)
          .string(1, "Pod")
          .string(2, svc.namespace)
          .string(3, b.pod)
          .string(4, b.uid)
          .string(5, "")
          .string(6, "")
          .string(7, "")
          .end();
      w.string(3, svc.headless ? b.pod : "");
      if (b.node !== "") w.string(4, b.node);
      w.end();
    }
    w.begin(3).string(1, svc.portName).int(2, svc.port).string(3, "TCP").end().end();
  }
  return endObject(w);
}

export function endpointSliceName(svc: ServiceInfo): string {
  return `${svc.name}-${new Rng(hash32(svc.seed, "eps")).kubeSuffix(5)}`;
}

export function endpointSlice(ctx: BuildContext, svc: ServiceInfo): Uint8Array {
  const { w } = ctx;
  const name = endpointSliceName(svc);
  beginObject(w, "discovery.k8s.io/v1", "EndpointSlice");
  meta(w, {
    name,
    generateName: `${svc.name}-`,
    namespace: svc.namespace,
    uid: uidFor(svc.seed, "eps"),
    generation: 1 + svc.backends.length,
    created: svc.created,
    labels: [
      ...svc.labels,
      ["endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"],
      ["kubernetes.io/service-name", svc.name],
    ],
    annotations: [["endpoints.kubernetes.io/last-change-trigger-time", iso(svc.created + 40)]],
    owner: { apiVersion: "v1", kind: "Service", name: svc.name, uid: uidFor(svc.seed, "svc") },
    managed: [
      {
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "discovery.k8s.io/v1",
        time: svc.created + 40,
        fields:
          '{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:annotations":{".":{},"f:endpoints.kubernetes.io/last-change-trigger-time":{}},"f:generateName":{},"f:labels":{".":{},"f:endpointslice.kubernetes.io/managed-by":{},"f:kubernetes.io/service-name":{}},"f:ownerReferences":{".":{},"k:{\\"uid\\":\\"\\"}":{}}},"f:ports":{}}',
      },
    ],
  });
  for (const b of svc.backends) {
    w.begin(2).string(1, b.ip).begin(2).bool(1, true).bool(2, true).bool(3, false).end();
    if (b.pod !== "")
      w.begin(4)
        .string(1, "Pod")
        .string(2, svc.namespace)
        .string(3, b.pod)
        .string(4, b.uid)
        .string(5, "")
        .string(6, "")
        .string(7, "")
        .end();
    if (b.node !== "") w.string(6, b.node);
    w.end();
  }
  w.begin(3).string(1, svc.portName).string(2, "TCP").int(3, svc.port).end().string(4, "IPv4");
  return endObject(w);
}

export function ingress(ctx: BuildContext, ns: NamespacePlan, app: AppPlan): Uint8Array {
  const { w } = ctx;
  const host = `${app.name}.${ns.name}.example.com`;
  beginObject(w, "networking.k8s.io/v1", "Ingress");
  meta(w, {
    name: app.name,
    namespace: ns.name,
    uid: uidFor(app.seed, "ing"),
    generation: 1,
    created: app.created + 3,
    labels: appLabels(app),
    annotations: [
      ["cert-manager.io/cluster-issuer", "letsencrypt-prod"],
      ["nginx.ingress.kubernetes.io/proxy-body-size", "16m"],
    ],
  });
  w.begin(2).begin(2).string(1, host).string(2, `${app.name}-tls`).end();
  w.begin(3)
    .string(1, host)
    .begin(2)
    .begin(1)
    .begin(1)
    .string(1, "/")
    .begin(2)
    .begin(4)
    .string(1, app.name)
    .begin(2)
    .string(1, "")
    .int(2, app.port)
    .end()
    .end()
    .end()
    .string(3, "Prefix")
    .end()
    .end()
    .end()
    .end();
  w.string(4, "nginx").end();
  w.begin(3).begin(1).begin(1).string(1, "172.18.0.100").string(2, "").end().end().end();
  return endObject(w);
}
