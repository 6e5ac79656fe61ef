import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Secret, VsnapError } from "@vsnap/core";
import type { RegistryCredentials } from "../options.js";

export interface DockerAuthEntry {
  readonly auth?: string;
  readonly username?: string;
  readonly password?: string;
  readonly identitytoken?: string;
  readonly registrytoken?: string;
}

export interface DockerConfig {
  readonly auths?: Readonly<Record<string, DockerAuthEntry>>;
  readonly credHelpers?: Readonly<Record<string, string>>;
  readonly credsStore?: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker's own lookup). */
export function dockerConfigPath(env: Env): string {
  if (env.DOCKER_CONFIG) return path.join(env.DOCKER_CONFIG, "config.json");
  return path.join(env.HOME || os.homedir(), ".docker", "config.json");
}

/** The docker config, or undefined when there is none. A file that is not JSON is an error, as in docker. */
export async function loadDockerConfig(
  env: Env,
): Promise<{ file: string; config: DockerConfig } | undefined> {
  const file = dockerConfigPath(env);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `cannot read docker config ${file}: ${(error as Error).message}`,
    );
  }
  try {
    const config = JSON.parse(text) as unknown;
    if (typeof config !== "object" || config === null || Array.isArray(config))
      throw new Error("not an object");
    return { file, config: config as DockerConfig };
  } catch (error) {
    throw new VsnapError(
      "INVALID_ARGUMENT",
      `docker config ${file} is not valid JSON: ${(error as Error).message}`,
      {
        hint: "fix the file, or add skip-client-credentials=true to the URL to ignore it",
      },
    );
  }
}

/** `https://ghcr.io/v1/` → `ghcr.io`: docker's `ConvertToHostname`, so any spelling of a key matches. */
export function hostnameOfKey(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, "")
    .split("/")[0]!
    .toLowerCase();
}

/** Looks a registry up in a map keyed the way docker writes keys (exact key first, then by host name). */
export function lookupByRegistry<T>(
  map: Readonly<Record<string, T>> | undefined,
  keys: readonly string[],
): T | undefined {
  if (!map) return undefined;
  for (const key of keys) if (map[key] !== undefined) return map[key];
  const hosts = new Set(keys.map(hostnameOfKey));
  for (const [key, value] of Object.entries(map)) if (hosts.has(hostnameOfKey(key))) return value;
  return undefined;
}

/** The credentials an `auths` entry holds, or undefined for an empty entry (what credsStore logins leave). */
export function credentialsFromAuthEntry(
  entry: DockerAuthEntry,
  file: string,
): RegistryCredentials | undefined {
  if (entry.registrytoken) return { registryToken: new Secret(entry.registrytoken) };
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) {
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `docker config ${file}: an "auth" value is not base64 of user:password`,
        {
          hint: "log in again with docker login, or add skip-client-credentials=true to the URL",
        },
      );
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (entry.identitytoken) {
    return { ...(username ? { username } : {}), identityToken: new Secret(entry.identitytoken) };
  }
  if (username && password) return { username, password: new Secret(password) };
  return undefined;
}
