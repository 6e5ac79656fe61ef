import { readFileSync } from "node:fs";

/** The CLI's own version, recorded in every archive manifest. */
export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
