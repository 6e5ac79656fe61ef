import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface TokenServerOptions {
  readonly users: Readonly<Record<string, string>>;
  readonly service: string;
  readonly issuer: string;
  /** RSA key (PEM) the tokens are signed with; its certificate is the registry's rootcertbundle. */
  readonly signingKeyPem: string;
  readonly signingCertPem: string;
  /** Token lifetime in seconds told to clients (`expires_in`, default 300). */
  readonly expiresIn?: number;
  /**
   * The JWT's own `exp`, in seconds from now (default `expiresIn`). Set it apart from `expiresIn` to
   * hand out tokens the registry will refuse before the client expects it to (as after a revocation).
   */
  readonly jwtExpiresIn?: number;
  /** Anonymous requests get `pull` (like a public repository); default: nothing. */
  readonly anonymousPull?: boolean;
  /** OAuth2 refresh tokens (docker's identity tokens) and the user each stands for. */
  readonly refreshTokens?: Readonly<Record<string, string>>;
}

export interface TokenRequestRecord {
  readonly method: string;
  readonly user: string | undefined;
  readonly grantType?: string;
  readonly scopes: readonly string[];
  readonly granted: boolean;
}

export interface TokenServer {
  /** The `realm` the registry sends clients to. */
  readonly realm: string;
  /** Every token request, in order. */
  readonly requests: TokenRequestRecord[];
  /** The next `n` tokens grant nothing (the registry then answers 401): tests refresh after a refused token. */
  denyNext(n: number): void;
  close(): Promise<void>;
}

/**
 * The registry's token server (distribution `auth.token`): RS256 JWTs with an `x5c` header holding
 * the signing certificate. GET with Basic credentials (docker's flow) and POST with an OAuth2
 * password or refresh-token grant (oras/docker identity tokens). Authenticated users get every
 * action they ask for; wrong credentials get 401.
 */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const key = createPrivateKey(options.signingKeyPem);
  const certDer = new X509Certificate(options.signingCertPem).raw.toString("base64");
  const b64u = (value: string | Buffer) => Buffer.from(value).toString("base64url");
  const requests: TokenRequestRecord[] = [];
  let deny = 0;
  const expiresIn = options.expiresIn ?? 300;

  const issue = (user: string | undefined, scopes: readonly string[], anonymous: boolean) => {
    const access = scopes
      .map((scope) => {
        const [type, name, actions] = scope.split(":");
        const granted = anonymous
          ? (actions ?? "").split(",").filter((a) => a === "pull")
          : (actions ?? "").split(",");
        return { type, name, actions: anonymous && !options.anonymousPull ? [] : granted };
      })
      .filter((a) => a.actions.length > 0);
    const now = Math.floor(Date.now() / 1000);
    const header = b64u(JSON.stringify({ alg: "RS256", typ: "JWT", x5c: [certDer] }));
    const claims = b64u(
      JSON.stringify({
        iss: options.issuer,
        sub: user ?? "",
        aud: options.service,
        exp: now + (options.jwtExpiresIn ?? expiresIn),
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access: deny > 0 ? [] : access,
      }),
    );
    if (deny > 0) deny--;
    const input = `${header}.${claims}`;
    return `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://token");
      let user: string | undefined;
      let authed = false;
      let grantType: string | undefined;
      let scopes: string[];
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
      if (req.method === "POST") {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        grantType = form.get("grant_type") ?? undefined;
        scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
        if (grantType === "password") {
          user = form.get("username") ?? undefined;
          authed = user !== undefined && options.users[user] === form.get("password");
        } else if (grantType === "refresh_token") {
          user = options.refreshTokens?.[form.get("refresh_token") ?? ""];
          authed = user !== undefined;
        }
        if (!authed) {
          requests.push({
            method: "POST",
            user,
            ...(grantType ? { grantType } : {}),
            scopes,
            granted: false,
          });
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "invalid_grant" }));
          return;
        }
      } else {
        scopes = url.searchParams.getAll("scope");
        if (basic) {
          const decoded = Buffer.from(basic, "base64").toString("utf8");
          const colon = decoded.indexOf(":");
          user = decoded.slice(0, colon);
          authed = options.users[user] === decoded.slice(colon + 1);
          if (!authed) {
            requests.push({ method: "GET", user, scopes, granted: false });
            res.writeHead(401, { "www-authenticate": 'Basic realm="vsnap-token"' });
            res.end();
            return;
          }
        }
      }
      const token = issue(authed ? user : undefined, scopes, !authed);
      requests.push({
        method: req.method ?? "GET",
        user,
        ...(grantType ? { grantType } : {}),
        scopes,
        granted: true,
      });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          token,
          access_token: token,
          expires_in: expiresIn,
          issued_at: new Date().toISOString(),
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    denyNext(n: number) {
      deny = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
