import { VsnapError } from "@vsnap/core";
import type { RegistryCredentials } from "../options.js";
import { type Challenge, parseChallenges } from "./challenge.js";
import { registryError } from "./errors.js";
import { discard, displayUrl, readText, type Transport } from "./transport.js";

/** Tokens are renewed this long before the server says they expire (clock skew, slow requests). */
const EXPIRY_MARGIN_MS = 10_000;
/** The distribution spec's default when a token response has no `expires_in`. */
const DEFAULT_TOKEN_SECONDS = 60;

interface CachedToken {
  readonly value: string;
  readonly expiresAt: number;
}

export interface AuthOptions {
  readonly registry: string;
  readonly transport: Transport;
  /** Resolved once, on first need (docker config, credential helpers). */
  readonly credentials: () => Promise<RegistryCredentials | undefined>;
}

/**
 * The client side of registry auth: anonymous until challenged, then Basic or Bearer as the registry's
 * `WWW-Authenticate` asks. Bearer tokens come from the challenge's realm (GET with Basic credentials,
 * or the OAuth2 refresh-token grant for identity tokens), are cached per scope set, renewed before
 * they expire, and fetched again when a registry refuses a cached one.
 */
export class RegistryAuth {
  readonly #options: AuthOptions;
  #scheme: "unknown" | "basic" | "bearer" = "unknown";
  #realm: string | undefined;
  #service: string | undefined;
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<CachedToken>>();
  /** Scopes a challenge asked for beyond ours (e.g. `delete`), remembered per request scope set. */
  readonly #extraScopes = new Map<string, string[]>();
  /** How many tokens were fetched (tests assert on renewal through it). */
  tokensFetched = 0;

  constructor(options: AuthOptions) {
    this.#options = options;
  }

  /** The Authorization header for a request needing `scopes`, or undefined while anonymous. */
  async authorization(scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    const credentials = await this.#options.credentials();
    if (credentials?.registryToken) return `Bearer ${credentials.registryToken.reveal()}`;
    if (this.#scheme === "basic") return basicHeader(credentials);
    if (this.#scheme === "bearer") return `Bearer ${(await this.#token(scopes, signal)).value}`;
    return undefined;
  }

  /**
   * Learns from a 401. Resolves when a retry can succeed (first challenge, or a cached token that
   * went stale); rejects with UNAUTHENTICATED / PERMISSION_DENIED when it cannot.
   */
  async unauthorized(
    header: string | string[] | undefined,
    scopes: readonly string[],
    sent: string | undefined,
    what: string,
    retried: boolean,
  ): Promise<void> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    const basic = challenges.find((c) => c.scheme === "basic");
    const credentials = await this.#options.credentials();
    if (retried || credentials?.registryToken || (!bearer && !basic)) {
      throw this.#refused(credentials, bearer ?? basic, what);
    }
    if (bearer) {
      this.#scheme = "bearer";
      this.#realm = bearer.params.realm;
      this.#service = bearer.params.service;
      const key = scopeKey(scopes);
      const asked = (bearer.params.scope ?? "").split(" ").filter((s) => s && !scopes.includes(s));
      if (asked.length)
        this.#extraScopes.set(key, [...new Set([...(this.#extraScopes.get(key) ?? []), ...asked])]);
      this.#tokens.delete(key);
      return;
    }
    if (!credentials || sent?.startsWith("Basic ")) throw this.#refused(credentials, basic, what);
    this.#scheme = "basic";
  }

  #refused(
    credentials: RegistryCredentials | undefined,
    challenge: Challenge | undefined,
    what: string,
  ): VsnapError {
    const registry = this.#options.registry;
    if (!credentials) {
      return new VsnapError(
        "UNAUTHENTICATED",
        `${what}: ${registry} requires credentials and none were found`,
        {
          hint: `run docker login ${registry}, or pass username=USER&password=BASE64_PASSWORD in the URL`,
        },
      );
    }
    const who = credentials.username ? `user "${credentials.username}"` : "the token";
    if (challenge?.params.error === "insufficient_scope") {
      return new VsnapError(
        "PERMISSION_DENIED",
        `${what}: ${registry} denies ${who} access (insufficient scope)`,
        {
          hint: "the credentials are valid but lack rights on this repository (push needs write access)",
        },
      );
    }
    return new VsnapError("UNAUTHENTICATED", `${what}: ${registry} rejected the credentials of ${who}`, {
      hint: "check the user name and password/token (the password parameter is base64)",
    });
  }

  async #token(scopes: readonly string[], signal?: AbortSignal): Promise<CachedToken> {
    const key = scopeKey(scopes);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached;
    let pending = this.#inflight.get(key);
    if (!pending) {
      const all = [...new Set([...scopes, ...(this.#extraScopes.get(key) ?? [])])];
      pending = this.#fetchToken(all, signal).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return token;
  }

  async #fetchToken(scopes: readonly string[], signal?: AbortSignal): Promise<CachedToken> {
    const realm = this.#realm;
    if (!realm) throw new VsnapError("INTERNAL", "bearer challenge without realm");
    const credentials = await this.#options.credentials();
    const url = new URL(realm);
    const started = Date.now();
    let res: Awaited<ReturnType<Transport["send"]>>;
    if (credentials?.identityToken) {
      // OAuth2 refresh-token grant, as docker and oras do for identity tokens
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credentials.identityToken.reveal(),
        client_id: "vsnap",
        ...(this.#service ? { service: this.#service } : {}),
        scope: scopes.join(" "),
      });
      res = await this.#options.transport.send({
        method: "POST",
        url: url.href,
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        ...(signal ? { signal } : {}),
      });
    } else {
      if (this.#service) url.searchParams.set("service", this.#service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      const auth = basicHeader(credentials);
      res = await this.#options.transport.send({
        method: "GET",
        url: url.href,
        headers: auth ? { authorization: auth } : {},
        ...(signal ? { signal } : {}),
      });
    }
    const what = `token request to ${displayUrl(realm)}`;
    if (res.status === 401 || res.status === 403) {
      await discard(res);
      throw this.#refused(credentials ?? undefined, undefined, what);
    }
    const text = await readText(res, 1024 * 1024);
    if (res.status !== 200) throw registryError(what, res.status, text);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new VsnapError("UNAVAILABLE", `${what}: the answer is not JSON`);
    }
    const value = typeof body.token === "string" ? body.token : body.access_token;
    if (typeof value !== "string" || !value)
      throw new VsnapError("UNAVAILABLE", `${what}: no token in the answer`);
    const seconds =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    this.tokensFetched++;
    const lifetime = seconds * 1000;
    return { value, expiresAt: started + lifetime - Math.min(EXPIRY_MARGIN_MS, lifetime / 2) };
  }
}

function basicHeader(credentials: RegistryCredentials | undefined): string | undefined {
  if (!credentials) return undefined;
  const secret = credentials.password ?? credentials.identityToken;
  if (!secret) return undefined;
  const user = credentials.username ?? (credentials.identityToken ? "<token>" : "");
  return `Basic ${Buffer.from(`${user}:${secret.reveal()}`).toString("base64")}`;
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(" ");
}
