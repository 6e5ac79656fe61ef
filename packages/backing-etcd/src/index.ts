export {
  type DbArchiveContents,
  type DbArchiveKeyValues,
  dbArchiveToKeyValues,
  type RestoreDbArchiveOptions,
  type RestoreDbArchiveResult,
  restoreEtcdDatabaseFromArchive,
} from "./archive.js";
export {
  type EtcdDatabaseOptions,
  type EtcdDatabaseReadPoint,
  openEtcdDatabase,
  readEtcdDatabaseRevision,
} from "./bbolt/etcd-db.js";
export { EtcdClient } from "./client.js";
export { checkDbTrailer, type DbCheckResult, TRAILER_SIZE } from "./db-trailer.js";
export { KeyValueDigest } from "./digest.js";
export { isMetadataKey, isSnapshotKey, prefixEnd } from "./keys.js";
export {
  type EtcdConnectionOptions,
  type EtcdTimeouts,
  type EtcdTlsOptions,
  type ParsedEndpoint,
  parseEndpoints,
} from "./options.js";
export {
  type RestoreEtcdDatabaseOptions,
  type RestoreEtcdDatabaseResult,
  restoreEtcdDatabase,
} from "./restore-db.js";
export { type EtcdSnapshotMode, type EtcdSourceOptions, etcdSource } from "./source.js";
export {
  type EtcdRestoreResult,
  type EtcdRestoreSettings,
  type EtcdRestoreTarget,
  type EtcdTargetOptions,
  etcdTarget,
} from "./target.js";
