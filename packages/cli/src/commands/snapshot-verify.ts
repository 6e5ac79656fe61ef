import { verifySnapshot } from "@vsnap/core";
import type { Command } from "../command.js";
import { formatBytes, formatCount } from "../output.js";
import { progressLine } from "../progress-text.js";
import { openUrl } from "../store-flags.js";

export const snapshotVerify: Command = {
  path: ["snapshot", "verify"],
  summary: "Stream a snapshot and prove it whole (manifest digest, counts, gzip CRC)",
  usage: "vsnap snapshot verify URL",
  description: "Exit code 0: intact. Exit code 4: corrupt or truncated, with what is wrong.",
  options: {},
  examples: [
    "vsnap snapshot verify container:///backups/vc-1.tar.gz",
    "vsnap snapshot verify oci://ghcr.io/me/snaps:nightly -o json",
  ],
  arity: [1, 1],
  async run({ args, options, out, registry, env, signal }) {
    const { store, location } = await openUrl(args[0]!, options, registry(), env);
    const progress = out.progress();
    const started = Date.now();
    try {
      const summary = await verifySnapshot({
        store,
        key: location.key,
        signal,
        onProgress: (p) => progress.update(() => progressLine(p, started)),
      });
      progress.done();
      const status = summary.verified ? "Verified" : "Readable (no vsnap manifest: checked by gzip CRC only)";
      out.result({ url: location.display, status, ...summary }, () => ({
        headers: ["SNAPSHOT", "STATUS", "MODE", "KEYS", "DATA", "ARCHIVE", "REVISION"],
        rows: [
          [
            location.display,
            status,
            summary.mode,
            formatCount(summary.keys),
            formatBytes(summary.bytes),
            formatBytes(summary.compressedBytes),
            String(summary.revision ?? "-"),
          ],
        ],
      }));
      return 0;
    } finally {
      progress.done();
      await store.close();
    }
  },
};
