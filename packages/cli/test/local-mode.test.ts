import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createKineDatabase } from "@vsnap/backing-sqlite";
import { generateDemoCluster } from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, runCli, runInTerminal } from "./run-cli.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "vsnap-cli-"));
const source = path.join(dir, "state.db");
const snap = path.join(dir, "snaps", "one.tar.gz");
const url = `container://${snap}`;
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

let liveKeys = 0;
beforeAll(async () => {
  // kine's own health key is added when the entries lack it: count what the store really holds
  liveKeys = (await createKineDatabase(source, generateDemoCluster({ keys: 5200, seed: 7 }))).keys;
  expect(liveKeys).toBeGreaterThanOrEqual(5200);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("vsnap local mode", () => {
  it("creates, verifies, lists, restores and deletes a snapshot, with JSON output", async () => {
    const created = await runCli(["snapshot", "create", "--sqlite", source, url, "-o", "json"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const result = JSON.parse(created.stdout);
    expect(result.keys).toBe(liveKeys);
    expect(result.url).toBe(url);
    expect(result.archiveBytes).toBe(statSync(snap).size);

    const verified = await runCli(["snapshot", "verify", url, "-o", "json"]);
    expect(verified.code).toBe(0);
    const summary = JSON.parse(verified.stdout);
    expect(summary).toMatchObject({ verified: true, mode: "kv", keys: liveKeys, sha256: result.sha256 });

    const listed = await runCli(["snapshot", "list", url, "-o", "json"]);
    expect(JSON.parse(listed.stdout).map((i: { key: string }) => i.key)).toEqual(["one.tar.gz"]);

    const restored = path.join(dir, "restored.db");
    const restore = await runCli(["restore", "--sqlite", restored, url, "-o", "json"]);
    expect(restore.code).toBe(0);
    expect(JSON.parse(restore.stdout)).toMatchObject({ keys: liveKeys, verified: true });

    const again = await runCli(["restore", "--sqlite", restored, url]);
    expect(again.code).toBe(7);
    expect(again.stderr).toContain("--force");

    const deleted = await runCli(["snapshot", "delete", url, "-o", "json"]);
    expect(JSON.parse(deleted.stdout)).toEqual({ url, deleted: true });
    const deletedAgain = await runCli(["snapshot", "delete", url]);
    expect(deletedAgain.code).toBe(0);
    expect(deletedAgain.stdout).toContain("Not found");
  });

  it("refuses a corrupt archive before writing anything (exit 4), leaving the target untouched", async () => {
    const good = path.join(dir, "snaps", "good.tar.gz");
    expect((await runCli(["snapshot", "create", "--sqlite", source, `container://${good}`])).code).toBe(0);
    const target = path.join(dir, "target.db");
    expect((await runCli(["restore", "--sqlite", target, `container://${good}`])).code).toBe(0);
    const before = sha(target);

    const truncated = path.join(dir, "snaps", "truncated.tar.gz");
    writeFileSync(truncated, readFileSync(good));
    truncateSync(truncated, Math.floor(statSync(good).size * 0.6));
    const verify = await runCli(["snapshot", "verify", `container://${truncated}`]);
    expect(verify.code).toBe(4);
    expect(verify.stderr).toMatch(/truncated|unexpected end/i);

    const restore = await runCli(["restore", "--sqlite", target, "--force", `container://${truncated}`]);
    expect(restore.code).toBe(4);
    expect(sha(target)).toBe(before);
  });

  it.each([
    [["snapshot", "verify", "s3://bucket/key.tar.gz"], 8, "install @vsnap/store-s3"],
    [["snapshot", "verify", "container://relative/x.tar.gz"], 2, "relative paths are not supported"],
    [["snapshot", "verify", `${url}?regoin=eu`], 2, 'unknown parameter "regoin"'],
    [["snapshot", "verify", "/no/scheme.tar.gz"], 2, "is not a snapshot URL"],
    [["snapshot", "verify", `container://${dir}/missing.tar.gz`], 3, "missing.tar.gz"],
    [["snapshot", "create", url], 2, "wrong arguments"],
    [["snapshot", "frobnicate"], 2, "unknown command"],
    [["restore", "--sqlite"], 2, "argument missing"],
  ])("fails clearly: vsnap %j -> exit %i", async (args, code, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe("");
  });

  it("shows progress on a terminal and stays quiet when piped", async () => {
    const big = path.join(dir, "big.db");
    await createKineDatabase(big, generateDemoCluster({ keys: 30000, seed: 3 }));
    const target = `container://${dir}/snaps/big.tar.gz`;
    const piped = await runCli(["snapshot", "create", "--sqlite", big, target]);
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain("\r");
    expect(piped.stdout).toContain("SNAPSHOT");

    const tty = await runInTerminal(
      `${process.execPath} ${BIN} snapshot create --sqlite ${big} ${target}`,
      dir,
    );
    expect(tty.code).toBe(0);
    expect(tty.stdout).toMatch(/reading( \d+%)?: [\d,]+\/30,00[01] keys/);
  });

  it("prints help with examples for every command", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    for (const command of [
      "snapshot create",
      "snapshot verify",
      "snapshot list",
      "snapshot delete",
      "restore",
      "plugins",
      "demo",
    ]) {
      expect(top.stdout).toContain(command);
      const help = await runCli([...command.split(" "), "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain("Examples:");
      expect(help.stdout).toContain(`vsnap ${command}`);
    }
  });

  it("runs the demo: same keys and values after the round trip", async () => {
    const demoDir = path.join(dir, "demo");
    const result = await runCli(["demo", "--dir", demoDir, "--keys", "5000", "-o", "json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.identical).toBe(true);
    expect(report.keys).toBe(report.generated.keys);
    expect(report.keys).toBeGreaterThanOrEqual(5000);
    expect(report.steps.map((s: { step: string }) => s.step)).toEqual([
      "create demo cluster",
      "snapshot",
      "verify",
      "restore",
      "compare",
    ]);
    expect(statSync(path.join(demoDir, "snapshots", "demo.tar.gz")).size).toBe(report.archiveBytes);
  });
});
