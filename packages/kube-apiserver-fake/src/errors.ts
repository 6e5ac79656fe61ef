/** A Kubernetes `Status` object, as the apiserver sends for every failure. */
export interface StatusObject {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message: string;
  reason: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason: string; message: string; field: string }[];
    retryAfterSeconds?: number;
  };
  code: number;
}

/** A failure with the HTTP code, reason and message the real apiserver uses for it. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusObject["details"],
  ) {
    super(message);
    this.name = "ApiError";
  }

  toStatus(): StatusObject {
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** What the apiserver calls a resource in messages: `configmaps`, `deployments.apps`. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export const notFound = (group: string, plural: string, name: string) =>
  new ApiError(404, "NotFound", `${qualifiedResource(group, plural)} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: plural,
  });

export const alreadyExists = (group: string, plural: string, name: string) =>
  new ApiError(409, "AlreadyExists", `${qualifiedResource(group, plural)} "${name}" already exists`, {
    name,
    ...(group ? { group } : {}),
    kind: plural,
  });

export const conflict = (group: string, plural: string, name: string, why: string) =>
  new ApiError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": ${why}`,
    {
      name,
      ...(group ? { group } : {}),
      kind: plural,
    },
  );

export const MODIFIED =
  "the object has been modified; please apply your changes to the latest version and try again";

export interface FieldCause {
  field: string;
  type: "FieldValueRequired" | "FieldValueInvalid" | "FieldValueForbidden" | "FieldValueNotSupported";
  detail: string;
  value?: unknown;
}

const CAUSE_TEXT: Record<FieldCause["type"], string> = {
  FieldValueRequired: "Required value",
  FieldValueInvalid: "Invalid value",
  FieldValueForbidden: "Forbidden",
  FieldValueNotSupported: "Unsupported value",
};

function causeMessage(c: FieldCause): string {
  const value =
    c.type === "FieldValueInvalid" || c.type === "FieldValueNotSupported"
      ? `: ${JSON.stringify(c.value)}`
      : "";
  return `${CAUSE_TEXT[c.type]}${value}: ${c.detail}`;
}

/** 422 Invalid, worded like `ConfigMap "x" is invalid: metadata.name: Required value: ...`. */
export function invalid(group: string, kind: string, name: string, causes: FieldCause[]): ApiError {
  const parts = causes.map((c) => `${c.field}: ${causeMessage(c)}`);
  const list = parts.length === 1 ? parts[0] : `[${parts.join(", ")}]`;
  return new ApiError(422, "Invalid", `${kind}${group ? `.${group}` : ""} "${name}" is invalid: ${list}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes: causes.map((c) => ({ reason: c.type, message: causeMessage(c), field: c.field })),
  });
}

export const badRequest = (message: string) => new ApiError(400, "BadRequest", message);

export const expired = (message: string) => new ApiError(410, "Expired", message);

export const methodNotAllowed = (verb: string, what: string) =>
  new ApiError(
    405,
    "MethodNotAllowed",
    `the server does not allow this method on the requested resource (${verb} ${what})`,
  );

export const resourceNotFound = () =>
  new ApiError(404, "NotFound", "the server could not find the requested resource");
