import os from "node:os";
import path from "node:path";
import { fromHttp, fromIni, fromInstanceMetadata, fromTokenFile } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { registerSecretValue, VsnapError } from "@vsnap/core";
import type { S3Options, StaticCredentials } from "./s3-options.js";

export type Env = Readonly<Record<string, string | undefined>>;

interface Link {
  readonly name: string;
  readonly provide: () => Promise<AwsCredentialIdentity>;
  /** An explicit choice (profile, credentials-file): its failure ends the search. */
  readonly final?: boolean;
}

/** The shared config/credentials files and profile that `options` and `env` select. */
export function sharedFiles(options: Pick<S3Options, "profile" | "credentialsFile">, env: Env) {
  const home = env.HOME || os.homedir();
  // vCluster uses one credentials-file as both files: it may hold [profile x] sections and region too.
  const filepath =
    options.credentialsFile ?? env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, ".aws", "credentials");
  const configFilepath = options.credentialsFile ?? env.AWS_CONFIG_FILE ?? path.join(home, ".aws", "config");
  const profile = options.profile ?? env.AWS_PROFILE ?? "default";
  return { filepath, configFilepath, profile };
}

export function staticProvider(credentials: StaticCredentials): AwsCredentialIdentityProvider {
  const identity: AwsCredentialIdentity = {
    accessKeyId: credentials.accessKeyId.reveal(),
    secretAccessKey: credentials.secretAccessKey.reveal(),
    ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken.reveal() } : {}),
    ...(credentials.expiration ? { expiration: credentials.expiration } : {}),
  };
  return async () => identity;
}

/**
 * URL credentials win. Otherwise the AWS SDK's default chain, in the SDK's order, but reading the
 * given environment instead of `process.env` (a controller serves many requests; nothing here
 * writes to the process environment): environment keys, the shared files and profile (with SSO,
 * credential_process and role assumption), web identity (IRSA), container credentials (ECS, EKS
 * pod identity), then EC2 instance metadata.
 */
export function credentialProvider(options: S3Options, env: Env): AwsCredentialIdentityProvider {
  if (options.credentials) return staticProvider(options.credentials);
  const links = defaultChain(options, env);
  return memoize(async () => {
    const misses: string[] = [];
    for (const link of links) {
      try {
        const identity = await link.provide();
        registerIdentity(identity);
        return identity;
      } catch (error) {
        const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
        const tryNext = (error as { tryNextLink?: boolean }).tryNextLink !== false;
        if (link.final || !tryNext) {
          throw new VsnapError(
            "UNAUTHENTICATED",
            `cannot load AWS credentials from ${link.name}: ${reason}`,
            {
              cause: error,
              hint: "check the profile / credentials file, or pass access-key-id and secret-access-key in the URL",
            },
          );
        }
        misses.push(`${link.name}: ${reason}`);
      }
    }
    throw new VsnapError("UNAUTHENTICATED", "no AWS credentials found", {
      hint: `set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, log in with the AWS CLI, or pass access-key-id and secret-access-key in the URL (tried ${misses.join("; ")})`,
    });
  });
}

// Temporary credentials are fetched again five minutes before they expire, as the SDK does.
const REFRESH_BEFORE_MS = 5 * 60_000;

function memoize(provide: () => Promise<AwsCredentialIdentity>): AwsCredentialIdentityProvider {
  let current: Promise<AwsCredentialIdentity> | undefined;
  return async () => {
    const cached = current ? await current.catch(() => undefined) : undefined;
    if (cached && (!cached.expiration || cached.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS))
      return cached;
    current = provide();
    return current;
  };
}

function defaultChain(options: S3Options, env: Env): Link[] {
  const files = sharedFiles(options, env);
  const explicitFiles = options.profile !== undefined || options.credentialsFile !== undefined;
  const ini: Link = {
    name: `profile "${files.profile}" of ${files.filepath} / ${files.configFilepath}`,
    provide: () => fromIni({ ...files, ignoreCache: true })(),
    final: explicitFiles,
  };
  if (explicitFiles) return [ini];
  const links: Link[] = [];
  // As in the SDK: an AWS_PROFILE in the environment outranks environment keys.
  if (!env.AWS_PROFILE) links.push({ name: "environment variables", provide: async () => fromEnvOf(env) });
  links.push(ini);
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) {
    const roleSessionName = env.AWS_ROLE_SESSION_NAME;
    links.push({
      name: "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
      provide: () =>
        fromTokenFile({
          webIdentityTokenFile: env.AWS_WEB_IDENTITY_TOKEN_FILE,
          roleArn: env.AWS_ROLE_ARN,
          ...(roleSessionName ? { roleSessionName } : {}),
        })(),
    });
  }
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  if (full || relative) {
    const token = env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
    const tokenFile = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
    links.push({
      name: "container credentials",
      provide: () =>
        fromHttp({
          ...(relative
            ? { awsContainerCredentialsRelativeUri: relative }
            : { awsContainerCredentialsFullUri: full }),
          ...(tokenFile ? { awsContainerAuthorizationTokenFile: tokenFile } : {}),
          ...(token && !tokenFile ? { awsContainerAuthorizationToken: token } : {}),
        })(),
    });
  } else if (!isTrue(env.AWS_EC2_METADATA_DISABLED)) {
    links.push({
      name: "EC2 instance metadata",
      provide: () => fromInstanceMetadata({ timeout: 1000, maxRetries: 0 })(),
    });
  }
  return links;
}

function fromEnvOf(env: Env): AwsCredentialIdentity {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw Object.assign(new Error("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"), {
      tryNextLink: true,
    });
  }
  const sessionToken = env.AWS_SESSION_TOKEN;
  const expiration = env.AWS_CREDENTIAL_EXPIRATION;
  return {
    accessKeyId,
    secretAccessKey,
    ...(sessionToken ? { sessionToken } : {}),
    ...(expiration ? { expiration: new Date(expiration) } : {}),
  };
}

/** Resolved keys join the redaction list, so no error or log can show them. */
export function registerIdentity(identity: AwsCredentialIdentity): void {
  registerSecretValue(identity.accessKeyId);
  registerSecretValue(identity.secretAccessKey);
  if (identity.sessionToken) registerSecretValue(identity.sessionToken);
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value.toLowerCase() !== "false";
}
