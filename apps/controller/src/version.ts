import { readFileSync } from "node:fs";

/** This package's version, recorded in every archive's manifest. */
export const TOOL_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return `vsnap-controller/${pkg.version ?? "0.0.0"}`;
  } catch {
    return "vsnap-controller/0.0.0";
  }
})();
