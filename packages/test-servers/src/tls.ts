import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly ca: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
}

const openssl = (cwd: string, ...args: string[]) => execFileSync("openssl", args, { cwd, stdio: "pipe" });

/**
 * A throwaway CA with a server certificate for 127.0.0.1/localhost and a client certificate, made with
 * openssl the way vCluster's etcd PKI looks (ca.crt, apiserver-etcd-client.crt/.key).
 */
export function createTestPki(dir: string, commonName = "vsnap-test"): TestPki {
  mkdirSync(dir, { recursive: true });
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${commonName}-ca`,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  );
  writeFileSync(
    path.join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const who of ["server", "client"]) {
    const cn = who === "server" ? "localhost" : "apiserver-etcd-client";
    openssl(
      dir,
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${cn}`,
      "-keyout",
      `${who}.key`,
      "-out",
      `${who}.csr`,
    );
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${who}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      `${who}.ext`,
      "-out",
      `${who}.crt`,
    );
  }
  const file = (name: string) => path.join(dir, name);
  return {
    dir,
    caFile: file("ca.crt"),
    serverCertFile: file("server.crt"),
    serverKeyFile: file("server.key"),
    clientCertFile: file("client.crt"),
    clientKeyFile: file("client.key"),
    ca: readFileSync(file("ca.crt")),
    clientCert: readFileSync(file("client.crt")),
    clientKey: readFileSync(file("client.key")),
  };
}
