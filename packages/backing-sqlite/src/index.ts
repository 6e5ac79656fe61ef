export { type CreateKineDatabaseOptions, createKineDatabase, type KineDatabaseInfo } from "./create.js";
export { COMPACT_REV_KEY, HEALTH_KEY, KINE_SCHEMA, REVISION_BUMP } from "./kine.js";
export { type SqliteSnapshotSource, type SqliteSourceOptions, sqliteSource } from "./source.js";
export { type SqliteTargetOptions, sqliteTarget } from "./target.js";
