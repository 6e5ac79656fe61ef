import {
  createReadStream,
  createWriteStream,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import {
  generateDemoCluster,
  type ObjectReader,
  type RestoreTarget,
  restoreSnapshot,
  type Store,
  VsnapError,
  writeArchive,
} from "@vsnap/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKineDatabase, sqliteSource, sqliteTarget } from "../src/index.js";
import { collect, sha, tempDir } from "./helpers/kine.js";

const tmp = tempDir();
const source = path.join(tmp.dir, "source.db");
const archive = path.join(tmp.dir, "snapshot.tar.gz");
afterAll(() => tmp.cleanup());

beforeAll(async () => {
  await createKineDatabase(source, generateDemoCluster({ keys: 1500, seed: 5, valueScale: 0.3 }));
  const point = await sqliteSource(source).open();
  try {
    const writer = writeArchive({ readPoint: point, toolVersion: "0.0.0-test", blockSize: 64 * 1024 });
    await pipeline(writer.stream, createWriteStream(archive));
    await writer.done;
  } finally {
    await point.close();
  }
});

/** The archive files as a store, counting how often each is read (restoreSnapshot only gets). */
function fileStore(): { store: Store; gets: () => number } {
  let gets = 0;
  const store = {
    async get(key: string): Promise<ObjectReader> {
      gets++;
      const file = path.join(tmp.dir, key);
      const info = { key, url: `file://${file}`, size: statSync(file).size, modified: new Date() };
      return { body: createReadStream(file), info };
    },
  } as unknown as Store;
  return { store, gets: () => gets };
}

async function view(file: string) {
  const point = await sqliteSource(file).open();
  try {
    return await collect(point.entries());
  } finally {
    await point.close();
  }
}

const fileSha = (file: string) => sha(new Uint8Array(readFileSync(file)));
const leftovers = () => readdirSync(tmp.dir).filter((name) => name.includes(".vsnap-restore-"));

describe("restoreSnapshot into SQLite, a staged target", () => {
  it("reads a vsnap archive once; the restored store holds the source's keys and values", async () => {
    const { store, gets } = fileStore();
    const target = path.join(tmp.dir, "once.db");
    const { summary, result } = await restoreSnapshot({
      store,
      key: "snapshot.tar.gz",
      target: sqliteTarget(target),
    });
    expect(gets()).toBe(1);
    expect(summary.manifest).toBeDefined();
    expect(result.keys).toBe(summary.manifest!.keys);
    expect(await view(target)).toEqual(await view(source));
  });

  it("a target that is not staged gets a verified archive: the object is read twice", async () => {
    const { store, gets } = fileStore();
    const inner = sqliteTarget(path.join(tmp.dir, "twice.db"));
    const unstaged: RestoreTarget = {
      kind: inner.kind,
      description: inner.description,
      restore: inner.restore,
    };
    await restoreSnapshot({ store, key: "snapshot.tar.gz", target: unstaged });
    expect(gets()).toBe(2);
  });

  it("a corrupt archive changes nothing: the old database stays as it was and no temp file is left", async () => {
    const target = path.join(tmp.dir, "kept.db");
    await restoreSnapshot({ store: fileStore().store, key: "snapshot.tar.gz", target: sqliteTarget(target) });
    const before = fileSha(target);
    const bytes = readFileSync(archive);
    for (const [name, at] of [
      ["early.tar.gz", Math.floor(bytes.length / 3)],
      ["late.tar.gz", bytes.length - 200], // inside the manifest's member, after every key
    ] as const) {
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 0x5a;
      writeFileSync(path.join(tmp.dir, name), damaged);
      const error = await restoreSnapshot({
        store: fileStore().store,
        key: name,
        target: sqliteTarget(target, { force: true }),
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(VsnapError.is(error, "INTEGRITY"), `${name}: ${String(error)}`).toBe(true);
      expect(fileSha(target)).toBe(before);
      expect(leftovers()).toEqual([]);
    }
  });
});
