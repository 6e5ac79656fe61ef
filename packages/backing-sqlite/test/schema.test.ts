import { generateDemoCluster } from "@vsnap/core";
import { afterAll, describe, expect, it } from "vitest";
import { createKineDatabase, sqliteTarget } from "../src/index.js";
import { masterOf, referenceKineDb, sqlite3, tempDir } from "./helpers/kine.js";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe("kine schema", () => {
  it("a restored database has exactly the schema kine creates (sqlite_master compared with the sqlite3 CLI's)", async () => {
    const reference = tmp.file("reference.db");
    referenceKineDb(reference);
    const restored = tmp.file("restored.db");
    await sqliteTarget(restored).restore(generateDemoCluster({ keys: 50, valueScale: 0.1 }));
    expect(masterOf(restored)).toBe(masterOf(reference));
    expect(masterOf(restored)).toContain("name TEXT");
    expect(sqlite3(restored, "PRAGMA journal_mode;").trim()).toBe("wal");
  });

  it("createKineDatabase writes the same schema and journal mode", async () => {
    const reference = tmp.file("reference2.db");
    referenceKineDb(reference);
    const created = tmp.file("created.db");
    await createKineDatabase(created, generateDemoCluster({ keys: 50, valueScale: 0.1 }));
    expect(masterOf(created)).toBe(masterOf(reference));
    expect(sqlite3(created, "PRAGMA journal_mode;").trim()).toBe("wal");
    expect(sqlite3(created, "PRAGMA integrity_check;").trim()).toBe("ok");
  });
});
