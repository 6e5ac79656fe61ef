import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { createKineDatabase } from "@vsnap/backing-sqlite";
import { generateDemoCluster } from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./run-cli.js";

// Discovery is tested the way users install: real tarballs from `pnpm pack` / `npm pack`, installed
// with npm into a global-style prefix and into a project, and the installed `vsnap` run from there.
const work = mkdtempSync(path.join(os.tmpdir(), "vsnap-packaged-"));
const repo = path.resolve(__dirname, "../../..");
const tarballs: string[] = [];
const prefix = path.join(work, "global");
const globalBin = path.join(prefix, "lib/node_modules/@vsnap/cli/dist/bin.js");
const sh = (cmd: string, args: string[], cwd = work) =>
  execFileSync(cmd, args, { cwd, stdio: "pipe", encoding: "utf8" });

/** A third-party plugin as someone would publish it: scheme `memo`, one JS file, no build. */
function writeThirdPartyPlugin(dir: string, name: string, scheme: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "package.json"),
    JSON.stringify({
      name,
      version: "0.3.0",
      type: "module",
      keywords: ["vsnap-store"],
      exports: { ".": "./index.js", "./package.json": "./package.json" },
      vsnap: { apiVersion: 1, kind: "store", name: `example.dev/${scheme}`, schemes: [scheme] },
      peerDependencies: { "@vsnap/core": "^0.1.0" },
    }),
  );
  writeFileSync(
    path.join(dir, "index.js"),
    `import fs from "node:fs"; import path from "node:path"; import { pipeline } from "node:stream/promises";
import { VsnapError } from "@vsnap/core";
const info = (root, key) => { const s = fs.statSync(path.join(root, key)); return { key, url: "${scheme}://" + path.join(root, key), size: s.size, modified: s.mtime }; };
export default {
  apiVersion: 1, name: "example.dev/${scheme}", schemes: ["${scheme}"], params: {}, format: "${scheme}:///ABS/FILE",
  parse: ({ url }) => ({ key: path.basename(url.pathname), options: { root: path.dirname(url.pathname) } }),
  async open(location) {
    const root = location.options.root; fs.mkdirSync(root, { recursive: true });
    return {
      location: "${scheme}://" + root,
      async put(key, body) { const tmp = path.join(root, key + ".tmp"); await pipeline(body, fs.createWriteStream(tmp)); fs.renameSync(tmp, path.join(root, key)); return info(root, key); },
      async get(key) { if (!fs.existsSync(path.join(root, key))) throw new VsnapError("NOT_FOUND", key + " not found"); return { info: info(root, key), body: fs.createReadStream(path.join(root, key)) }; },
      async stat(key) { return fs.existsSync(path.join(root, key)) ? info(root, key) : undefined; },
      async *list() { for (const f of fs.readdirSync(root)) if (f.endsWith(".snap")) yield info(root, f); },
      async delete(key) { fs.rmSync(path.join(root, key), { force: true }); },
      async close() {},
    };
  },
};
`,
  );
  return sh("npm", ["pack", "--silent", "--pack-destination", work], dir).trim().split("\n").pop()!;
}

/** The CLI and every workspace package it depends on (transitively), as directories. */
function cliClosure(): string[] {
  const dirs = new Map<string, string>();
  for (const parent of ["packages", "apps"]) {
    for (const name of readdirSync(path.join(repo, parent))) {
      const file = path.join(repo, parent, name, "package.json");
      if (existsSync(file)) dirs.set(JSON.parse(readFileSync(file, "utf8")).name, path.dirname(file));
    }
  }
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name) || !dirs.has(name)) return;
    seen.add(name);
    const pkg = JSON.parse(readFileSync(path.join(dirs.get(name)!, "package.json"), "utf8"));
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies })) visit(dep);
  };
  visit("@vsnap/cli");
  return [...seen].map((name) => dirs.get(name)!);
}

beforeAll(() => {
  for (const dir of cliClosure()) {
    const out = sh("pnpm", ["pack", "--pack-destination", work], dir);
    tarballs.push(out.trim().split("\n").pop()!.trim());
  }
  tarballs.push(
    path.join(work, writeThirdPartyPlugin(path.join(work, "src-memo"), "vsnap-store-memo", "memo")),
  );
  sh("npm", ["install", "--global", "--prefix", prefix, "--no-audit", "--no-fund", "--silent", ...tarballs]);
}, 240_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("plugin discovery from installed packages", () => {
  it("a global install finds the built-in container store and a plugin installed beside it", async () => {
    const result = await runCli(["plugins", "-o", "json"], { bin: globalBin, cwd: work });
    expect(result.code).toBe(0);
    const { plugins, problems } = JSON.parse(result.stdout);
    expect(problems).toEqual([]);
    const bySchemes = Object.fromEntries(
      plugins.map((p: { schemes: string[]; packageName: string; source: string; version: string }) => [
        p.schemes.join(),
        p,
      ]),
    );
    expect(bySchemes.container).toMatchObject({
      packageName: "@vsnap/store-container",
      source: "beside-cli",
    });
    expect(bySchemes.memo).toMatchObject({
      packageName: "vsnap-store-memo",
      source: "beside-cli",
      version: "0.3.0",
    });
  });

  it("a third-party plugin takes and verifies a real snapshot", async () => {
    const db = path.join(work, "state.db");
    const { keys } = await createKineDatabase(db, generateDemoCluster({ keys: 500 }));
    const url = `memo://${work}/memo-store/one.snap`;
    const created = await runCli(["snapshot", "create", "--sqlite", db, url, "-o", "json"], {
      bin: globalBin,
      cwd: work,
    });
    expect(created.stderr).toBe("");
    expect(JSON.parse(created.stdout).keys).toBe(keys);
    const verified = await runCli(["snapshot", "verify", url, "-o", "json"], { bin: globalBin, cwd: work });
    expect(JSON.parse(verified.stdout).verified).toBe(true);
  });

  it("a project's own dependency is found from its directory, and an uninstalled scheme names its package", async () => {
    const project = path.join(work, "project");
    mkdirSync(project, { recursive: true });
    writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "my-ops", private: true }));
    const projTarball = path.join(
      work,
      writeThirdPartyPlugin(path.join(work, "src-proj"), "@acme/vsnap-store-vault", "vault"),
    );
    sh(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--silent",
        projTarball,
        ...tarballs.filter((t) => t.includes("vsnap-core")),
      ],
      project,
    );
    const result = await runCli(["plugins", "-o", "json"], { bin: globalBin, cwd: project });
    const vault = JSON.parse(result.stdout).plugins.find(
      (p: { packageName: string }) => p.packageName === "@acme/vsnap-store-vault",
    );
    expect(vault).toMatchObject({ source: "project", schemes: ["vault"] });

    const s3 = await runCli(["snapshot", "verify", "s3://bucket/x.tar.gz"], { bin: globalBin, cwd: project });
    expect(s3.code).toBe(8);
    expect(s3.stderr).toContain("no store plugin handles s3://");
    expect(s3.stderr).toContain("install @vsnap/store-s3");
  });
});
