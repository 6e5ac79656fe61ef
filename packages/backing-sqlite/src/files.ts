import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";

/** SQLite's companion files: WAL, its shared-memory index, and a rollback journal. */
export const COMPANIONS = ["-wal", "-shm", "-journal"] as const;

/** `<file>.vsnap-restore-<rand>` next to the target, so the final rename stays on one filesystem. */
export function tempPathFor(file: string): string {
  return `${file}.vsnap-restore-${randomBytes(4).toString("hex")}`;
}

export async function removeWithCompanions(file: string): Promise<void> {
  await Promise.all(
    [file, ...COMPANIONS.map((suffix) => file + suffix)].map((p) => fs.rm(p, { force: true })),
  );
}

export async function removeCompanions(file: string): Promise<void> {
  await Promise.all(COMPANIONS.map((suffix) => fs.rm(file + suffix, { force: true })));
}

/** Flushes a file's data to disk (SQLite ran with synchronous=OFF while bulk loading). */
export async function fsyncFile(file: string): Promise<void> {
  const handle = await fs.open(file, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename durable. Not every filesystem lets a directory be fsynced; that is not fatal. */
export async function fsyncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}

/** The file's size, `undefined` if it does not exist, -1 if it is not a regular file. */
export async function fileSize(file: string): Promise<number | undefined> {
  try {
    const stat = await fs.stat(file);
    return stat.isFile() ? stat.size : -1;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENOENT") return undefined;
    throw error;
  }
}

export function directoryOf(file: string): string {
  return path.dirname(path.resolve(file));
}
