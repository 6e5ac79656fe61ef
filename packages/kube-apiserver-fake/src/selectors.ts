import { badRequest } from "./errors.js";

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
};

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Record<string, unknown>[];
  [field: string]: unknown;
}

type Requirement =
  | { op: "=" | "!="; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "exists" | "!exists"; key: string };

export type Selector = (labels: Readonly<Record<string, string>> | undefined) => boolean;

const KEY = /^([a-z0-9A-Z]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;

/** Parses a label selector (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) the way apimachinery does. */
export function parseLabelSelector(text: string | null | undefined): Selector {
  if (!text?.trim()) return () => true;
  const reqs = splitTerms(text).map(parseTerm);
  return (labels) => reqs.every((r) => matches(r, labels ?? {}));
}

function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t.length > 0);
}

function parseTerm(term: string): Requirement {
  let m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (m) {
    const values = (m[3] ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v.length > 0);
    return { op: m[2] as "in" | "notin", key: checkKey(m[1] ?? ""), values };
  }
  m = /^(\S+?)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (m) return { op: m[2] === "!=" ? "!=" : "=", key: checkKey(m[1] ?? ""), value: m[3] ?? "" };
  if (term.startsWith("!")) return { op: "!exists", key: checkKey(term.slice(1).trim()) };
  return { op: "exists", key: checkKey(term) };
}

function checkKey(key: string): string {
  if (!KEY.test(key)) throw badRequest(`unable to parse requirement: invalid label key "${key}"`);
  return key;
}

function matches(r: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.op) {
    case "=":
      return has && value === r.value;
    case "!=":
      return !has || value !== r.value;
    case "in":
      return has && r.values.includes(value ?? "");
    case "notin":
      return !has || !r.values.includes(value ?? "");
    case "exists":
      return has;
    case "!exists":
      return !has;
  }
}

export type FieldSelector = (object: KubeObject) => boolean;

/** Field selectors: `metadata.name=x,metadata.namespace!=y` (any dotted path, `=`, `==`, `!=`). */
export function parseFieldSelector(text: string | null | undefined): FieldSelector {
  if (!text?.trim()) return () => true;
  const reqs = splitTerms(text).map((term) => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    return { path: (m[1] ?? "").split("."), negate: m[2] === "!=", value: m[3] ?? "" };
  });
  return (object) =>
    reqs.every((r) => {
      const actual = fieldValue(object, r.path);
      return r.negate ? actual !== r.value : actual === r.value;
    });
}

function fieldValue(object: unknown, path: string[]): string {
  let cur: unknown = object;
  for (const p of path) {
    if (typeof cur !== "object" || cur === null) return "";
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur === undefined || cur === null ? "" : String(cur);
}
