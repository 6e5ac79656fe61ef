import { Secret, VsnapError } from "@vsnap/core";
import type { RegistryCredentials } from "../options.js";
import type { Env } from "./docker-config.js";

const HELPER_TIMEOUT_MS = 30_000;

/**
 * Runs `docker-credential-<helper> get` as docker does: the server URL on stdin, JSON
 * `{ServerURL, Username, Secret}` on stdout. Undefined when the helper holds nothing for it.
 */
export async function credentialsFromHelper(
  helper: string,
  serverUrl: string,
  env: Env,
  signal?: AbortSignal,
): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${helper}`;
  const { execa } = await import("execa"); // loaded only when a helper is configured
  const result = await execa(program, ["get"], {
    input: serverUrl,
    env: env as NodeJS.ProcessEnv,
    extendEnv: false,
    reject: false,
    timeout: HELPER_TIMEOUT_MS,
    ...(signal ? { cancelSignal: signal } : {}),
    stripFinalNewline: true,
  });
  if (signal?.aborted) throw new VsnapError("ABORTED", `${program} aborted`);
  if (result.failed) {
    const output = `${result.stdout ?? ""} ${result.stderr ?? ""}`;
    // the helpers' shared "not found" message (docker-credential-helpers' credentials.ErrCredentialsNotFound)
    if (result.exitCode !== undefined && /credentials not found/i.test(output)) return undefined;
    const reason =
      (result as { code?: string }).code === "ENOENT" || result.exitCode === 127
        ? `${program} is not on PATH`
        : result.timedOut
          ? `${program} did not answer within ${HELPER_TIMEOUT_MS / 1000} s`
          : `${program} failed (exit ${result.exitCode ?? "?"}): ${firstLine(String(result.stderr || result.stdout))}`;
    throw new VsnapError("UNAUTHENTICATED", `cannot get registry credentials for ${serverUrl}: ${reason}`, {
      hint: `install ${program}, fix the docker config's credsStore/credHelpers, or add skip-client-credentials=true`,
    });
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(String(result.stdout)) as typeof parsed;
  } catch {
    throw new VsnapError("UNAUTHENTICATED", `${program} get printed something that is not JSON`, {
      hint: "docker credential helpers print {ServerURL, Username, Secret}",
    });
  }
  const username = typeof parsed.Username === "string" ? parsed.Username : "";
  const secret = typeof parsed.Secret === "string" ? parsed.Secret : "";
  if (!secret) return undefined;
  // "<token>" is how helpers mark an identity (OAuth2 refresh) token, e.g. after an Azure login
  if (username === "<token>") return { identityToken: new Secret(secret) };
  return { username, password: new Secret(secret) };
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0]?.slice(0, 200) ?? "";
}
