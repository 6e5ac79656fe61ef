export { describeStoreConformance } from "./conformance.js";
export { type Digest, hashing, sha256Of } from "./digest.js";
export {
  type ConformanceTarget,
  DEFAULT_LARGE_OBJECT_BYTES,
  DEFAULT_LIST_PAGE_HINT,
  type StoreConformanceOptions,
} from "./options.js";
export { type RandomStreamOptions, randomStream } from "./random-stream.js";
