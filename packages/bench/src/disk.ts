import { lstatSync, readdirSync } from "node:fs";
import path from "node:path";

/** Bytes of every regular file under `dir` (apparent size); 0 when it does not exist. */
export function dirBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const full = path.join(dir, name);
    try {
      const st = lstatSync(full);
      if (st.isDirectory()) total += dirBytes(full);
      else if (st.isFile()) total += st.size;
    } catch {
      // removed between readdir and lstat: a temp file going away, which is fine
    }
  }
  return total;
}

/** File names (relative, recursive) under `dir`. */
export function listFiles(dir: string, prefix = ""): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const full = path.join(dir, name);
    try {
      if (lstatSync(full).isDirectory()) out.push(...listFiles(full, `${prefix}${name}/`));
      else out.push(`${prefix}${name}`);
    } catch {
      // gone already
    }
  }
  return out;
}

/**
 * Samples the size of some directories while an operation runs and keeps each one's maximum, so a
 * temp file that exists only mid-run is still seen (anything alive for more than one interval).
 */
export class DiskWatch {
  readonly #dirs: readonly string[];
  readonly #peaks: number[];
  readonly #seen: Set<string>[];
  readonly #timer: NodeJS.Timeout;

  constructor(dirs: readonly string[], intervalMs = 50) {
    this.#dirs = dirs;
    this.#peaks = dirs.map(() => 0);
    this.#seen = dirs.map(() => new Set<string>());
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    this.#dirs.forEach((dir, i) => {
      this.#peaks[i] = Math.max(this.#peaks[i]!, dirBytes(dir));
      for (const name of listFiles(dir)) this.#seen[i]!.add(name);
    });
  }

  /** Stops sampling (after one last sample): each directory's peak size and every file name seen in it. */
  stop(): { peak: number; seen: string[] }[] {
    clearInterval(this.#timer);
    this.sample();
    return this.#dirs.map((_, i) => ({ peak: this.#peaks[i]!, seen: [...this.#seen[i]!].sort() }));
  }
}
