import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, hasCommand, waitFor } from "./ports.js";

const run = promisify(execFile);

export interface RgwServer {
  /** Plain HTTP S3 endpoint, e.g. http://127.0.0.1:41234. */
  readonly endpoint: string;
  /** HTTPS endpoint (self-signed; CA in `tls.ca`) when started with `tls: true`. */
  readonly httpsEndpoint?: string;
  readonly tls?: RgwTls;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** A key id the server's `testing` KMS backend knows (for SSE-KMS). */
  readonly kmsKeyId: string;
  /** The working directory (ceph.conf, logs). Removed by `close()`. */
  readonly dir: string;
  /** PIDs of ceph-mon, ceph-osd and radosgw (and the reaper). */
  readonly pids: readonly number[];
  /** Runs `radosgw-admin` against this cluster (e.g. to create another user). */
  admin(...args: string[]): Promise<string>;
  close(): Promise<void>;
}

export interface RgwTls {
  /** PEM of the self-signed certificate (its own CA), for 127.0.0.1 and localhost. */
  readonly ca: Buffer;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface StartRgwOptions {
  /**
   * RAM the memstore OSD may use; every stored byte lives in RAM. 512 MiB is plenty for unit tests;
   * a 1 GiB benchmark needs about 3 GiB.
   */
  readonly memstoreBytes?: number;
  /** Also serve HTTPS with a throwaway CA (for ca-cert / insecure-skip-tls-verify tests). */
  readonly tls?: boolean;
  /** Extra `[client.rgw.a]` settings, e.g. `{"rgw max chunk size": "4194304"}`. */
  readonly rgwConfig?: Readonly<Record<string, string>>;
}

const KMS_KEY_ID = "testkey-1";
const READY_TIMEOUT_MS = 90_000;

/**
 * A real Ceph radosgw (Debian's `radosgw`, `ceph-mon`, `ceph-osd`): one monitor, one memstore OSD
 * and one gateway, all on free 127.0.0.1 ports, cephx on, all state in a temp dir. The daemons run
 * in the foreground as our children; a reaper shell kills them if this process dies without
 * calling `close()`, so no ceph process outlives a test run. About 7-10 s to start (the monitor does
 * not batch proposals, so the dozen pools radosgw creates cost milliseconds each instead of a second).
 */
export async function startRgw(options: StartRgwOptions = {}): Promise<RgwServer> {
  for (const cmd of [
    "ceph-mon",
    "ceph-osd",
    "radosgw",
    "radosgw-admin",
    "ceph",
    "ceph-authtool",
    "monmaptool",
  ]) {
    if (!hasCommand(cmd)) {
      throw new Error(
        `${cmd} not found: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common`,
      );
    }
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-rgw-"));
  const children: ChildProcess[] = [];
  let reaper: ChildProcess | undefined;
  // Gateway first, monitor last: an OSD whose monitor is gone takes seconds to give up.
  const stop = async () => {
    for (const child of [...children].reverse()) await stopChild(child);
    if (reaper?.exitCode === null && reaper.signalCode === null) reaper.kill("SIGKILL");
  };
  try {
    const [monPort, rgwPort] = [await freePort(), await freePort()];
    const httpsPort = options.tls ? await freePort() : undefined;
    const cert = options.tls ? await selfSignedCert(dir) : undefined;
    const accessKeyId = `VSNAP${randomBytes(8).toString("hex").toUpperCase()}`;
    const secretAccessKey = randomBytes(24).toString("base64url");
    const fsid = randomUUID();
    for (const sub of ["run", "log", "mon.a", "osd.0", "rgw"]) mkdirSync(path.join(dir, sub));
    const conf = path.join(dir, "ceph.conf");
    const frontends = [`beast endpoint=127.0.0.1:${rgwPort}`];
    if (cert && httpsPort) {
      frontends.push(
        `ssl_endpoint=127.0.0.1:${httpsPort} ssl_certificate=${cert.certFile} ssl_private_key=${cert.keyFile}`,
      );
    }
    writeFileSync(
      conf,
      cephConf({
        dir,
        fsid,
        monPort,
        frontends: frontends.join(" "),
        memstoreBytes: options.memstoreBytes ?? 512 * 1024 ** 2,
        extra: options.rgwConfig ?? {},
      }),
    );
    const ceph = (cmd: string, ...args: string[]) =>
      run(cmd, ["-c", conf, ...args], { cwd: dir, timeout: 60_000, maxBuffer: 16 * 1024 ** 2 });
    const tool = (cmd: string, ...args: string[]) => run(cmd, args, { cwd: dir, timeout: 60_000 });
    const keyring = path.join(dir, "keyring");
    await tool(
      "ceph-authtool",
      "--create-keyring",
      keyring,
      "--gen-key",
      "-n",
      "mon.",
      "--cap",
      "mon",
      "allow *",
    );
    await tool(
      "ceph-authtool",
      keyring,
      "--gen-key",
      "-n",
      "client.admin",
      "--cap",
      "mon",
      "allow *",
      "--cap",
      "osd",
      "allow *",
      "--cap",
      "mgr",
      "allow *",
    );
    await tool(
      "ceph-authtool",
      keyring,
      "--gen-key",
      "-n",
      "client.rgw.a",
      "--cap",
      "mon",
      "allow rw",
      "--cap",
      "osd",
      "allow rwx",
      "--cap",
      "mgr",
      "allow rw",
    );
    const monmap = path.join(dir, "monmap");
    await tool("monmaptool", "--create", "--addv", "a", `[v2:127.0.0.1:${monPort}]`, "--fsid", fsid, monmap);
    await ceph("ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap, "--keyring", keyring);

    let earlyExit: Error | undefined;
    const daemon = (cmd: string, ...args: string[]) => {
      const child = spawn(cmd, ["-f", "-c", conf, ...args], {
        cwd: dir,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr?.on("data", (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      child.once("exit", (code, signal) => {
        if (!stoppingSet.has(child)) {
          earlyExit ??= new Error(
            `${cmd} exited (${signal ?? code}): ${stderr.trim() || "see logs in run dir"}`,
          );
        }
      });
      children.push(child);
      return child;
    };
    const alive = async () => {
      if (earlyExit) throw earlyExit;
    };

    const t0 = Date.now();
    const trace = (step: string) => {
      if (process.env.VSNAP_RGW_TRACE) process.stderr.write(`rgw: ${step} at ${Date.now() - t0} ms\n`);
    };
    daemon("ceph-mon", "-i", "a");
    reaper = startReaper(children, dir);
    trace("mon started");

    const osdUuid = randomUUID();
    const osdKey = (await tool("ceph-authtool", "--gen-print-key")).stdout.trim();
    writeFileSync(path.join(dir, "osd0.json"), JSON.stringify({ cephx_secret: osdKey }));
    // the first `ceph` command waits for the monitor to form its quorum
    await ceph("ceph", "--connect-timeout", "30", "osd", "new", osdUuid, "-i", path.join(dir, "osd0.json"));
    await alive();
    trace("osd registered");
    await tool("ceph-authtool", keyring, "--name", "osd.0", "--add-key", osdKey);
    await ceph("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osdUuid);
    // the OSD puts itself into the CRUSH map on start (osd crush update on start)
    daemon("ceph-osd", "-i", "0");
    daemon("radosgw", "-n", "client.rgw.a");
    reaper = restartReaper(reaper, children, dir);
    trace("osd and rgw started");
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    // the user is written straight to RADOS, so it can be created while the gateway starts
    await Promise.all([
      ceph(
        "radosgw-admin",
        "user",
        "create",
        "--uid=vsnap",
        "--display-name=vsnap tests",
        `--access-key=${accessKeyId}`,
        `--secret-key=${secretAccessKey}`,
      ).then(() => trace("user created")),
      waitFor(
        "radosgw",
        async () => {
          await alive();
          return (await fetch(`${endpoint}/`)).status > 0;
        },
        READY_TIMEOUT_MS,
      ).then(() => trace("rgw answers")),
    ]);
    const pids = [...children.map((c) => c.pid ?? -1), reaper.pid ?? -1];
    return {
      endpoint,
      ...(cert && httpsPort ? { httpsEndpoint: `https://127.0.0.1:${httpsPort}`, tls: cert } : {}),
      region: "us-east-1",
      accessKeyId,
      secretAccessKey,
      kmsKeyId: KMS_KEY_ID,
      dir,
      pids,
      async admin(...args: string[]) {
        return (await ceph("radosgw-admin", ...args)).stdout;
      },
      async close() {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    const log = tailLogs(dir);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`radosgw did not start: ${(error as Error).message}${log}`);
  }
}

const stoppingSet = new WeakSet<ChildProcess>();

/** One EC certificate that is its own CA: a single fast openssl call instead of an RSA chain. */
async function selfSignedCert(dir: string): Promise<RgwTls> {
  const certFile = path.join(dir, "rgw.crt");
  const keyFile = path.join(dir, "rgw.key");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  return { ca: readFileSync(certFile), certFile, keyFile };
}

async function stopChild(child: ChildProcess): Promise<void> {
  stoppingSet.add(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A detached shell that waits for this Node process to disappear, then kills the daemons and
 * removes their directory: they run in the foreground as our children, but a SIGKILLed test
 * runner would orphan them.
 */
function startReaper(children: readonly ChildProcess[], dir: string): ChildProcess {
  const pids = children.map((c) => c.pid).filter((p): p is number => typeof p === "number");
  // the script gets the directory as $1: no quoting of paths into shell text
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pids.join(" ")} 2>/dev/null; sleep 1; rm -rf "$1"`;
  const reaper = spawn("sh", ["-c", script, "reaper", dir], { stdio: "ignore", detached: true });
  reaper.unref();
  return reaper;
}

function restartReaper(old: ChildProcess, children: readonly ChildProcess[], dir: string): ChildProcess {
  old.kill("SIGKILL");
  return startReaper(children, dir);
}

function tailLogs(dir: string): string {
  const out: string[] = [];
  for (const name of ["mon.a", "osd.0", "client.rgw.a"]) {
    try {
      const text = readFileSync(path.join(dir, "log", `${name}.log`), "utf8");
      out.push(`--- ${name}.log (tail)\n${text.split("\n").slice(-15).join("\n")}`);
    } catch {
      // no log yet
    }
  }
  return out.length ? `\n${out.join("\n")}` : "";
}

function cephConf(o: {
  dir: string;
  fsid: string;
  monPort: number;
  frontends: string;
  memstoreBytes: number;
  extra: Readonly<Record<string, string>>;
}): string {
  const kmsKey = randomBytes(32).toString("base64");
  const extra = Object.entries(o.extra)
    .map(([k, v]) => `${k} = ${v}`)
    .join("\n");
  return `[global]
fsid = ${o.fsid}
mon initial members = a
mon host = v2:127.0.0.1:${o.monPort}
public network = 127.0.0.0/8
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
auth allow insecure global id reclaim = false
osd objectstore = memstore
memstore device bytes = ${o.memstoreBytes}
run dir = ${o.dir}/run
admin socket = ${o.dir}/run/$name.asok
log file = ${o.dir}/log/$name.log
pid file = ${o.dir}/run/$name.pid
ms bind ipv6 = false
keyring = ${o.dir}/keyring
[mon]
# a lone monitor need not wait to batch proposals: every pool rgw creates costs one round
paxos propose interval = 0.01
paxos min wait = 0.01
[mon.a]
mon data = ${o.dir}/mon.a
public addr = 127.0.0.1:${o.monPort}
[osd.0]
osd data = ${o.dir}/osd.0
public addr = 127.0.0.1
cluster addr = 127.0.0.1
[client.rgw.a]
rgw frontends = ${o.frontends}
rgw data = ${o.dir}/rgw
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = ${KMS_KEY_ID}=${kmsKey}
${extra}
`;
}
