import { createRequire } from "node:module";

/** This package's version (read from package.json so a release bump needs no code change). */
export const VERSION: string = (createRequire(import.meta.url)("../package.json") as { version: string })
  .version;
