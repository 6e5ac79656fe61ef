// A stand-in for a busy kine, run as a separate process: creates, updates and deletes keys exactly
// the way kine's logstructured layer does (one autocommit insert per change), compacts like kine's
// compactor, fills a gap now and then, and journals every change it made. On "stop" it writes the
// journal (id, name, deleted, sha1 of the value) to the file given as its second argument.
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";

const [file, journalFile, seedArg] = process.argv.slice(2);
let seed = Number(seedArg ?? 1) | 0;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
};

const db = new DatabaseSync(file);
db.exec("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=30000; PRAGMA synchronous=NORMAL");
const insert = db.prepare(
  "INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value) SELECT ?, ?, ?, ?, ?, ?, ?, (SELECT value FROM kine WHERE id = ?) AS old_value",
);
const latest = db.prepare(
  "SELECT id, created, deleted, create_revision FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1",
);
const journal = [];
const sha = (v) =>
  createHash("sha1")
    .update(v ?? new Uint8Array(0))
    .digest("hex");

function value() {
  const bytes = new Uint8Array(16 + Math.floor(random() * 3000));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256); // binary, zeros included
  return bytes;
}

function change() {
  const key = `/registry/configmaps/ns-${Math.floor(random() * 20)}/cm-${Math.floor(random() * 400)}`;
  const prev = latest.get(key);
  const live = prev !== undefined && Number(prev.deleted) === 0;
  if (!live) {
    const v = value();
    const id = Number(
      insert.run(key, 1, 0, 0, prev ? Number(prev.id) : 0, 0, v, prev ? Number(prev.id) : 0).lastInsertRowid,
    );
    journal.push([id, key, 0, sha(v)]);
  } else if (random() < 0.75) {
    const v = value();
    const createRevision = Number(prev.created) === 1 ? Number(prev.id) : Number(prev.create_revision);
    const id = Number(
      insert.run(key, 0, 0, createRevision, Number(prev.id), 0, v, Number(prev.id)).lastInsertRowid,
    );
    journal.push([id, key, 0, sha(v)]);
  } else {
    const id = Number(insert.run(key, 0, 1, 0, Number(prev.id), 0, null, Number(prev.id)).lastInsertRowid);
    journal.push([id, key, 1, null]);
  }
}

function compact() {
  const current = Number(db.prepare("SELECT MAX(id) AS id FROM kine").get().id);
  const target = current - 200;
  if (target <= 0) return;
  db.exec("BEGIN IMMEDIATE");
  db.prepare(
    `DELETE FROM kine AS kv WHERE kv.id IN (
      SELECT kp.prev_revision AS id FROM kine AS kp WHERE kp.name != 'compact_rev_key' AND kp.prev_revision != 0 AND kp.id <= ?
      UNION SELECT kd.id AS id FROM kine AS kd WHERE kd.deleted != 0 AND kd.id <= ?)`,
  ).run(target, target);
  db.prepare("UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'").run(target);
  db.exec("COMMIT");
}

function fill() {
  const id = Number(db.prepare("SELECT MAX(id) AS id FROM kine").get().id) + 1;
  db.prepare(
    "INSERT INTO kine(id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES(?, ?, 0, 1, 0, 0, 0, NULL, NULL)",
  ).run(id, `gap-${id}`);
  journal.push([id, `gap-${id}`, 1, null]);
}

let stopping = false;
let ops = 0;
process.on("message", (message) => {
  if (message === "stop") stopping = true;
});

function burst() {
  if (stopping) {
    writeFileSync(journalFile, JSON.stringify(journal));
    db.close();
    process.send?.({ done: true, ops });
    process.exit(0);
  }
  for (let i = 0; i < 20; i++) {
    change();
    ops++;
    if (ops % 500 === 0) compact();
    if (ops % 700 === 0) fill();
  }
  if (ops === 200) process.send?.({ ready: true });
  setImmediate(burst);
}
burst();
