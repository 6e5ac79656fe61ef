const MiB = 1024 * 1024;

/** S3's multipart limits, and how vsnap sizes parts within them. */
export interface PartLimits {
  /** Smallest part but the last (S3: 5 MiB). */
  readonly minPartSize: number;
  /** Largest part (S3: 5 GiB). */
  readonly maxPartSize: number;
  /** Most parts in one upload (S3: 10,000). */
  readonly maxParts: number;
  /** The first parts' size when the body's size is unknown. */
  readonly basePartSize: number;
  /** Bytes of parts in flight the uploader aims to stay under (at least one part is always in flight). */
  readonly inFlightBytes: number;
  /** Parts in flight at most, whatever their size. */
  readonly maxConcurrency: number;
}

export const S3_PART_LIMITS: PartLimits = {
  minPartSize: 5 * MiB,
  maxPartSize: 5 * 1024 * MiB,
  maxParts: 10_000,
  basePartSize: 8 * MiB,
  inFlightBytes: 64 * MiB,
  maxConcurrency: 4,
};

/**
 * Part sizes for one upload. A fixed size caps what an upload can hold (lib-storage's 5 MiB default
 * stops at 48.8 GiB, whatever the body); here the size doubles every tenth of the part budget, so
 * 10,000 parts hold more than S3's 5 TiB object limit while small snapshots keep small parts. A size
 * hint only raises the starting size: half the part budget covers the hinted size, so a hint that
 * is too low is absorbed by the doubling.
 */
export class PartPlan {
  readonly limits: PartLimits;
  readonly firstPartSize: number;
  readonly #step: number;

  constructor(limits: PartLimits = S3_PART_LIMITS, sizeHint?: number) {
    this.limits = limits;
    this.#step = Math.max(1, Math.floor(limits.maxParts / 10));
    let first = Math.max(limits.basePartSize, limits.minPartSize);
    if (sizeHint !== undefined && Number.isFinite(sizeHint) && sizeHint > 0) {
      const perPart = Math.ceil(sizeHint / Math.max(1, Math.floor(limits.maxParts / 2)));
      first = Math.max(first, Math.ceil(perPart / MiB) * MiB);
    }
    this.firstPartSize = Math.min(first, limits.maxPartSize);
  }

  /** Size of part `n` (1-based). */
  partSize(partNumber: number): number {
    const doublings = Math.floor((partNumber - 1) / this.#step);
    return Math.min(this.limits.maxPartSize, this.firstPartSize * 2 ** Math.min(doublings, 40));
  }

  /** Parts uploaded at once while parts are `partSize` bytes: within the in-flight byte budget. */
  concurrency(partSize: number): number {
    return Math.max(
      1,
      Math.min(this.limits.maxConcurrency, Math.floor(this.limits.inFlightBytes / partSize)),
    );
  }

  /** Most bytes one upload can hold within `maxParts`. */
  capacity(): number {
    let total = 0;
    for (let n = 1; n <= this.limits.maxParts; n++) total += this.partSize(n);
    return total;
  }

  /** Peak bytes buffered while parts are `partSize`: parts in flight plus the one being filled. */
  memoryBound(partSize: number): number {
    return (this.concurrency(partSize) + 1) * partSize;
  }
}
