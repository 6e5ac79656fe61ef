import { ociStorePlugin } from "./plugin.js";

export {
  buildSnapshotManifest,
  type Descriptor,
  type FetchedManifest,
  type ImageManifest,
  isSnapshotArtifact,
  parseImageManifest,
} from "./artifact.js";
export { credentialKeys, resolveCredentials } from "./credentials/resolve.js";
export * from "./media-types.js";
export type { OciOptions, OciRequestOptions, RegistryCredentials } from "./options.js";
export { orasAvailable } from "./oras/oras-cli.js";
export { OCI_PARAMS } from "./params.js";
export { ociStorePlugin } from "./plugin.js";
export { DEFAULT_TAG, OCI_FORMAT } from "./reference.js";
export { type OciClientKind, OciStore } from "./store.js";
export { chunkPolicyFor, DEFAULT_CHUNK_SIZE, ECR_MIN_CHUNK, GHCR_CHUNK_CAP } from "./upload/chunk-policy.js";

export default ociStorePlugin;
