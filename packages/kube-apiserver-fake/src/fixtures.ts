import { gzipSync } from "node:zlib";
import * as k8s from "@kubernetes/client-node";

export interface FakeVClusterSpec {
  readonly name: string;
  readonly namespace: string;
  readonly kind?: "StatefulSet" | "Deployment";
  readonly replicas?: number;
  readonly image?: string;
  /** vcluster.yaml written to Secret vc-config-NAME (`config.yaml`); `false` for no Secret. */
  readonly config?: string | false;
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  readonly configSecretAnnotations?: Record<string, string>;
  /** Helm release Secrets; `false` for none. */
  readonly helm?:
    | false
    | {
        readonly chartName?: string;
        readonly chartVersion?: string;
        readonly values?: Record<string, unknown>;
        /** Where Helm stores the release (Flux storageNamespace); default the vCluster's namespace. */
        readonly storageNamespace?: string;
        /** Older revisions to add before the deployed one, e.g. [{status: "superseded"}]. */
        readonly history?: readonly { status: string; chartVersion?: string }[];
      };
}

/** Helm 3's storage encoding of a release: base64(gzip(JSON)). */
export function encodeHelmRelease(release: Record<string, unknown>): string {
  return gzipSync(Buffer.from(JSON.stringify(release))).toString("base64");
}

/**
 * Creates what `vcluster create` leaves in the host cluster and vsnap reads: the StatefulSet (or
 * Deployment) labelled app=vcluster,release=NAME, the config Secret and the Helm release Secrets.
 * Through the API, like any client; pods appear when the server runs the workload controller.
 */
export async function createFakeVCluster(
  kubeconfig: string | k8s.KubeConfig,
  spec: FakeVClusterSpec,
): Promise<void> {
  const kc = typeof kubeconfig === "string" ? fromYaml(kubeconfig) : kubeconfig;
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const ensureNamespace = async (name: string) => {
    await core.createNamespace({ body: { metadata: { name } } }).catch((e: unknown) => {
      if (!(e instanceof k8s.ApiException && e.code === 409)) throw e;
    });
  };
  await ensureNamespace(spec.namespace);
  const labels = { app: "vcluster", release: spec.name, ...(spec.labels ?? {}) };
  const template = {
    metadata: { labels: { app: "vcluster", release: spec.name } },
    spec: {
      containers: [{ name: "syncer", image: spec.image ?? "ghcr.io/loft-sh/vcluster-pro:0.30.0" }],
      volumes: [{ name: "vcluster-config", secret: { secretName: `vc-config-${spec.name}` } }],
    },
  };
  const body = {
    metadata: { name: spec.name, labels, ...(spec.annotations ? { annotations: spec.annotations } : {}) },
    spec: {
      replicas: spec.replicas ?? 1,
      selector: { matchLabels: { app: "vcluster", release: spec.name } },
      template,
    },
  };
  if (spec.kind === "Deployment") await apps.createNamespacedDeployment({ namespace: spec.namespace, body });
  else
    await apps.createNamespacedStatefulSet({
      namespace: spec.namespace,
      body: { ...body, spec: { ...body.spec, serviceName: `${spec.name}-headless` } },
    });
  if (spec.config !== false) {
    await core.createNamespacedSecret({
      namespace: spec.namespace,
      body: {
        metadata: {
          name: `vc-config-${spec.name}`,
          labels: { app: "vcluster", release: spec.name },
          ...(spec.configSecretAnnotations ? { annotations: spec.configSecretAnnotations } : {}),
        },
        data: { "config.yaml": Buffer.from(spec.config ?? "").toString("base64") },
      },
    });
  }
  if (spec.helm !== false) {
    const helm = spec.helm ?? {};
    const storage = helm.storageNamespace ?? spec.namespace;
    await ensureNamespace(storage);
    const revisions = [...(helm.history ?? []), { status: "deployed", chartVersion: helm.chartVersion }];
    for (const [i, rev] of revisions.entries()) {
      const version = i + 1;
      const release = {
        name: spec.name,
        namespace: spec.namespace,
        version,
        info: { status: rev.status },
        chart: {
          metadata: {
            name: helm.chartName ?? "vcluster",
            version: rev.chartVersion ?? helm.chartVersion ?? "0.30.0",
          },
        },
        config: helm.values ?? {},
      };
      await core.createNamespacedSecret({
        namespace: storage,
        body: {
          metadata: {
            name: `sh.helm.release.v1.${spec.name}.v${version}`,
            labels: { owner: "helm", name: spec.name, status: rev.status, version: String(version) },
          },
          type: "helm.sh/release.v1",
          data: { release: Buffer.from(encodeHelmRelease(release)).toString("base64") },
        },
      });
    }
  }
}

function fromYaml(yaml: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}
