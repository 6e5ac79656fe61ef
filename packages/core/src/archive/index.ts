export type { CompressionMode } from "./compress.js";
export { type Compressed, DEFLATE_MEM_LEVEL, GzipMembers } from "./deflate-threads.js";
export * from "./format.js";
export {
  type ArchiveEntry,
  type ArchiveReader,
  type ArchiveReadResult,
  type ArchiveSource,
  type ReadArchiveOptions,
  type ReadProgress,
  readArchive,
} from "./reader.js";
export {
  ArchiveMetadataCollector,
  type ArchiveSummary,
  archiveKeyValues,
  type VerifyArchiveOptions,
  verifyArchive,
} from "./verify.js";
export {
  type ArchiveProgress,
  type ArchiveWriter,
  type WriteArchiveOptions,
  writeArchive,
} from "./writer.js";
