import {
  APP_WORDS,
  ENVIRONMENTS,
  IMAGES,
  NAMESPACE_WORDS,
  STATEFUL_IMAGES,
  STATEFUL_WORDS,
} from "./catalog.js";
import { hash32, Rng } from "./rng.js";

/** 2026-01-01T00:00:00Z: the demo cluster's creation time. */
export const CLUSTER_EPOCH = 1_767_225_600;

/** One workload and everything around it, derived from (seed, namespace, index) alone. */
export interface AppPlan {
  readonly index: number;
  readonly name: string;
  /** The app's name without a numeric suffix: its container's name. */
  readonly container: string;
  readonly seed: number;
  readonly stateful: boolean;
  readonly replicas: number;
  readonly image: string;
  readonly port: number;
  readonly created: number;
  /** pod-template-hash of the current ReplicaSet (or the StatefulSet's current revision). */
  readonly templateHash: string;
  readonly service: boolean;
  readonly ingress: boolean;
  readonly hpa: boolean;
  readonly pdb: boolean;
  readonly serviceAccount: boolean;
  readonly configMaps: number;
  readonly secrets: number;
  readonly helmRelease: boolean;
  readonly oldReplicaSets: number;
  readonly revisions: number;
  readonly lease: boolean;
  readonly widgets: number;
  readonly serviceMonitor: boolean;
  readonly virtualService: boolean;
  readonly prometheusRule: boolean;
  readonly eventsPerPod: number;
}

export interface NamespacePlan {
  readonly index: number;
  readonly name: string;
  readonly seed: number;
  readonly created: number;
  readonly system: boolean;
  /** Apps planned in this namespace (user namespaces), kept so buckets need not re-derive them. */
  readonly apps: AppPlan[];
  /** Events added to hit the requested key count exactly. */
  extraEvents: number;
  readonly role: boolean;
  readonly issuer: boolean;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The i-th distinct word of a per-namespace permutation of `words` (suffixed once they run out). */
function wordAt(words: readonly string[], seed: number, i: number): string {
  const offset = seed % words.length;
  let step = 1 + ((seed >>> 8) % words.length);
  while (gcd(step, words.length) !== 1) step++;
  const word = words[(offset + i * step) % words.length]!;
  const round = Math.floor(i / words.length);
  return round === 0 ? word : `${word}-${round + 1}`;
}

export function userNamespace(seed: number, index: number): NamespacePlan {
  const nsSeed = hash32(seed, 0x6e73, index);
  const rng = new Rng(nsSeed);
  const combos = NAMESPACE_WORDS.length * ENVIRONMENTS.length;
  const slot = index % combos;
  const base = `${NAMESPACE_WORDS[slot % NAMESPACE_WORDS.length]}-${ENVIRONMENTS[Math.floor(slot / NAMESPACE_WORDS.length)]}`;
  const round = Math.floor(index / combos);
  return {
    index,
    name: round === 0 ? base : `${base}-${round + 1}`,
    seed: nsSeed,
    created: CLUSTER_EPOCH + 3600 + index * 1800 + rng.int(1800),
    system: false,
    apps: [],
    extraEvents: 0,
    role: rng.chance(0.5),
    issuer: rng.chance(0.3),
  };
}

export function systemNamespace(seed: number, name: string, index: number): NamespacePlan {
  return {
    index,
    name,
    seed: hash32(seed, 0x737973, name),
    created: CLUSTER_EPOCH + index,
    system: true,
    apps: [],
    extraEvents: 0,
    role: false,
    issuer: false,
  };
}

/** How many apps a user namespace aims for: most small, some large. */
export function targetApps(ns: NamespacePlan): number {
  return new Rng(ns.seed ^ 0x41505053).logRange(2, 16);
}

export function appPlan(ns: NamespacePlan, index: number): AppPlan {
  const seed = hash32(ns.seed, 0x617070, index);
  const rng = new Rng(seed);
  const stateful = rng.chance(0.15);
  const name = stateful ? wordAt(STATEFUL_WORDS, ns.seed, index) : wordAt(APP_WORDS, ns.seed >>> 3, index);
  const baseWord = name.replace(/-\d+$/, "");
  const service = stateful || rng.chance(0.85);
  const ingress = !stateful && service && rng.chance(0.25);
  return {
    index,
    name,
    container: baseWord,
    seed,
    stateful,
    replicas: stateful ? rng.range(1, 3) : rng.logRange(1, 6),
    image: stateful ? (STATEFUL_IMAGES[baseWord] ?? rng.pick(IMAGES)) : rng.pick(IMAGES),
    port: stateful ? rng.pick([5432, 6379, 9092, 9200, 27017, 5672]) : rng.pick([80, 8080, 8443, 3000, 9090]),
    created: ns.created + 600 + rng.int(30 * 86400),
    templateHash: rng.kubeSuffix(stateful ? 10 : rng.pick([9, 10])),
    service,
    ingress,
    hpa: !stateful && rng.chance(0.15),
    pdb: rng.chance(0.15),
    serviceAccount: rng.chance(0.6),
    configMaps: rng.logRange(1, 4) - (rng.chance(0.3) ? 1 : 0),
    secrets: rng.range(0, 2),
    helmRelease: rng.chance(0.1),
    oldReplicaSets: stateful ? 0 : rng.range(0, 2),
    revisions: stateful ? rng.range(1, 2) : 0,
    lease: rng.chance(0.1),
    widgets: rng.chance(0.2) ? rng.range(1, 3) : 0,
    serviceMonitor: service && rng.chance(0.2),
    virtualService: ingress && rng.chance(0.4),
    prometheusRule: rng.chance(0.05),
    eventsPerPod: rng.range(0, 4),
  };
}

/** Services of an app: stateful sets get a headless one for their pods' DNS names too. */
export function serviceNames(app: AppPlan): string[] {
  if (!app.service) return [];
  return app.stateful ? [app.name, `${app.name}-headless`] : [app.name];
}

/** Keys one app contributes; must agree with what the buckets generate (a test checks the total). */
export function appKeyCount(app: AppPlan): number {
  const services = serviceNames(app).length;
  return (
    (app.stateful
      ? 1 + app.revisions + app.replicas /* sts, revisions, pvcs */
      : 1 + 1 + app.oldReplicaSets) +
    app.replicas + // pods
    services * 3 + // service, endpoints, endpointslice
    (app.ingress ? 2 : 0) + // ingress + its TLS secret
    (app.hpa ? 1 : 0) +
    (app.pdb ? 1 : 0) +
    (app.serviceAccount ? 1 : 0) +
    app.configMaps +
    app.secrets +
    (app.helmRelease ? 1 : 0) +
    (app.lease ? 1 : 0) +
    app.widgets +
    (app.ingress ? 1 : 0) + // cert-manager Certificate
    (app.serviceMonitor ? 1 : 0) +
    (app.virtualService ? 1 : 0) +
    (app.prometheusRule ? 1 : 0) +
    appEventCount(app)
  );
}

export function appEventCount(app: AppPlan): number {
  return app.replicas * app.eventsPerPod + (app.stateful ? 0 : 1);
}

/** Keys of a user namespace besides its apps: the namespace, `default` SA, `kube-root-ca.crt`, RBAC, issuer. */
export function namespaceOverhead(ns: NamespacePlan): number {
  return 3 + (ns.role ? 2 : 0) + (ns.issuer ? 1 : 0);
}
