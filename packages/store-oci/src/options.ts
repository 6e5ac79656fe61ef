import { Secret, VsnapError } from "@vsnap/core";

/** What a registry is logged in with. Exactly one kind is used, in this order: token, identity token, password. */
export interface RegistryCredentials {
  readonly username?: string;
  readonly password?: Secret;
  /** An OAuth2 refresh token (docker's `identitytoken`; a helper's `<token>` user). */
  readonly identityToken?: Secret;
  /** A bearer token used as it is (docker's `registrytoken`). */
  readonly registryToken?: Secret;
}

export interface OciOptions {
  /** host[:port] as written in the URL, lower-cased. */
  readonly registry: string;
  readonly repository: string;
  /** Undefined: plain HTTP for loopback hosts without TLS options, HTTPS otherwise. */
  readonly plainHttp?: boolean;
  readonly insecureSkipTlsVerify: boolean;
  /** PEM bundle added to the trusted CAs. */
  readonly caCert?: string;
  /** Credentials given in the URL (or resolved on the client and carried to the cluster). */
  readonly credentials?: RegistryCredentials;
  readonly skipClientCredentials: boolean;
  /** Upload chunk size in bytes; 0 means one monolithic upload from a temp file. */
  readonly chunkSize?: number;
}

/** The JSON form of `OciOptions` that travels to the controller inside a Kubernetes Secret. */
export interface OciRequestOptions {
  readonly registry: string;
  readonly repository: string;
  readonly plainHttp?: boolean;
  readonly insecureSkipTlsVerify?: boolean;
  readonly caCert?: string;
  readonly skipClientCredentials?: boolean;
  readonly chunkSize?: number;
  readonly username?: string;
  readonly password?: string;
  readonly identityToken?: string;
  readonly registryToken?: string;
}

export function toRequestData(
  options: OciOptions,
  credentials: RegistryCredentials | undefined,
): OciRequestOptions {
  return dropUndefined({
    registry: options.registry,
    repository: options.repository,
    plainHttp: options.plainHttp,
    insecureSkipTlsVerify: options.insecureSkipTlsVerify || undefined,
    caCert: options.caCert,
    skipClientCredentials: options.skipClientCredentials || undefined,
    chunkSize: options.chunkSize,
    username: credentials?.username,
    password: credentials?.password?.reveal(),
    identityToken: credentials?.identityToken?.reveal(),
    registryToken: credentials?.registryToken?.reveal(),
  });
}

export function fromRequestData(data: Record<string, unknown>): OciOptions {
  const str = (name: string): string | undefined => {
    const v = data[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") throw invalid(name, "a string");
    return v;
  };
  const bool = (name: string): boolean | undefined => {
    const v = data[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") throw invalid(name, "a boolean");
    return v;
  };
  const registry = str("registry");
  const repository = str("repository");
  if (!registry || !repository) throw invalid(registry ? "repository" : "registry", "present");
  const chunk = data.chunkSize;
  if (chunk !== undefined && (typeof chunk !== "number" || !Number.isInteger(chunk) || chunk < 0)) {
    throw invalid("chunkSize", "a non-negative integer");
  }
  const secret = (name: string) => {
    const v = str(name);
    return v === undefined ? undefined : new Secret(v);
  };
  const credentials = dropUndefined({
    username: str("username"),
    password: secret("password"),
    identityToken: secret("identityToken"),
    registryToken: secret("registryToken"),
  });
  return dropUndefined({
    registry,
    repository,
    plainHttp: bool("plainHttp"),
    insecureSkipTlsVerify: bool("insecureSkipTlsVerify") ?? false,
    caCert: str("caCert"),
    skipClientCredentials: bool("skipClientCredentials") ?? false,
    chunkSize: chunk as number | undefined,
    credentials: Object.keys(credentials).length ? credentials : undefined,
  });
}

function invalid(name: string, expected: string): VsnapError {
  return new VsnapError("INVALID_ARGUMENT", `OCI request options: "${name}" must be ${expected}`, {
    hint: "the request's Secret was not written by this version of @vsnap/store-oci",
  });
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
