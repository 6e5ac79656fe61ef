import {
  booleanParam,
  defineStorePlugin,
  type ParsedLocation,
  Secret,
  STORE_API_VERSION,
  type StoreContext,
  secretParam,
  stringParam,
  type UrlParts,
  VsnapError,
} from "@vsnap/core";
import { resolveCredentials } from "./credentials/resolve.js";
import { fromRequestData, type OciOptions, type RegistryCredentials, toRequestData } from "./options.js";
import { OCI_PARAMS } from "./params.js";
import { OCI_FORMAT, parseOciReference } from "./reference.js";
import { OciStore } from "./store.js";
import { MAX_CHUNK_SIZE, MiB } from "./upload/chunk-policy.js";

function parse({ url, params }: UrlParts): { key: string; options: OciOptions } {
  const ref = parseOciReference(url);
  const options: OciOptions = {
    registry: ref.registry,
    repository: ref.repository,
    ...optional(
      "plainHttp",
      params["plain-http"] === undefined ? undefined : booleanParam(params, "plain-http"),
    ),
    insecureSkipTlsVerify: booleanParam(params, "insecure-skip-tls-verify"),
    ...optional("caCert", caCertParam(stringParam(params, "ca-cert"))),
    ...optional("credentials", credentialsFromUrl(url, params)),
    skipClientCredentials: booleanParam(params, "skip-client-credentials"),
    ...optional("chunkSize", chunkSizeParam(params["chunk-size"])),
  };
  return { key: ref.key, options };
}

/** username/password from the query (password base64, as vCluster takes it) or from `user:pass@`. */
function credentialsFromUrl(url: URL, params: UrlParts["params"]): RegistryCredentials | undefined {
  const fromInfo = url.username ? decodeURIComponent(url.username) : undefined;
  const fromQuery = stringParam(params, "username");
  if (fromInfo && fromQuery && fromInfo !== fromQuery) {
    throw new VsnapError("INVALID_URL", "the URL names two different users (user@ and username=)", {
      hint: "give the credentials once",
    });
  }
  const username = fromQuery ?? fromInfo;
  const password =
    secretParam(params, "password") ??
    (url.password ? new Secret(decodeURIComponent(url.password)) : undefined);
  if (!username && !password) return undefined;
  if (!username || !password) {
    throw new VsnapError(
      "INVALID_URL",
      `the OCI URL has a ${username ? "user name without a password" : "password without a user name"}`,
      {
        hint: "pass both: username=USER&password=BASE64_PASSWORD (or oci://USER:PASSWORD@REGISTRY/REPO)",
      },
    );
  }
  return { username, password };
}

function caCertParam(pem: string | undefined): string | undefined {
  if (pem === undefined) return undefined;
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new VsnapError("INVALID_URL", 'parameter "ca-cert" must be base64 of a PEM certificate bundle', {
      hint: "encode the CA file with: base64 -w0 ca.crt",
    });
  }
  return pem;
}

function chunkSizeParam(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const mib = Number(value);
  if (!Number.isInteger(mib) || mib < 0 || mib * MiB > MAX_CHUNK_SIZE) {
    throw new VsnapError(
      "INVALID_URL",
      `parameter "chunk-size" must be 0..${MAX_CHUNK_SIZE / MiB} (MiB), got ${mib}`,
    );
  }
  return mib * MiB;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The oci:// store: snapshots as OCI artifacts, laid out as vCluster lays them out. */
export const ociStorePlugin = defineStorePlugin<OciOptions>({
  apiVersion: STORE_API_VERSION,
  name: "oci",
  schemes: ["oci"],
  params: OCI_PARAMS,
  format: OCI_FORMAT,
  parse,
  async open(location: ParsedLocation<OciOptions>, context: StoreContext) {
    return new OciStore(location, context);
  },
  /** Resolves docker-config credentials here, on the client, so that they reach the cluster in the Secret. */
  async toRequestOptions(location: ParsedLocation<OciOptions>, context: StoreContext) {
    const credentials = await resolveCredentials(location.options, context);
    return { ...toRequestData(location.options, credentials) };
  },
  fromRequestOptions(data: Record<string, unknown>) {
    return fromRequestData(data);
  },
});
