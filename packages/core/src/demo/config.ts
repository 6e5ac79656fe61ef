import { type BuildContext, beginObject, endObject, meta, type Pairs } from "./encode.js";
import type { AppPlan, NamespacePlan } from "./model.js";
import { asciiBytes, randomBase64, randomBytes, randomPem, textSlice } from "./pools.js";
import { hash32, Rng } from "./rng.js";
import { appLabels, uidFor } from "./workloads.js";

const CONFIG_SUFFIXES = ["config", "env", "scripts"];
const CONFIG_FILES = [
  "config.yaml",
  "application.properties",
  "nginx.conf",
  "settings.json",
  "logging.yaml",
  "rules.yaml",
];

export function configMapName(app: AppPlan, i: number): string {
  return i < CONFIG_SUFFIXES.length ? `${app.name}-${CONFIG_SUFFIXES[i]}` : `${app.name}-config-${i}`;
}

/** Sizes of one ConfigMap's data: mostly a few KiB, rarely a dashboard-sized blob. */
function configSizes(rng: Rng, scale: number, large: boolean): number[] {
  if (large) {
    const total = Math.max(1, Math.round(rng.logRange(128 * 1024, 1000 * 1024) * scale));
    const files = rng.range(1, 4);
    return Array.from({ length: files }, () => Math.max(1, Math.round(total / files)));
  }
  const files = rng.range(1, 3);
  return Array.from({ length: files }, () => Math.max(1, Math.round(rng.logRange(60, 6000) * scale)));
}

export function configMap(
  ctx: BuildContext,
  ns: NamespacePlan,
  name: string,
  seed: number,
  created: number,
  labels: Pairs | undefined,
  large = false,
): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(seed, "cm", name));
  beginObject(w, "v1", "ConfigMap");
  meta(w, {
    name,
    namespace: ns.name,
    uid: uidFor(seed, `cm:${name}`),
    created,
    labels,
    annotations: labels
      ? [
          ["meta.helm.sh/release-name", labels[0]?.[1] ?? name],
          ["meta.helm.sh/release-namespace", ns.name],
        ]
      : undefined,
    managed: [
      {
        manager: "helm",
        operation: "Update",
        apiVersion: "v1",
        time: created,
        fields:
          '{"f:data":{".":{}},"f:metadata":{"f:annotations":{".":{},"f:meta.helm.sh/release-name":{},"f:meta.helm.sh/release-namespace":{}},"f:labels":{".":{}}}}',
      },
    ],
  });
  const sizes = configSizes(rng, ctx.scale, large || rng.chance(0.003));
  const first = rng.int(CONFIG_FILES.length);
  // map entries go out in key order
  const files = sizes
    .map((_, i) => (large ? `dashboard-${i}.json` : CONFIG_FILES[(first + i) % CONFIG_FILES.length]!))
    .sort();
  files.forEach((file, i) => {
    w.begin(2)
      .string(1, file)
      .bytes(2, textSlice(ctx.pools, rng, sizes[i]!))
      .end();
  });
  w.bool(4, false);
  return endObject(w);
}

export function appConfigMap(ctx: BuildContext, ns: NamespacePlan, app: AppPlan, i: number): Uint8Array {
  return configMap(ctx, ns, configMapName(app, i), app.seed, app.created, appLabels(app));
}

/** `kube-root-ca.crt`: the same CA bundle in every namespace, published by kube-controller-manager. */
export function rootCaConfigMap(ctx: BuildContext, ns: NamespacePlan): Uint8Array {
  const { w } = ctx;
  beginObject(w, "v1", "ConfigMap");
  meta(w, {
    name: "kube-root-ca.crt",
    namespace: ns.name,
    uid: uidFor(ns.seed, "root-ca"),
    created: ns.created + 1,
    annotations: [
      [
        "kubernetes.io/description",
        "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
      ],
    ],
    managed: [
      {
        manager: "kube-controller-manager",
        operation: "Update",
        apiVersion: "v1",
        time: ns.created + 1,
        fields:
          '{"f:data":{".":{},"f:ca.crt":{}},"f:metadata":{"f:annotations":{".":{},"f:kubernetes.io/description":{}}}}',
      },
    ],
  });
  w.entry(2, "ca.crt", ctx.pools.caCert).bool(4, false);
  return endObject(w);
}

export function secretName(app: AppPlan, i: number): string {
  return i === 0 ? `${app.name}-credentials` : `${app.name}-secret-${i}`;
}

export function helmReleaseName(app: AppPlan): string {
  return `sh.helm.release.v1.${app.name}.v${1 + (app.seed % 7)}`;
}

export type SecretKind = "opaque" | "tls" | "helm";

export function secret(
  ctx: BuildContext,
  ns: NamespacePlan,
  app: AppPlan,
  name: string,
  kind: SecretKind,
): Uint8Array {
  const { w } = ctx;
  const rng = new Rng(hash32(app.seed, "secret", name));
  const scale = ctx.scale;
  beginObject(w, "v1", "Secret");
  const labels: Pairs =
    kind === "helm"
      ? [
          ["modifiedAt", String(app.created)],
          ["name", app.name],
          ["owner", "helm"],
          ["status", "deployed"],
          ["version", String(1 + (app.seed % 7))],
        ]
      : appLabels(app);
  meta(w, {
    name,
    namespace: ns.name,
    uid: uidFor(app.seed, `secret:${name}`),
    created: app.created,
    labels,
    annotations:
      kind === "tls"
        ? [
            ["cert-manager.io/certificate-name", `${app.name}-tls`],
            ["cert-manager.io/common-name", `${app.name}.${ns.name}.example.com`],
            ["cert-manager.io/issuer-kind", "ClusterIssuer"],
            ["cert-manager.io/issuer-name", "letsencrypt-prod"],
          ]
        : undefined,
    managed: [
      {
        manager: kind === "tls" ? "cert-manager-certificates-issuing" : "helm",
        operation: "Update",
        apiVersion: "v1",
        time: app.created,
        fields: '{"f:data":{".":{}},"f:metadata":{"f:labels":{".":{}}},"f:type":{}}',
      },
    ],
  });
  if (kind === "tls") {
    w.bytesEntry(2, "ca.crt", asciiBytes(ctx.pools.caCert));
    w.bytesEntry(
      2,
      "tls.crt",
      asciiBytes(randomPem(rng, "CERTIFICATE", Math.round(rng.range(900, 1800) * scale))),
    );
    w.bytesEntry(2, "tls.key", asciiBytes(randomPem(rng, "RSA PRIVATE KEY", Math.round(1190 * scale))));
    w.string(3, "kubernetes.io/tls");
  } else if (kind === "helm") {
    w.bytesEntry(
      2,
      "release",
      randomBase64(rng, Math.max(1, Math.round(rng.logRange(8 * 1024, 96 * 1024) * scale))),
    );
    w.string(3, "helm.sh/release.v1");
  } else {
    const keys = ["password", "username", "api-key", "token", "client-secret"]
      .slice(0, rng.range(1, 4))
      .sort();
    for (const key of keys)
      w.bytesEntry(2, key, randomBytes(rng, Math.max(1, Math.round(rng.logRange(12, 600) * scale))));
    w.string(3, "Opaque");
  }
  w.bool(5, false);
  return endObject(w);
}

export function serviceAccount(
  ctx: BuildContext,
  ns: NamespacePlan,
  name: string,
  seed: number,
  created: number,
  labels?: Pairs,
): Uint8Array {
  const { w } = ctx;
  beginObject(w, "v1", "ServiceAccount");
  meta(w, { name, namespace: ns.name, uid: uidFor(seed, `sa:${name}`), created, labels });
  return endObject(w);
}
