import type { OciOptions, RegistryCredentials } from "../options.js";
import { DOCKER_HUB_API_HOST, DOCKER_HUB_CREDENTIAL_KEY } from "../reference.js";
import { credentialsFromAuthEntry, type Env, loadDockerConfig, lookupByRegistry } from "./docker-config.js";
import { credentialsFromHelper } from "./helper.js";

export interface ResolveContext {
  readonly env: Env;
  readonly log?: (message: string) => void;
  readonly signal?: AbortSignal;
}

/** The keys docker may have stored a registry's credentials under, most specific first. */
export function credentialKeys(registry: string): string[] {
  const hub = registry === "docker.io" || registry === "index.docker.io" || registry === DOCKER_HUB_API_HOST;
  return hub ? [DOCKER_HUB_CREDENTIAL_KEY, "docker.io", "index.docker.io"] : [registry];
}

/**
 * Credentials for the registry, in vCluster's (and docker's) order: the URL's, unless none were given
 * and `skip-client-credentials` is off, then the docker config: `credHelpers[registry]`, `credsStore`,
 * then the inline `auths` entry. Undefined means anonymous.
 */
export async function resolveCredentials(
  options: OciOptions,
  context: ResolveContext,
): Promise<RegistryCredentials | undefined> {
  if (options.credentials) return options.credentials;
  if (options.skipClientCredentials) return undefined;
  const loaded = await loadDockerConfig(context.env);
  if (!loaded) return undefined;
  const { file, config } = loaded;
  const keys = credentialKeys(options.registry);
  const serverUrl = keys[0]!;
  const helper = lookupByRegistry(config.credHelpers, keys) ?? config.credsStore;
  if (helper) {
    const fromHelper = await credentialsFromHelper(helper, serverUrl, context.env, context.signal);
    if (fromHelper) {
      context.log?.(`using registry credentials for ${options.registry} from docker-credential-${helper}`);
      return fromHelper;
    }
  }
  const entry = lookupByRegistry(config.auths, keys);
  const inline = entry ? credentialsFromAuthEntry(entry, file) : undefined;
  if (inline) context.log?.(`using registry credentials for ${options.registry} from ${file}`);
  return inline;
}
