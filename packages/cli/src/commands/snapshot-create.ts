import { type ArchiveMetadata, takeSnapshot, VsnapError } from "@vsnap/core";
import type { Command } from "../command.js";
import {
  ETCD_SNAPSHOT_OPTIONS,
  LOCAL_BACKING_OPTIONS,
  localSource,
  usesLocalBacking,
} from "../local-backing.js";
import { formatBytes, formatCount } from "../output.js";
import { progressLine } from "../progress-text.js";
import { openUrl, STORE_FLAG_OPTIONS } from "../store-flags.js";
import { TOOL_VERSION } from "../version.js";

export const snapshotCreateLocal: Command = {
  path: ["snapshot", "create"],
  summary: "Take a snapshot of a local backing store (no cluster needed)",
  usage: "vsnap snapshot create (--sqlite FILE | --etcd ENDPOINTS [--etcd-mode kv|db]) URL",
  description:
    "Reads the backing store at one consistent point and streams the archive into URL. Nothing\n" +
    "appears at URL until the snapshot is complete; an interrupted run leaves the previous one intact.",
  options: {
    ...LOCAL_BACKING_OPTIONS,
    ...ETCD_SNAPSHOT_OPTIONS,
    ...STORE_FLAG_OPTIONS,
    "compression-level": {
      type: "string",
      valueName: "1-9",
      description: "gzip level, 1 (fastest) to 9 (smallest); default 2",
    },
  },
  examples: [
    "vsnap snapshot create --sqlite /data/state.db container:///backups/vc-1.tar.gz",
    "vsnap snapshot create --sqlite ./state.db s3://my-bucket/vc/snap-1.tar.gz --server-side-encryption AES256",
    "vsnap snapshot create --etcd https://127.0.0.1:2379 --etcd-cacert ca.crt --etcd-cert client.crt --etcd-key client.key container:///backups/etcd.tar.gz",
    "vsnap snapshot create --etcd 127.0.0.1:2379 --etcd-mode db oci://registry.example.com/snaps/vc:nightly",
  ],
  arity: [1, 1],
  accepts: (_args, options) => usesLocalBacking(options),
  async run({ args, options, out, registry, env, cwd, signal }) {
    const source = localSource(options, cwd);
    const { store, location } = await openUrl(args[0]!, options, registry(), env);
    const level =
      options["compression-level"] === undefined ? undefined : Number(options["compression-level"]);
    if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 9)) {
      throw new VsnapError(
        "INVALID_ARGUMENT",
        `--compression-level must be an integer from 1 to 9, got "${options["compression-level"]}"`,
      );
    }
    const metadata: ArchiveMetadata = {};
    const progress = out.progress();
    const started = Date.now();
    out.info(`Snapshotting ${source.description} to ${location.display}`);
    try {
      const { info, manifest } = await takeSnapshot({
        source,
        store,
        key: location.key,
        metadata,
        toolVersion: TOOL_VERSION,
        ...(level === undefined ? {} : { compressionLevel: level }),
        signal,
        onProgress: (p) => progress.update(() => progressLine(p, started)),
      });
      progress.done();
      const seconds = (Date.now() - started) / 1000;
      const result = {
        url: location.display,
        keys: manifest.keys,
        bytes: manifest.bytes,
        archiveBytes: info.size,
        revision: manifest.revision,
        backingStore: manifest.backingStore,
        sha256: manifest.sha256,
        seconds,
      };
      out.result(result, () => ({
        headers: ["SNAPSHOT", "KEYS", "DATA", "ARCHIVE", "REVISION", "TIME"],
        rows: [
          [
            location.display,
            formatCount(manifest.keys),
            formatBytes(manifest.bytes),
            formatBytes(info.size),
            String(manifest.revision ?? "-"),
            `${seconds.toFixed(1)}s`,
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
