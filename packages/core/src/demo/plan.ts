import {
  BUILTIN_GROUP_VERSIONS,
  CLUSTER_ROLES,
  CONTROLLERS,
  CRDS,
  type CrdInfo,
  FLOW_SCHEMAS,
  NODE_NAMES,
  PRIORITY_LEVELS,
} from "./catalog.js";
import {
  flowSchema,
  namespace,
  node,
  priorityClass,
  priorityLevel,
  rangeAllocation,
  role,
  roleBinding,
  storageClass,
} from "./cluster.js";
import {
  appConfigMap,
  configMap,
  configMapName,
  helmReleaseName,
  rootCaConfigMap,
  secret,
  secretName,
  serviceAccount,
} from "./config.js";
import type { BuildContext } from "./encode.js";
import { apiService, crdName, customResource, customResourceDefinition } from "./json.js";
import { appEvents, appLease, type EventInfo, event, lease, namespaceEvent } from "./misc.js";
import {
  type AppPlan,
  appKeyCount,
  appPlan,
  CLUSTER_EPOCH,
  type NamespacePlan,
  namespaceOverhead,
  serviceNames,
  systemNamespace,
  targetApps,
  userNamespace,
} from "./model.js";
import {
  appServices,
  endpointSlice,
  endpointSliceName,
  endpoints,
  ingress,
  type ServiceInfo,
  service,
} from "./network.js";
import { hash32 } from "./rng.js";
import {
  controllerRevision,
  controllerRevisionName,
  deployment,
  horizontalPodAutoscaler,
  persistentVolumeClaim,
  pod,
  podDisruptionBudget,
  podIp,
  podName,
  replicaSet,
  replicaSetName,
  statefulSet,
} from "./workloads.js";

/** One object of a bucket: its name (the last key segment) and how to build its value. */
export interface Item {
  readonly name: string;
  readonly build: (ctx: BuildContext) => Uint8Array;
}

/** All keys sharing a prefix (`/registry/pods/<ns>/`), produced together and sorted by name. */
export interface Bucket {
  readonly prefix: string;
  readonly items: () => Item[];
}

export interface ClusterPlan {
  readonly seed: number;
  readonly keys: number;
  /** Sorted as key prefixes sort (`name/`). */
  readonly namespaces: readonly NamespacePlan[];
  /** Services in the cluster (sizes the ClusterIP allocation bitmap). */
  readonly services: number;
  /** Tiny clusters: keep only the first N names of these buckets. */
  readonly limits: ReadonlyMap<string, number>;
}

const SYSTEM_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"];

function crdOf(plural: string): CrdInfo {
  return CRDS.find((c) => c.plural === plural)!;
}

/** kube-system's CoreDNS, described like any app so the workload builders can render it. */
function corednsApp(ns: NamespacePlan): AppPlan {
  return {
    index: 0,
    name: "coredns",
    container: "coredns",
    seed: hash32(ns.seed, "coredns"),
    stateful: false,
    replicas: 2,
    image: "registry.k8s.io/coredns/coredns:v1.11.3",
    port: 53,
    created: CLUSTER_EPOCH + 60,
    templateHash: "7db6d8ff4d",
    service: false,
    ingress: false,
    hpa: false,
    pdb: false,
    serviceAccount: true,
    configMaps: 0,
    secrets: 0,
    helmRelease: false,
    oldReplicaSets: 0,
    revisions: 0,
    lease: false,
    widgets: 0,
    serviceMonitor: false,
    virtualService: false,
    prometheusRule: false,
    eventsPerPod: 0,
  };
}

function systemServices(ns: NamespacePlan): ServiceInfo[] {
  if (ns.name === "default") {
    return [
      {
        name: "kubernetes",
        namespace: ns.name,
        seed: hash32(ns.seed, "kubernetes"),
        created: ns.created,
        port: 443,
        portName: "https",
        headless: false,
        selector: [],
        labels: [
          ["component", "apiserver"],
          ["provider", "kubernetes"],
        ],
        backends: [{ pod: "", ip: "172.18.0.2", node: "", uid: "" }],
      },
    ];
  }
  if (ns.name === "kube-system") {
    const dns = corednsApp(ns);
    return [
      {
        name: "kube-dns",
        namespace: ns.name,
        seed: hash32(ns.seed, "kube-dns"),
        created: dns.created,
        port: 53,
        portName: "dns",
        headless: false,
        selector: [["k8s-app", "kube-dns"]],
        labels: [
          ["k8s-app", "kube-dns"],
          ["kubernetes.io/cluster-service", "true"],
          ["kubernetes.io/name", "CoreDNS"],
        ],
        backends: [0, 1].map((i) => ({
          pod: podName(dns, i),
          ip: podIp(dns, i),
          node: NODE_NAMES[i % NODE_NAMES.length]!,
          uid: "",
        })),
      },
    ];
  }
  return [];
}

function items(list: readonly (readonly [string, (ctx: BuildContext) => Uint8Array])[]): Item[] {
  return list.map(([name, build]) => ({ name, build }));
}

type NamespacedResource = readonly [
  prefix: string,
  items: (ns: NamespacePlan, apps: AppPlan[], seed: number) => Item[],
];

function eventsOf(ns: NamespacePlan, apps: AppPlan[]): EventInfo[] {
  const list = apps.flatMap(appEvents);
  for (let i = 0; i < ns.extraEvents; i++) list.push(namespaceEvent(ns, i));
  return list;
}

function crItems(
  ns: NamespacePlan,
  apps: AppPlan[],
  plural: string,
  names: (app: AppPlan) => string[],
): Item[] {
  const crd = crdOf(plural);
  return apps.flatMap((app) =>
    names(app).map((name, i) => ({
      name,
      build: (ctx: BuildContext) => customResource(ctx, ns, app, crd, name, i),
    })),
  );
}

const NAMESPACED: readonly NamespacedResource[] = [
  [
    "/registry/cert-manager.io/certificates/",
    (ns, apps) => crItems(ns, apps, "certificates", (a) => (a.ingress ? [`${a.name}-tls`] : [])),
  ],
  [
    "/registry/cert-manager.io/issuers/",
    (ns) => {
      if (!ns.issuer) return [];
      const owner = { name: "letsencrypt", seed: ns.seed, created: ns.created + 30, port: 443 };
      return [
        {
          name: "letsencrypt",
          build: (ctx) => customResource(ctx, ns, owner, crdOf("issuers"), "letsencrypt", 0),
        },
      ];
    },
  ],
  [
    "/registry/configmaps/",
    (ns, apps) => {
      const list: Item[] = [{ name: "kube-root-ca.crt", build: (ctx) => rootCaConfigMap(ctx, ns) }];
      for (const app of apps)
        for (let i = 0; i < app.configMaps; i++)
          list.push({ name: configMapName(app, i), build: (ctx) => appConfigMap(ctx, ns, app, i) });
      if (ns.name === "kube-system") {
        for (const name of [
          "coredns",
          "extension-apiserver-authentication",
          "kube-apiserver-legacy-service-account-token-tracking",
        ]) {
          list.push({ name, build: (ctx) => configMap(ctx, ns, name, ns.seed, ns.created + 5, undefined) });
        }
        list.push({
          name: "cluster-dashboards",
          build: (ctx) =>
            configMap(
              ctx,
              ns,
              "cluster-dashboards",
              ns.seed,
              ns.created + 900,
              [["grafana_dashboard", "1"]],
              true,
            ),
        });
      }
      if (ns.name === "kube-public")
        list.push({
          name: "cluster-info",
          build: (ctx) => configMap(ctx, ns, "cluster-info", ns.seed, ns.created + 5, undefined),
        });
      return list;
    },
  ],
  [
    "/registry/controllerrevisions/",
    (ns, apps) =>
      apps.flatMap((app) =>
        Array.from({ length: app.revisions }, (_, i) => ({
          name: controllerRevisionName(app, i),
          build: (ctx: BuildContext) => controllerRevision(ctx, ns, app, i),
        })),
      ),
  ],
  [
    "/registry/demo.vsnap.dev/widgets/",
    (ns, apps) =>
      crItems(ns, apps, "widgets", (a) => Array.from({ length: a.widgets }, (_, i) => `${a.name}-w${i}`)),
  ],
  [
    "/registry/deployments/",
    (ns, apps) => {
      const list = apps.filter((a) => !a.stateful);
      if (ns.name === "kube-system") list.push(corednsApp(ns));
      return list.map((app) => ({ name: app.name, build: (ctx) => deployment(ctx, ns, app) }));
    },
  ],
  [
    "/registry/endpointslices/",
    (ns, apps) =>
      [...systemServices(ns), ...apps.flatMap((a) => appServices(ns, a))].map((svc) => ({
        name: endpointSliceName(svc),
        build: (ctx) => endpointSlice(ctx, svc),
      })),
  ],
  [
    "/registry/events/",
    (ns, apps) =>
      eventsOf(ns, apps).map((info) => ({ name: info.name, build: (ctx) => event(ctx, ns, info) })),
  ],
  [
    "/registry/horizontalpodautoscalers/",
    (ns, apps) =>
      apps
        .filter((a) => a.hpa)
        .map((app) => ({ name: app.name, build: (ctx) => horizontalPodAutoscaler(ctx, ns, app) })),
  ],
  [
    "/registry/ingress/",
    (ns, apps) =>
      apps.filter((a) => a.ingress).map((app) => ({ name: app.name, build: (ctx) => ingress(ctx, ns, app) })),
  ],
  [
    "/registry/leases/",
    (ns, apps) => {
      const list: Item[] = apps
        .filter((a) => a.lease)
        .map((app) => ({ name: `${app.name}-leader`, build: (ctx) => appLease(ctx, ns, app) }));
      if (ns.name === "kube-system") {
        const apiserver = `apiserver-${hash32(ns.seed, "apiserver").toString(36)}`;
        for (const [name, holder] of [
          ["kube-controller-manager", `vcluster-0_${hash32(ns.seed, "kcm").toString(16)}`],
          ["kube-scheduler", `vcluster-0_${hash32(ns.seed, "sched").toString(16)}`],
          [apiserver, `${apiserver}_${hash32(ns.seed, "apiserver-holder").toString(16)}`],
        ] as const) {
          list.push({
            name,
            build: (ctx) =>
              lease(
                ctx,
                ns,
                name,
                holder,
                ns.seed,
                ns.created + 10,
                name.startsWith("apiserver") ? 3600 : 15,
              ),
          });
        }
      }
      if (ns.name === "kube-node-lease") {
        for (const nodeName of NODE_NAMES)
          list.push({
            name: nodeName,
            build: (ctx) => lease(ctx, ns, nodeName, nodeName, ns.seed, ns.created + 120, 40),
          });
      }
      return list;
    },
  ],
  [
    "/registry/monitoring.coreos.com/prometheusrules/",
    (ns, apps) => crItems(ns, apps, "prometheusrules", (a) => (a.prometheusRule ? [`${a.name}-alerts`] : [])),
  ],
  [
    "/registry/monitoring.coreos.com/servicemonitors/",
    (ns, apps) => crItems(ns, apps, "servicemonitors", (a) => (a.serviceMonitor ? [a.name] : [])),
  ],
  [
    "/registry/networking.istio.io/virtualservices/",
    (ns, apps) => crItems(ns, apps, "virtualservices", (a) => (a.virtualService ? [a.name] : [])),
  ],
  [
    "/registry/persistentvolumeclaims/",
    (ns, apps) =>
      apps.flatMap((app) =>
        app.stateful
          ? Array.from({ length: app.replicas }, (_, i) => ({
              name: `data-${app.name}-${i}`,
              build: (ctx: BuildContext) => persistentVolumeClaim(ctx, ns, app, i),
            }))
          : [],
      ),
  ],
  [
    "/registry/poddisruptionbudgets/",
    (ns, apps) =>
      apps
        .filter((a) => a.pdb)
        .map((app) => ({ name: app.name, build: (ctx) => podDisruptionBudget(ctx, ns, app) })),
  ],
  [
    "/registry/pods/",
    (ns, apps) => {
      const all = ns.name === "kube-system" ? [...apps, corednsApp(ns)] : apps;
      return all.flatMap((app) =>
        Array.from({ length: app.replicas }, (_, i) => ({
          name: podName(app, i),
          build: (ctx: BuildContext) => pod(ctx, ns, app, i),
        })),
      );
    },
  ],
  [
    "/registry/replicasets/",
    (ns, apps) => {
      const all = ns.name === "kube-system" ? [...apps, corednsApp(ns)] : apps;
      return all.flatMap((app) =>
        app.stateful
          ? []
          : [-1, ...Array.from({ length: app.oldReplicaSets }, (_, i) => i)].map((old) => ({
              name: replicaSetName(app, old),
              build: (ctx: BuildContext) => replicaSet(ctx, ns, app, old),
            })),
      );
    },
  ],
  [
    "/registry/rolebindings/",
    (ns) =>
      systemRoles(ns).map(([roleName, bindingName]) => ({
        name: bindingName,
        build: (ctx) =>
          roleBinding(
            ctx,
            bindingName,
            ns.seed,
            {
              kind: ns.system ? "ServiceAccount" : "Group",
              name: ns.system ? roleName.split(":").pop()! : `${ns.name}-developers`,
              namespace: ns.system ? ns.name : undefined,
            },
            ns.name,
          ),
      })),
  ],
  [
    "/registry/roles/",
    (ns) =>
      systemRoles(ns).map(([roleName]) => ({
        name: roleName,
        build: (ctx) => role(ctx, roleName, ns.seed, ns.name),
      })),
  ],
  [
    "/registry/secrets/",
    (ns, apps) =>
      apps.flatMap((app) => {
        const list: Item[] = Array.from({ length: app.secrets }, (_, i) => {
          const name = secretName(app, i);
          return { name, build: (ctx: BuildContext) => secret(ctx, ns, app, name, "opaque") };
        });
        if (app.ingress)
          list.push({
            name: `${app.name}-tls`,
            build: (ctx) => secret(ctx, ns, app, `${app.name}-tls`, "tls"),
          });
        if (app.helmRelease)
          list.push({
            name: helmReleaseName(app),
            build: (ctx) => secret(ctx, ns, app, helmReleaseName(app), "helm"),
          });
        return list;
      }),
  ],
  [
    "/registry/serviceaccounts/",
    (ns, apps) => {
      const names = ["default", ...apps.filter((a) => a.serviceAccount).map((a) => a.name)];
      if (ns.name === "kube-system") names.push("coredns", ...CONTROLLERS);
      return names.map((name) => ({
        name,
        build: (ctx) => serviceAccount(ctx, ns, name, ns.seed, ns.created + 2),
      }));
    },
  ],
  [
    "/registry/services/endpoints/",
    (ns, apps) =>
      [...systemServices(ns), ...apps.flatMap((a) => appServices(ns, a))].map((svc) => ({
        name: svc.name,
        build: (ctx) => endpoints(ctx, svc),
      })),
  ],
  [
    "/registry/services/specs/",
    (ns, apps) =>
      [...systemServices(ns), ...apps.flatMap((a) => appServices(ns, a))].map((svc) => ({
        name: svc.name,
        build: (ctx) => service(ctx, svc),
      })),
  ],
  [
    "/registry/statefulsets/",
    (ns, apps) =>
      apps
        .filter((a) => a.stateful)
        .map((app) => ({ name: app.name, build: (ctx) => statefulSet(ctx, ns, app) })),
  ],
];

/** [role, binding] names of a namespace. */
function systemRoles(ns: NamespacePlan): (readonly [string, string])[] {
  switch (ns.name) {
    case "kube-system":
      return [
        ["extension-apiserver-authentication-reader", "system::extension-apiserver-authentication-reader"],
        ["system::leader-locking-kube-controller-manager", "system::leader-locking-kube-controller-manager"],
        ["system::leader-locking-kube-scheduler", "system::leader-locking-kube-scheduler"],
        ["system:controller:bootstrap-signer", "system:controller:bootstrap-signer"],
        ["system:controller:cloud-provider", "system:controller:cloud-provider"],
        ["system:controller:token-cleaner", "system:controller:token-cleaner"],
      ];
    case "kube-public":
      return [["system:controller:bootstrap-signer", "system:controller:bootstrap-signer"]];
    default:
      return ns.role ? [[`${ns.name}-developer`, `${ns.name}-developers`]] : [];
  }
}

function clusterBuckets(seed: number, namespaces: readonly NamespacePlan[], services: number): Bucket[] {
  const crdGroups = [...new Set(CRDS.map((c) => `${c.version}.${c.group}`))];
  const bindings = [
    "cluster-admin",
    "system:basic-user",
    "system:discovery",
    "system:kube-controller-manager",
    "system:kube-dns",
    "system:kube-scheduler",
    "system:monitoring",
    "system:node",
    "system:node-proxier",
    "system:public-info-viewer",
    "system:service-account-issuer-discovery",
    "system:volume-scheduler",
  ];
  return [
    {
      prefix: "/registry/apiextensions.k8s.io/customresourcedefinitions/",
      items: () =>
        CRDS.map((crd) => ({ name: crdName(crd), build: (ctx) => customResourceDefinition(ctx, seed, crd) })),
    },
    {
      prefix: "/registry/apiregistration.k8s.io/apiservices/",
      items: () =>
        [...BUILTIN_GROUP_VERSIONS, ...crdGroups].map((name) => ({
          name,
          build: (ctx) => apiService(ctx, seed, name),
        })),
    },
    {
      prefix: "/registry/clusterrolebindings/",
      items: () =>
        [...bindings, ...CONTROLLERS.map((c) => `system:controller:${c}`)].map((name) => ({
          name,
          build: (ctx) =>
            roleBinding(
              ctx,
              name,
              seed,
              name.startsWith("system:controller:")
                ? { kind: "ServiceAccount", name: name.slice(18), namespace: "kube-system" }
                : {
                    kind: "Group",
                    name: name === "cluster-admin" ? "system:masters" : "system:authenticated",
                  },
            ),
        })),
    },
    {
      prefix: "/registry/clusterroles/",
      items: () =>
        [...CLUSTER_ROLES, ...CONTROLLERS.map((c) => `system:controller:${c}`)].map((name) => ({
          name,
          build: (ctx) => role(ctx, name, seed),
        })),
    },
    {
      prefix: "/registry/flowschemas/",
      items: () => FLOW_SCHEMAS.map((name, i) => ({ name, build: (ctx) => flowSchema(ctx, seed, name, i) })),
    },
    {
      prefix: "/registry/minions/",
      items: () => NODE_NAMES.map((name) => ({ name, build: (ctx) => node(ctx, seed, name) })),
    },
    {
      prefix: "/registry/namespaces/",
      items: () => namespaces.map((ns) => ({ name: ns.name, build: (ctx) => namespace(ctx, ns) })),
    },
    {
      prefix: "/registry/priorityclasses/",
      items: () =>
        items([
          [
            "system-cluster-critical",
            (ctx) => priorityClass(ctx, seed, "system-cluster-critical", 2_000_000_000),
          ],
          ["system-node-critical", (ctx) => priorityClass(ctx, seed, "system-node-critical", 2_000_001_000)],
        ]),
    },
    {
      prefix: "/registry/prioritylevelconfigurations/",
      items: () =>
        PRIORITY_LEVELS.map((name, i) => ({ name, build: (ctx) => priorityLevel(ctx, seed, name, i) })),
    },
    {
      prefix: "/registry/ranges/",
      items: () =>
        items([
          ["serviceips", (ctx) => rangeAllocation(ctx, seed, "serviceips", services)],
          [
            "servicenodeports",
            (ctx) => rangeAllocation(ctx, seed, "servicenodeports", Math.ceil(services / 50)),
          ],
        ]),
    },
    {
      prefix: "/registry/storageclasses/",
      items: () => items([["local-path", (ctx) => storageClass(ctx, seed)]]),
    },
  ];
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0; // ASCII only, so UTF-16 order is byte order
}

/**
 * Every bucket in ascending prefix order, built lazily. Resource prefixes never prefix one another,
 * so ordering resources, then namespaces by `name/`, then names within a bucket orders all keys.
 */
export function* bucketsOf(plan: ClusterPlan): Generator<Bucket> {
  type Group = { readonly prefix: string; readonly bucket?: Bucket; readonly list?: NamespacedResource[1] };
  const groups: Group[] = [
    ...clusterBuckets(plan.seed, plan.namespaces, plan.services).map((bucket) => ({
      prefix: bucket.prefix,
      bucket,
    })),
    ...NAMESPACED.map(([prefix, list]) => ({ prefix, list })),
  ].sort((a, b) => byteOrder(a.prefix, b.prefix));
  for (const group of groups) {
    if (group.bucket) yield group.bucket;
    else {
      const list = group.list!;
      for (const ns of plan.namespaces)
        yield { prefix: `${group.prefix}${ns.name}/`, items: () => list(ns, ns.apps, plan.seed) };
    }
  }
}

function sortNamespaces(namespaces: NamespacePlan[]): NamespacePlan[] {
  return namespaces.sort((a, b) => byteOrder(`${a.name}/`, `${b.name}/`));
}

/** Decides namespaces and apps so that the cluster has exactly `keys` keys. */
export function planCluster(seed: number, keys: number): ClusterPlan {
  const system = SYSTEM_NAMESPACES.map((name, i) => systemNamespace(seed, name, i));
  const systemPlan: ClusterPlan = {
    seed,
    keys,
    namespaces: sortNamespaces([...system]),
    services: 2,
    limits: new Map(),
  };
  let baseline = 0;
  for (const bucket of bucketsOf(systemPlan)) baseline += bucket.items().length;

  const user: NamespacePlan[] = [];
  let remaining = keys - baseline;
  let services = 2;
  for (let index = 0; remaining > 0; index++) {
    const ns = userNamespace(seed, index);
    if (namespaceOverhead(ns) > remaining) break;
    remaining -= namespaceOverhead(ns);
    user.push(ns);
    const target = targetApps(ns);
    let full = false;
    for (let a = 0; a < target; a++) {
      const app = appPlan(ns, a);
      const cost = appKeyCount(app);
      if (cost > remaining) {
        full = true;
        break;
      }
      remaining -= cost;
      services += serviceNames(app).length;
      ns.apps.push(app);
    }
    if (full) break;
  }
  // Whatever is left (less than one app) becomes events, so the count is exact.
  const fillers = user.length > 0 ? user : system.filter((ns) => ns.name === "kube-system");
  for (let i = 0; remaining > 0; i++, remaining--) fillers[i % fillers.length]!.extraEvents++;

  const plan: ClusterPlan = {
    seed,
    keys,
    namespaces: sortNamespaces([...system, ...user]),
    services,
    limits: new Map(),
  };
  return remaining < 0 ? { ...plan, limits: trim(plan, -remaining) } : plan;
}

/** Tiny clusters: drop names from the fullest buckets until the count fits. */
function trim(plan: ClusterPlan, excess: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const bucket of bucketsOf(plan)) counts.set(bucket.prefix, bucket.items().length);
  for (; excess > 0; excess--) {
    let largest = "";
    let most = -1;
    for (const [prefix, count] of counts) {
      if (count > most) {
        largest = prefix;
        most = count;
      }
    }
    counts.set(largest, most - 1);
  }
  return counts;
}

export { byteOrder };
