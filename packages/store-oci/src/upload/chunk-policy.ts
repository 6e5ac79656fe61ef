/**
 * Chunk sizes for the streaming upload. Registries disagree, so the size is chosen per registry
 * and then adapted to what the registry says (OCI-Chunk-Min-Length) and does (refusing a size):
 * - GHCR refuses PATCH bodies over 4 MiB (416 "exceeds the maximum permissible limit of 4.00MiB");
 * - ECR refuses parts under 5 MiB except the last (LayerPartTooSmallException);
 * - everything else takes the default, large enough that per-request latency stays small.
 */
export const MiB = 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 8 * MiB;
export const GHCR_CHUNK_CAP = 4 * MiB;
export const ECR_MIN_CHUNK = 5 * MiB;
/** The largest chunk a user may ask for: each chunk is held in memory while it is sent. */
export const MAX_CHUNK_SIZE = 256 * MiB;

const ECR_HOST = /\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(:\d+)?$/;

export interface ChunkPolicy {
  /** Bytes read from the body per chunk; 0 means one monolithic upload (spooled to a temp file). */
  readonly chunkSize: number;
  /** No PATCH (except the closing PUT's body) may be smaller. */
  readonly minChunkSize: number;
}

export function chunkPolicyFor(registry: string, configured?: number): ChunkPolicy {
  const host = registry.toLowerCase();
  const minChunkSize = ECR_HOST.test(host) ? ECR_MIN_CHUNK : 0;
  if (configured !== undefined) return { chunkSize: configured, minChunkSize };
  const chunkSize = host === "ghcr.io" ? GHCR_CHUNK_CAP : Math.max(DEFAULT_CHUNK_SIZE, minChunkSize);
  return { chunkSize, minChunkSize };
}
