import type { Command } from "../command.js";
import { openUrl } from "../store-flags.js";

export const snapshotDeleteLocal: Command = {
  path: ["snapshot", "delete"],
  summary: "Delete a stored snapshot",
  usage: "vsnap snapshot delete URL",
  description: "Idempotent: deleting a snapshot that is not there succeeds and says so.",
  options: {},
  examples: ["vsnap snapshot delete container:///backups/vc-1.tar.gz"],
  arity: [1, 1],
  accepts: (args) => args[0]!.includes("://"),
  async run({ args, options, out, registry, env, signal }) {
    const { store, location } = await openUrl(args[0]!, options, registry(), env);
    try {
      const existed = (await store.stat(location.key, { signal })) !== undefined;
      await store.delete(location.key, { signal });
      out.result({ url: location.display, deleted: existed }, () => ({
        headers: ["SNAPSHOT", "RESULT"],
        rows: [[location.display, existed ? "Deleted" : "Not found (nothing to delete)"]],
      }));
      return 0;
    } finally {
      await store.close();
    }
  },
};
