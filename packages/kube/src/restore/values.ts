import { spawn } from "node:child_process";
import { type HelmRelease, VsnapError } from "@vsnap/core";
import { parse } from "yaml";

export const DEFAULT_CHART_REPO = "https://charts.loft.sh";

export interface HelmInstallPlan {
  /** The vcluster.yaml / Helm values to install with (from the snapshot). */
  readonly valuesYaml: string;
  readonly chart: string;
  readonly chartVersion: string;
  /** `helm` arguments (the values file path included). */
  readonly args: readonly string[];
  /** The command line to show a person. */
  readonly command: string;
}

/**
 * How to create the vCluster a snapshot came from, under a new name or namespace: the snapshot's
 * Helm values (else its vcluster.yaml) and chart version, as `helm upgrade --install` arguments.
 */
export function helmInstallPlan(
  snapshot: { release?: HelmRelease; vclusterConfig?: string },
  target: { name: string; namespace: string },
  valuesFile: string,
  repo = DEFAULT_CHART_REPO,
): HelmInstallPlan {
  const fromRelease = snapshot.release?.values
    ? Buffer.from(snapshot.release.values, "base64").toString("utf8")
    : undefined;
  const valuesYaml = fromRelease ?? snapshot.vclusterConfig ?? "";
  const chart = snapshot.release?.chartName || "vcluster";
  const chartVersion = snapshot.release?.chartVersion ?? "";
  const args = [
    "upgrade",
    "--install",
    target.name,
    chart,
    "--repo",
    repo,
    ...(chartVersion ? ["--version", chartVersion] : []),
    "--namespace",
    target.namespace,
    "--create-namespace",
    ...(valuesYaml ? ["--values", valuesFile] : []),
  ];
  return { valuesYaml, chart, chartVersion, args, command: `helm ${args.map(shellQuote).join(" ")}` };
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

/** Runs helm; its output is returned, a failure names the exit code and the last lines. */
export function runHelm(
  binary: string,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [...args], {
      env: env as NodeJS.ProcessEnv,
      stdio: ["ignore", "pipe", "pipe"],
      ...(signal ? { signal } : {}),
    });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "ENOENT"
          ? new VsnapError("UNSUPPORTED", `helm was not found (${binary})`, {
              hint: "install helm, or run the printed helm command yourself and restore without --install",
            })
          : new VsnapError("INTERNAL", `running helm failed: ${error.message}`),
      );
    });
    child.once("close", (code) => {
      if (code === 0) resolve(output);
      else
        reject(
          new VsnapError(
            "FAILED_PRECONDITION",
            `helm exited with code ${code}: ${output.trim().split("\n").slice(-5).join(" | ")}`,
            {
              hint: "nothing was restored; fix the Helm problem and run the restore again",
            },
          ),
        );
    });
  });
}

/** Compares two vcluster.yaml texts: identical, or the top-level keys whose values differ. */
export function compareConfigs(
  snapshot: string | undefined,
  live: string | undefined,
): { identical: boolean; changedKeys: string[] } {
  const norm = (s: string | undefined) => (s ?? "").trim();
  if (norm(snapshot) === norm(live)) return { identical: true, changedKeys: [] };
  const obj = (s: string | undefined): Record<string, unknown> => {
    try {
      const v = parse(s ?? "") as unknown;
      return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  };
  const a = obj(snapshot);
  const b = obj(live);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const changedKeys = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return { identical: changedKeys.length === 0, changedKeys };
}
