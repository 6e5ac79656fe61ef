export {
  type AtomicWriteOptions,
  PART_SUFFIX,
  type WrittenFile,
  writeFileAtomically,
} from "./atomic-write.js";
export { ContainerStore, type ContainerStoreOptions } from "./container-store.js";
export {
  CONTAINER_FORMAT,
  CONTAINER_SCHEME,
  type ContainerOptions,
  containerUrl,
  parseContainerUrl,
  SNAPSHOT_SUFFIX,
} from "./container-url.js";
export { containerStorePlugin, containerStorePlugin as default } from "./plugin.js";
