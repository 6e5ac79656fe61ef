/** Names and images that make the demo cluster read like a real one. */

export const NAMESPACE_WORDS = [
  "payments",
  "checkout",
  "catalog",
  "search",
  "identity",
  "billing",
  "shipping",
  "analytics",
  "platform",
  "monitoring",
  "logging",
  "ingress",
  "data",
  "ml",
  "frontend",
  "backend",
  "reporting",
  "messaging",
  "inventory",
  "orders",
  "notifications",
  "gateway",
  "storage",
  "security",
  "ci",
  "tools",
  "marketing",
  "crm",
];
export const ENVIRONMENTS = ["prod", "staging", "dev", "qa", "sandbox"];

export const APP_WORDS = [
  "api",
  "web",
  "worker",
  "frontend",
  "backend",
  "auth",
  "cart",
  "checkout",
  "search",
  "indexer",
  "scheduler",
  "notifier",
  "mailer",
  "gateway",
  "proxy",
  "exporter",
  "collector",
  "ingest",
  "reporter",
  "billing",
  "ledger",
  "pricing",
  "recommender",
  "sessions",
  "uploader",
  "thumbnailer",
  "webhooks",
  "admin",
  "graphql",
  "grpc-api",
  "cron-runner",
  "event-bus",
  "stream-processor",
  "feature-flags",
  "rate-limiter",
  "audit",
];
export const STATEFUL_WORDS = [
  "postgres",
  "redis",
  "kafka",
  "zookeeper",
  "elasticsearch",
  "mongodb",
  "rabbitmq",
  "etcd",
  "minio",
  "nats",
];

export const IMAGES = [
  "docker.io/library/nginx:1.27.2",
  "docker.io/library/node:22-alpine",
  "docker.io/library/python:3.12-slim",
  "ghcr.io/example/api:v2.14.1",
  "ghcr.io/example/worker:v2.14.1",
  "registry.k8s.io/e2e-test-images/agnhost:2.52",
  "quay.io/prometheus/node-exporter:v1.8.2",
  "docker.io/grafana/grafana:11.3.0",
  "gcr.io/distroless/static-debian12:nonroot",
  "docker.io/envoyproxy/envoy:v1.31.2",
];
export const STATEFUL_IMAGES: Readonly<Record<string, string>> = {
  postgres: "docker.io/library/postgres:16.4",
  redis: "docker.io/library/redis:7.4.1",
  kafka: "docker.io/bitnami/kafka:3.8.1",
  zookeeper: "docker.io/bitnami/zookeeper:3.9.2",
  elasticsearch: "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
  mongodb: "docker.io/library/mongo:7.0.14",
  rabbitmq: "docker.io/library/rabbitmq:3.13-management",
  etcd: "quay.io/coreos/etcd:v3.5.16",
  minio: "quay.io/minio/minio:RELEASE.2024-10-13T13-34-11Z",
  nats: "docker.io/library/nats:2.10.22",
};

export const NODE_NAMES = [
  "worker-pool-a-7c9f2",
  "worker-pool-a-k3m8x",
  "worker-pool-b-p2q4z",
  "worker-pool-b-t9v6w",
];

export const CONTROLLERS = [
  "attachdetach-controller",
  "bootstrap-signer",
  "certificate-controller",
  "clusterrole-aggregation-controller",
  "cronjob-controller",
  "daemon-set-controller",
  "deployment-controller",
  "disruption-controller",
  "endpoint-controller",
  "endpointslice-controller",
  "endpointslicemirroring-controller",
  "ephemeral-volume-controller",
  "expand-controller",
  "generic-garbage-collector",
  "horizontal-pod-autoscaler",
  "job-controller",
  "legacy-service-account-token-cleaner",
  "namespace-controller",
  "node-controller",
  "persistent-volume-binder",
  "pod-garbage-collector",
  "pv-protection-controller",
  "pvc-protection-controller",
  "replicaset-controller",
  "replication-controller",
  "resourcequota-controller",
  "root-ca-cert-publisher",
  "service-account-controller",
  "statefulset-controller",
  "token-cleaner",
  "ttl-after-finished-controller",
  "ttl-controller",
  "validatingadmissionpolicy-status-controller",
];

export const CLUSTER_ROLES = [
  "admin",
  "cluster-admin",
  "edit",
  "view",
  "system:aggregate-to-admin",
  "system:aggregate-to-edit",
  "system:aggregate-to-view",
  "system:auth-delegator",
  "system:basic-user",
  "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
  "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
  "system:certificates.k8s.io:kube-apiserver-client-approver",
  "system:certificates.k8s.io:kubelet-serving-approver",
  "system:certificates.k8s.io:legacy-unknown-approver",
  "system:discovery",
  "system:heapster",
  "system:kube-aggregator",
  "system:kube-controller-manager",
  "system:kube-dns",
  "system:kube-scheduler",
  "system:kubelet-api-admin",
  "system:monitoring",
  "system:node",
  "system:node-bootstrapper",
  "system:node-problem-detector",
  "system:node-proxier",
  "system:persistent-volume-provisioner",
  "system:public-info-viewer",
  "system:service-account-issuer-discovery",
  "system:volume-scheduler",
];

export const FLOW_SCHEMAS = [
  "catch-all",
  "endpoint-controller",
  "exempt",
  "global-default",
  "kube-controller-manager",
  "kube-scheduler",
  "kube-system-service-accounts",
  "probes",
  "service-accounts",
  "system-leader-election",
  "system-node-high",
  "system-nodes",
  "workload-leader-election",
];
export const PRIORITY_LEVELS = [
  "catch-all",
  "exempt",
  "global-default",
  "leader-election",
  "node-high",
  "system",
  "workload-high",
  "workload-low",
];

/** Built-in group versions that get an APIService (served locally). */
export const BUILTIN_GROUP_VERSIONS = [
  "v1.",
  "v1.admissionregistration.k8s.io",
  "v1.apiextensions.k8s.io",
  "v1.apps",
  "v1.authentication.k8s.io",
  "v1.authorization.k8s.io",
  "v1.autoscaling",
  "v2.autoscaling",
  "v1.batch",
  "v1.certificates.k8s.io",
  "v1.coordination.k8s.io",
  "v1.discovery.k8s.io",
  "v1.events.k8s.io",
  "v1.flowcontrol.apiserver.k8s.io",
  "v1.networking.k8s.io",
  "v1.node.k8s.io",
  "v1.policy",
  "v1.rbac.authorization.k8s.io",
  "v1.scheduling.k8s.io",
  "v1.storage.k8s.io",
];

export interface CrdInfo {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly shortName: string;
  /** Size of the CRD's OpenAPI schema in bytes: real CRDs range from a few KiB to hundreds. */
  readonly schemaBytes: number;
}

export const CRDS: readonly CrdInfo[] = [
  {
    group: "cert-manager.io",
    version: "v1",
    plural: "certificates",
    singular: "certificate",
    kind: "Certificate",
    shortName: "cert",
    schemaBytes: 48_000,
  },
  {
    group: "cert-manager.io",
    version: "v1",
    plural: "issuers",
    singular: "issuer",
    kind: "Issuer",
    shortName: "iss",
    schemaBytes: 160_000,
  },
  {
    group: "demo.vsnap.dev",
    version: "v1",
    plural: "widgets",
    singular: "widget",
    kind: "Widget",
    shortName: "wd",
    schemaBytes: 6_000,
  },
  {
    group: "monitoring.coreos.com",
    version: "v1",
    plural: "prometheusrules",
    singular: "prometheusrule",
    kind: "PrometheusRule",
    shortName: "promrule",
    schemaBytes: 12_000,
  },
  {
    group: "monitoring.coreos.com",
    version: "v1",
    plural: "servicemonitors",
    singular: "servicemonitor",
    kind: "ServiceMonitor",
    shortName: "smon",
    schemaBytes: 90_000,
  },
  {
    group: "networking.istio.io",
    version: "v1",
    plural: "virtualservices",
    singular: "virtualservice",
    kind: "VirtualService",
    shortName: "vs",
    schemaBytes: 120_000,
  },
];

export interface EventFacts {
  readonly ns: string;
  readonly name: string;
  readonly node: string;
  readonly image: string;
  readonly container: string;
  readonly uid: string;
}

export const EVENT_REASONS: readonly (readonly [
  reason: string,
  type: string,
  component: string,
  message: (f: EventFacts) => string,
])[] = [
  ["Scheduled", "Normal", "default-scheduler", (f) => `Successfully assigned ${f.ns}/${f.name} to ${f.node}`],
  ["Pulling", "Normal", "kubelet", (f) => `Pulling image "${f.image}"`],
  [
    "Pulled",
    "Normal",
    "kubelet",
    (f) =>
      `Successfully pulled image "${f.image}" in 2.118s (2.118s including waiting). Image size: 71028712 bytes.`,
  ],
  ["Created", "Normal", "kubelet", (f) => `Created container ${f.container}`],
  ["Started", "Normal", "kubelet", (f) => `Started container ${f.container}`],
  ["Killing", "Normal", "kubelet", (f) => `Stopping container ${f.container}`],
  [
    "BackOff",
    "Warning",
    "kubelet",
    (f) => `Back-off restarting failed container ${f.container} in pod ${f.name}_${f.ns}(${f.uid})`,
  ],
  [
    "Unhealthy",
    "Warning",
    "kubelet",
    () =>
      'Readiness probe failed: Get "http://10.244.1.17:8080/healthz": dial tcp 10.244.1.17:8080: connect: connection refused',
  ],
];
