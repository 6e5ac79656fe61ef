import { VsnapError } from "./errors.js";
import { Secret } from "./secret.js";

/** How one URL query option is written and decoded. Plugins declare every option they accept. */
export interface ParamSpec {
  readonly description: string;
  /** `base64` values are standard base64 in the URL and decoded before the plugin sees them. */
  readonly type: "string" | "base64" | "boolean" | "integer" | "enum";
  /** Secret values are wrapped in `Secret` and shown as `***` in every display form. */
  readonly secret?: boolean;
  readonly values?: readonly string[];
  /** For the docs table: an example value as a user would type it. */
  readonly example?: string;
}

export type ParamSpecs = Readonly<Record<string, ParamSpec>>;
export type ParamValue = string | boolean | number | Secret;
export type DecodedParams = Readonly<Record<string, ParamValue>>;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes a URL's query against the plugin's specs: unknown names are rejected with the list of
 * valid ones, base64 is decoded (a `+` that became a space on the way is put back), booleans and
 * integers are checked, and secrets are wrapped.
 */
export function decodeParams(query: URLSearchParams, specs: ParamSpecs, format: string): DecodedParams {
  const out: Record<string, ParamValue> = {};
  for (const [name, raw] of query) {
    const spec = specs[name];
    if (!spec) {
      const valid = Object.keys(specs).sort();
      throw new VsnapError(
        "INVALID_URL",
        `unknown parameter "${name}" in snapshot URL (expected ${format})`,
        {
          hint: valid.length ? `valid parameters: ${valid.join(", ")}` : "this scheme takes no parameters",
        },
      );
    }
    if (name in out) throw new VsnapError("INVALID_URL", `parameter "${name}" is given more than once`);
    out[name] = decodeOne(name, raw, spec);
  }
  return out;
}

function decodeOne(name: string, raw: string, spec: ParamSpec): ParamValue {
  const shown = spec.secret ? "***" : JSON.stringify(raw);
  const bad = (expected: string) =>
    new VsnapError("INVALID_URL", `parameter "${name}" must be ${expected}, got ${shown}`);
  let value: string = raw;
  switch (spec.type) {
    case "boolean":
      if (raw === "" || raw === "true" || raw === "1") return true;
      if (raw === "false" || raw === "0") return false;
      throw bad("true or false");
    case "integer": {
      if (!/^-?\d+$/.test(raw)) throw bad("an integer");
      return Number.parseInt(raw, 10);
    }
    case "enum":
      if (!spec.values?.includes(raw)) throw bad(`one of ${spec.values?.join(", ")}`);
      break;
    case "base64": {
      // URLSearchParams turns an unescaped "+" into a space; base64 never contains spaces.
      const b64 = raw.replace(/ /g, "+").trim();
      if (!BASE64.test(b64) || b64.length % 4 === 1) {
        throw bad("standard base64 (encode it with `base64 -w0`)");
      }
      value = Buffer.from(b64, "base64").toString("utf8").trim();
      break;
    }
    case "string":
      break;
  }
  return spec.secret ? new Secret(value) : value;
}

export function stringParam(params: DecodedParams, name: string): string | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  return v instanceof Secret ? v.reveal() : String(v);
}

export function secretParam(params: DecodedParams, name: string): Secret | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  return v instanceof Secret ? v : new Secret(String(v));
}

export function booleanParam(params: DecodedParams, name: string): boolean {
  return params[name] === true;
}
