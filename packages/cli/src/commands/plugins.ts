import type { Command } from "../command.js";

export const pluginsList: Command = {
  path: ["plugins"],
  summary: "List the store plugins vsnap can use, and where they were found",
  usage: "vsnap plugins",
  description:
    "Plugins are packages named @vsnap/store-X, vsnap-store-X or @org/vsnap-store-X that declare\n" +
    '"vsnap": {"apiVersion": 1, "kind": "store", "schemes": [...]} in package.json. They are found\n' +
    "beside vsnap (global install), in the current project's dependencies, in $VSNAP_PLUGIN_DIR, or\n" +
    "named with --plugin / $VSNAP_PLUGINS; only the one a URL needs is loaded.",
  options: {},
  examples: ["vsnap plugins", "vsnap plugins -o json", "VSNAP_PLUGIN_DIR=/opt/vsnap/plugins vsnap plugins"],
  arity: [0, 0],
  async run({ out, registry }) {
    const reg = registry();
    const manifests = [...reg.manifests()].sort((a, b) => a.packageName.localeCompare(b.packageName));
    out.result({ plugins: manifests, problems: reg.problems }, () => ({
      headers: ["PLUGIN", "VERSION", "SCHEMES", "SOURCE", "PATH"],
      rows: manifests.map((m) => [
        m.packageName,
        m.version,
        m.schemes.map((s) => `${s}://`).join(" "),
        m.source,
        m.dir,
      ]),
    }));
    for (const problem of reg.problems) out.warn(problem);
    return 0;
  },
};
