import type { ResourceType, TableColumn } from "./resources.js";
import type { KubeObject } from "./selectors.js";

/** apimachinery's `duration.HumanDuration`, as the apiserver prints AGE. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const d = Math.floor(hours / 24) % 365;
    return d === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${d}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

export function age(timestamp: string | undefined): string {
  if (!timestamp) return "<unknown>";
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? "<unknown>" : humanDuration(Date.now() - t);
}

const NAME: TableColumn = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  cell: (o) => o.metadata.name ?? "",
};
const AGE: TableColumn = {
  name: "Age",
  type: "string",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
  cell: (o) => age(o.metadata.creationTimestamp),
};

function columnsOf(rt: ResourceType): TableColumn[] {
  const own = rt.columns ?? [];
  return rt.nameAndAge === false ? [...own] : [NAME, ...own, AGE];
}

export type IncludeObject = "None" | "Metadata" | "Object";

/** A `meta.k8s.io/v1` Table, as the apiserver answers `Accept: application/json;as=Table;...`. */
export function toTable(
  rt: ResourceType,
  objects: readonly KubeObject[],
  listMeta: Record<string, unknown>,
  include: IncludeObject = "Metadata",
): Record<string, unknown> {
  const columns = columnsOf(rt);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: columns.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? "",
      description: c.description ?? "",
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => ({
      cells: columns.map((c) => c.cell(o)),
      ...(include === "None" ? {} : { object: include === "Object" ? o : partialMetadata(o) }),
    })),
  };
}

export function partialMetadata(o: KubeObject): Record<string, unknown> {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}
