import type { CrdInfo } from "./catalog.js";
import { type BuildContext, iso, jsonString } from "./encode.js";
import { type AppPlan, CLUSTER_EPOCH, type NamespacePlan } from "./model.js";
import { textSliceString } from "./pools.js";
import { hash32, Rng } from "./rng.js";
import { uidFor } from "./workloads.js";

/*
 * JSON-stored objects. Custom resources are unstructured, so the apiserver writes them as JSON with
 * map keys in sorted order. CRDs and APIServices are stored through a LegacyCodec, which always
 * encodes JSON, in their v1beta1 form; typed JSON starts with kind and apiVersion.
 */

function finish(ctx: BuildContext, json: string): Uint8Array {
  return ctx.w.reset().ascii(`${json}\n`).finish();
}

function schemaProps(rng: Rng, ctx: BuildContext, budget: { left: number }, depth: number): string {
  const parts: string[] = [];
  const fields = rng.range(2, 7);
  for (let i = 0; i < fields && budget.left > 0; i++) {
    const name = `${rng.pick(["spec", "config", "secretRef", "template", "selector", "rules", "tls", "issuer", "duration", "privateKey", "usages", "route", "match", "headers", "retries", "timeout"])}${rng.hex(2)}`;
    const description = jsonString(textSliceString(ctx.pools, rng, rng.range(40, 600)));
    let prop: string;
    if (depth < 6 && rng.chance(0.45)) {
      prop = `{"description":${description},"properties":${schemaProps(rng, ctx, budget, depth + 1)},"type":"object"}`;
    } else {
      prop = `{"description":${description},"type":"${rng.pick(["string", "integer", "boolean", "string"])}"}`;
    }
    budget.left -= prop.length;
    parts.push(`${jsonString(name)}:${prop}`);
  }
  return `{${parts.join(",")}}`;
}

export function crdName(crd: CrdInfo): string {
  return `${crd.plural}.${crd.group}`;
}

export function customResourceDefinition(ctx: BuildContext, seed: number, crd: CrdInfo): Uint8Array {
  const rng = new Rng(hash32(seed, "crd", crd.plural));
  const budget = { left: Math.round(crd.schemaBytes * ctx.scale) };
  const topLevel: string[] = [];
  while (budget.left > 0) topLevel.push(schemaProps(rng, ctx, budget, 0).slice(1, -1));
  const schema = `{"description":${jsonString(`${crd.kind} is the Schema for the ${crd.plural} API`)},"properties":{${topLevel.filter(Boolean).join(",")}},"type":"object"}`;
  const created = CLUSTER_EPOCH + 600;
  const names = `{"plural":"${crd.plural}","singular":"${crd.singular}","shortNames":["${crd.shortName}"],"kind":"${crd.kind}","listKind":"${crd.kind}List"}`;
  return finish(
    ctx,
    `{"kind":"CustomResourceDefinition","apiVersion":"apiextensions.k8s.io/v1beta1","metadata":{"name":"${crdName(crd)}","uid":"${uidFor(seed, `crd:${crd.plural}`)}","generation":1,"creationTimestamp":"${iso(created)}","labels":{"app.kubernetes.io/name":"${crd.group.split(".")[0]}"},"annotations":{"controller-gen.kubebuilder.io/version":"v0.16.3"},"managedFields":[{"manager":"helm","operation":"Update","apiVersion":"apiextensions.k8s.io/v1","time":"${iso(created)}","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:controller-gen.kubebuilder.io/version":{}}},"f:spec":{"f:conversion":{".":{},"f:strategy":{}},"f:group":{},"f:names":{},"f:scope":{},"f:versions":{}}}}]},"spec":{"group":"${crd.group}","version":"${crd.version}","names":${names},"scope":"Namespaced","validation":{"openAPIV3Schema":${schema}},"versions":[{"name":"${crd.version}","served":true,"storage":true}],"conversion":{"strategy":"None"},"preserveUnknownFields":false},"status":{"conditions":[{"type":"NamesAccepted","status":"True","lastTransitionTime":"${iso(created)}","reason":"NoConflicts","message":"no conflicts found"},{"type":"Established","status":"True","lastTransitionTime":"${iso(created)}","reason":"InitialNamesAccepted","message":"the initial names have been accepted"}],"acceptedNames":${names},"storedVersions":["${crd.version}"]}}`,
  );
}

export function apiService(ctx: BuildContext, seed: number, name: string): Uint8Array {
  const [version, ...rest] = name.split(".");
  const group = rest.join(".");
  const local =
    !group.includes(".") ||
    group.endsWith("k8s.io") ||
    group === "apps" ||
    group === "batch" ||
    group === "policy" ||
    group === "autoscaling";
  const created = CLUSTER_EPOCH + (local ? 1 : 600);
  return finish(
    ctx,
    `{"kind":"APIService","apiVersion":"apiregistration.k8s.io/v1beta1","metadata":{"name":"${name}","uid":"${uidFor(seed, `apisvc:${name}`)}","creationTimestamp":"${iso(created)}","labels":{"kube-aggregator.kubernetes.io/automanaged":"${local ? "onstart" : "true"}"},"managedFields":[{"manager":"kube-apiserver","operation":"Update","apiVersion":"apiregistration.k8s.io/v1","time":"${iso(created)}","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:kube-aggregator.kubernetes.io/automanaged":{}}},"f:spec":{"f:group":{},"f:groupPriorityMinimum":{},"f:version":{},"f:versionPriority":{}}}}]},"spec":{"group":"${group}","version":"${version}","groupPriorityMinimum":${local ? 17800 : 1000},"versionPriority":${local ? 15 : 100}},"status":{"conditions":[{"type":"Available","status":"True","lastTransitionTime":"${iso(created)}","reason":"Local","message":"Local APIServices are always available"}]}}`,
  );
}

/** A custom resource: JSON with sorted keys, like any unstructured object. */
/** What a custom resource needs to know about the app (or namespace) it belongs to. */
export type CrOwner = Pick<AppPlan, "name" | "seed" | "created" | "port">;

export function customResource(
  ctx: BuildContext,
  ns: NamespacePlan,
  app: CrOwner,
  crd: CrdInfo,
  name: string,
  index: number,
): Uint8Array {
  const rng = new Rng(hash32(app.seed, crd.plural, index));
  const created = app.created + 20 + index;
  const apiVersion = `${crd.group}/${crd.version}`;
  let spec: string;
  let status = `{"conditions":[{"lastTransitionTime":"${iso(created + 30)}","message":"${crd.kind} is ready","observedGeneration":1,"reason":"Ready","status":"True","type":"Ready"}]}`;
  switch (crd.kind) {
    case "Certificate":
      spec = `{"commonName":"${app.name}.${ns.name}.example.com","dnsNames":["${app.name}.${ns.name}.example.com"],"issuerRef":{"group":"cert-manager.io","kind":"ClusterIssuer","name":"letsencrypt-prod"},"privateKey":{"algorithm":"ECDSA","rotationPolicy":"Always","size":256},"secretName":"${app.name}-tls","usages":["digital signature","key encipherment"]}`;
      status = `{"conditions":[{"lastTransitionTime":"${iso(created + 30)}","message":"Certificate is up to date and has not expired","observedGeneration":1,"reason":"Ready","status":"True","type":"Ready"}],"notAfter":"${iso(created + 90 * 86400)}","notBefore":"${iso(created)}","renewalTime":"${iso(created + 60 * 86400)}","revision":${rng.range(1, 6)}}`;
      break;
    case "ServiceMonitor":
      spec = `{"endpoints":[{"interval":"30s","path":"/metrics","port":"http","scrapeTimeout":"10s"}],"namespaceSelector":{"matchNames":["${ns.name}"]},"selector":{"matchLabels":{"app":"${app.name}"}}}`;
      status = "{}";
      break;
    case "VirtualService":
      spec = `{"gateways":["istio-system/public-gateway"],"hosts":["${app.name}.${ns.name}.example.com"],"http":[{"retries":{"attempts":3,"perTryTimeout":"2s"},"route":[{"destination":{"host":"${app.name}.${ns.name}.svc.cluster.local","port":{"number":${app.port}}},"weight":100}],"timeout":"30s"}]}`;
      status = "{}";
      break;
    case "PrometheusRule":
      spec = `{"groups":[{"name":"${app.name}.rules","rules":[{"alert":"${app.name.replace(/-/g, "")}HighErrorRate","annotations":{"description":${jsonString(textSliceString(ctx.pools, rng, rng.range(100, 900)))},"summary":"High error rate"},"expr":"sum(rate(http_requests_total{job=\\"${app.name}\\",code=~\\"5..\\"}[5m])) / sum(rate(http_requests_total{job=\\"${app.name}\\"}[5m])) > 0.05","for":"10m","labels":{"severity":"warning"}}]}]}`;
      status = "{}";
      break;
    case "Issuer":
      spec = `{"acme":{"email":"platform@example.com","privateKeySecretRef":{"name":"${name}-account-key"},"server":"https://acme-v02.api.letsencrypt.org/directory","solvers":[{"http01":{"ingress":{"ingressClassName":"nginx"}}}]}}`;
      break;
    default:
      spec = `{"color":"${rng.pick(["blue", "green", "orange", "purple"])}","config":${jsonString(textSliceString(ctx.pools, rng, Math.max(1, Math.round(rng.logRange(100, 4000) * ctx.scale))))},"replicas":${rng.range(1, 5)},"size":"${rng.pick(["small", "medium", "large"])}"}`;
  }
  return finish(
    ctx,
    `{"apiVersion":"${apiVersion}","kind":"${crd.kind}","metadata":{"creationTimestamp":"${iso(created)}","generation":1,"labels":{"app":"${app.name}"},"managedFields":[{"apiVersion":"${apiVersion}","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{}},"manager":"helm","operation":"Update","time":"${iso(created)}"}],"name":"${name}","namespace":"${ns.name}","uid":"${uidFor(app.seed, `${crd.plural}:${index}`)}"},"spec":${spec},"status":${status}}`,
  );
}
