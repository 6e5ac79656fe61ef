import { createHash } from "node:crypto";
import { apiVersionOf, type ResourceRegistry, type ResourceType } from "./resources.js";

/**
 * Just enough OpenAPI v3 for kubectl: the per-group-version documents list each resource's
 * PATCH operation with its GVK and the `fieldValidation` parameter, which tells kubectl the
 * server validates fields itself (otherwise `kubectl apply` wants a full v2 schema to validate
 * client-side). No component schemas: kubectl then builds patches from its compiled-in types.
 */
export function openApiRoot(resources: ResourceRegistry): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [group, versions] of resources.groups()) {
    for (const version of versions) {
      const gv = group ? `apis/${group}/${version}` : `api/${version}`;
      const hash = createHash("sha512")
        .update(JSON.stringify(openApiGroupVersion(resources, group, version)))
        .digest("hex")
        .toUpperCase()
        .slice(0, 128);
      paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
    }
  }
  return { paths };
}

export function openApiGroupVersion(
  resources: ResourceRegistry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = resources.all().filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const rt of types) {
    const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const item = rt.namespaced
      ? `${base}/namespaces/{namespace}/${rt.plural}/{name}`
      : `${base}/${rt.plural}/{name}`;
    const gvk = { group: rt.group, version: rt.version, kind: rt.kind };
    paths[item] = {
      get: operation(rt, "read", gvk, []),
      put: operation(rt, "replace", gvk, ["dryRun", "fieldManager", "fieldValidation"]),
      patch: operation(rt, "patch", gvk, ["dryRun", "fieldManager", "fieldValidation", "force"]),
      delete: operation(rt, "delete", gvk, ["dryRun", "gracePeriodSeconds", "propagationPolicy"]),
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.0" },
    paths,
  };
}

function operation(rt: ResourceType, verb: string, gvk: Record<string, string>, params: string[]) {
  return {
    operationId: `${verb}${rt.kind}`,
    "x-kubernetes-action": verb === "read" ? "get" : verb === "replace" ? "put" : verb,
    "x-kubernetes-group-version-kind": gvk,
    parameters: params.map((name) => ({ name, in: "query", schema: { type: "string", uniqueItems: true } })),
    responses: { "200": { description: "OK" } },
    description: `${verb} the specified ${rt.kind} (${apiVersionOf(rt)})`,
  };
}
