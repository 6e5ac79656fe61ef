/**
 * The artifact layout vCluster writes (oras-go `PackManifest` v1.1) and reads (go-containerregistry):
 * keeping every name identical is what lets either tool pull the other's snapshots.
 */
export const OCI_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json";

/** Sent on every manifest read: registry 2.8 answers 404 to a GET that does not accept the OCI type. */
export const MANIFEST_ACCEPT = [
  OCI_MANIFEST_MEDIA_TYPE,
  DOCKER_MANIFEST_MEDIA_TYPE,
  OCI_INDEX_MEDIA_TYPE,
  DOCKER_MANIFEST_LIST_MEDIA_TYPE,
].join(", ");

export const SNAPSHOT_ARTIFACT_TYPE = "application/vnd.loft.vcluster";
export const SNAPSHOT_LAYER_MEDIA_TYPE = "application/vnd.loft.vcluster.etcd.v1.tar+gzip";
/** vCluster names the layer "etcd" even for key/value archives; oras pull uses it as the file name. */
export const SNAPSHOT_LAYER_TITLE = "etcd";

export const EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json";
export const EMPTY_CONFIG_BYTES = Buffer.from("{}");
export const EMPTY_CONFIG_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

export const ANNOTATION_CREATED = "org.opencontainers.image.created";
export const ANNOTATION_TITLE = "org.opencontainers.image.title";
/**
 * The stored file's (the .tar.gz layer's) SHA-256 and size, computed by the store as it uploads, so
 * that list and stat need no blob download. Distinct from core's `dev.vsnap.archive.sha256`, the
 * digest over the archive's entries, which the caller passes with the other annotations.
 */
export const ANNOTATION_FILE_SHA256 = "dev.vsnap.file.sha256";
export const ANNOTATION_FILE_SIZE = "dev.vsnap.file.size";
