import { restoreSnapshot } from "@vsnap/core";
import type { Command } from "../command.js";
import { LOCAL_BACKING_OPTIONS, localTarget, usesLocalBacking } from "../local-backing.js";
import { formatBytes, formatCount } from "../output.js";
import { progressLine } from "../progress-text.js";
import { openUrl } from "../store-flags.js";

export const restoreLocal: Command = {
  path: ["restore"],
  summary: "Restore a snapshot into a local backing store",
  usage: "vsnap restore --sqlite FILE [--force] URL",
  description:
    "Verifies the whole archive before writing anything. The target is written beside the old one\n" +
    "and swapped in only when complete; a non-empty target is refused unless --force.",
  options: {
    ...LOCAL_BACKING_OPTIONS,
    force: { type: "boolean", description: "replace a target that already holds data" },
  },
  examples: [
    "vsnap restore --sqlite /data/state.db container:///backups/vc-1.tar.gz",
    "vsnap restore --sqlite ./restored.db --force s3://my-bucket/vc/snap-1.tar.gz",
  ],
  arity: [1, 1],
  accepts: (_args, options) => usesLocalBacking(options),
  async run({ args, options, out, registry, env, cwd, signal }) {
    const target = localTarget(options, cwd);
    const { store, location } = await openUrl(args[0]!, options, registry(), env);
    const progress = out.progress();
    const started = Date.now();
    out.info(`Restoring ${location.display} into ${target.description}`);
    try {
      const { summary, result } = await restoreSnapshot({
        store,
        key: location.key,
        target,
        force: options.force === true,
        signal,
        onProgress: (p) => progress.update(() => progressLine(p, started)),
      });
      progress.done();
      const seconds = (Date.now() - started) / 1000;
      out.result(
        { url: location.display, target: target.description, verified: summary.verified, ...result, seconds },
        () => ({
          headers: ["SNAPSHOT", "TARGET", "KEYS", "DATA", "REVISION", "TIME"],
          rows: [
            [
              location.display,
              target.description,
              formatCount(result.keys),
              formatBytes(result.bytes),
              String(result.revision),
              `${seconds.toFixed(1)}s`,
            ],
          ],
        }),
      );
      return 0;
    } finally {
      progress.done();
      await store.close();
    }
  },
};
