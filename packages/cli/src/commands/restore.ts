import path from "node:path";
import { restoreEtcdDatabaseFromArchive } from "@vsnap/backing-etcd";
import { type RestoreResult, restoreSnapshot } from "@vsnap/core";
import type { Command } from "../command.js";
import {
  convertDbArchive,
  ETCD_RESTORE_OPTIONS,
  LOCAL_BACKING_OPTIONS,
  localTarget,
  usesLocalBacking,
} from "../local-backing.js";
import { formatBytes, formatCount } from "../output.js";
import { progressLine } from "../progress-text.js";
import { openUrl } from "../store-flags.js";

export const restoreLocal: Command = {
  path: ["restore"],
  summary: "Restore a snapshot into a local backing store",
  usage: "vsnap restore (--sqlite FILE | --etcd ENDPOINTS | --etcd-data-dir DIR) [--force] URL",
  description:
    "Verifies the whole archive before writing anything. The target is written beside the old one\n" +
    "and swapped in only when complete; a non-empty target is refused unless --force.\n" +
    "Key/value archives restore into SQLite or etcd (either way: the migration path); etcd db-mode\n" +
    "archives restore into an etcd data directory, or are converted to key/values by reading etcd's\n" +
    "bbolt file directly. The revision is moved past the snapshot's so watch caches are invalidated.",
  options: {
    ...LOCAL_BACKING_OPTIONS,
    ...ETCD_RESTORE_OPTIONS,
    force: { type: "boolean", description: "replace a target that already holds data" },
  },
  examples: [
    "vsnap restore --sqlite /data/state.db container:///backups/vc-1.tar.gz",
    "vsnap restore --sqlite ./restored.db --force s3://my-bucket/vc/snap-1.tar.gz",
    "vsnap restore --etcd https://127.0.0.1:2379 --etcd-cacert ca.crt --etcd-cert c.crt --etcd-key c.key container:///backups/vc.tar.gz",
    "vsnap restore --etcd-data-dir /data/etcd --etcd-name vc-0 container:///backups/embedded-etcd.tar.gz",
  ],
  arity: [1, 1],
  accepts: (_args, options) => usesLocalBacking(options),
  async run({ args, options, out, registry, env, cwd, signal }) {
    const dataDir =
      typeof options["etcd-data-dir"] === "string" ? path.resolve(cwd, options["etcd-data-dir"]) : undefined;
    const target = dataDir ? undefined : localTarget(options, cwd, (m) => out.info(m));
    const { store, location } = await openUrl(args[0]!, options, registry(), env);
    const progress = out.progress();
    const started = Date.now();
    const into = dataDir ? `etcd data dir ${dataDir}` : target!.description;
    out.info(`Restoring ${location.display} into ${into}`);
    try {
      const onProgress = (p: Parameters<typeof progressLine>[0]) =>
        progress.update(() => progressLine(p, started));
      let verified: boolean;
      let result: RestoreResult;
      if (dataDir) {
        // One pass: the db (a db archive's, or one built from a key/value archive's keys) is staged
        // beside the data dir and the whole archive checked before etcd's tool touches the data dir.
        const object = await store.get(location.key, { signal });
        const restored = await restoreEtcdDatabaseFromArchive(object.body, {
          dataDir,
          force: options.force === true,
          ...etcdMemberOptions(options),
          signal,
          onNotice: (m) => out.info(m),
          onProgress: (bytes) => onProgress({ phase: "restoring", keys: 0, bytes, archiveBytes: 0 }),
        });
        verified = restored.archive.verified;
        result = {
          keys: restored.keys ?? restored.archive.keys,
          bytes: restored.archive.bytes,
          revision: restored.revision,
        };
      } else {
        const restored = await restoreSnapshot({
          store,
          key: location.key,
          target: target!,
          force: options.force === true,
          convertDatabase: convertDbArchive,
          signal,
          onProgress,
        });
        verified = restored.summary.verified;
        result = restored.result;
      }
      progress.done();
      const seconds = (Date.now() - started) / 1000;
      out.result(
        {
          url: location.display,
          target: into,
          verified,
          keys: result.keys,
          bytes: result.bytes,
          revision: result.revision,
          seconds,
        },
        () => ({
          headers: ["SNAPSHOT", "TARGET", "KEYS", "DATA", "REVISION", "TIME"],
          rows: [
            [
              location.display,
              into,
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

function etcdMemberOptions(options: Readonly<Record<string, unknown>>) {
  const pick = (name: string) => (typeof options[name] === "string" ? (options[name] as string) : undefined);
  const name = pick("etcd-name");
  const cluster = pick("etcd-initial-cluster");
  const peers = pick("etcd-initial-advertise-peer-urls");
  return {
    ...(name ? { name } : {}),
    ...(cluster ? { initialCluster: cluster } : {}),
    ...(peers ? { initialAdvertisePeerUrls: peers } : {}),
  };
}
