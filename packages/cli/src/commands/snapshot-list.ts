import type { ObjectInfo } from "@vsnap/core";
import type { Command } from "../command.js";
import { formatAge, formatBytes } from "../output.js";
import { openUrl } from "../store-flags.js";

export const snapshotListLocal: Command = {
  path: ["snapshot", "list"],
  summary: "List the snapshots stored beside a URL",
  usage: "vsnap snapshot list URL",
  description: "Lists the snapshots in the URL's folder (container), prefix (s3) or repository (oci).",
  options: {},
  examples: ["vsnap snapshot list container:///backups/", "vsnap snapshot list s3://my-bucket/vc/ -o json"],
  arity: [1, 1],
  accepts: (args) => args[0]!.includes("://"),
  async run({ args, options, out, registry, env, signal }) {
    const { store, location } = await openUrl(args[0]!, options, registry(), env);
    try {
      // a URL naming a folder (trailing slash) lists everything in it; a file URL lists its siblings
      const items: ObjectInfo[] = [];
      for await (const info of store.list("", { signal })) items.push(info);
      items.sort((a, b) => b.modified.getTime() - a.modified.getTime());
      out.result(
        items.map((i) => ({
          url: i.url,
          key: i.key,
          size: i.size,
          modified: i.modified.toISOString(),
          annotations: i.annotations,
        })),
        () => ({
          headers: ["SNAPSHOT", "SIZE", "AGE"],
          rows: items.map((i) => [i.url, formatBytes(i.size), formatAge(i.modified)]),
        }),
      );
      if (items.length === 0) out.info(`no snapshots found at ${location.display}`);
      return 0;
    } finally {
      await store.close();
    }
  },
};
