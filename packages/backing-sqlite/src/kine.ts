/**
 * kine's SQLite layout, copied verbatim from k3s-io/kine `pkg/drivers/sqlite/sqlite.go` (v0.16.4, HEAD
 * caf3270 of 2026-08-14) so a database we create is indistinguishable from one kine created:
 * SQLite stores the statement text in `sqlite_master`, whitespace included.
 *
 * Before kine v0.16.3 `name` was declared `INTEGER`; the reader below works with either (keys are
 * text either way, and only text sorts inside the key range).
 */
export const KINE_SCHEMA: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS kine
			(
				id INTEGER PRIMARY KEY AUTOINCREMENT,
				name TEXT,
				created INTEGER,
				deleted INTEGER,
				create_revision INTEGER,
				prev_revision INTEGER,
				lease INTEGER,
				value BLOB,
				old_value BLOB
			)`,
  `CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name)`,
  `CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name,id)`,
  `CREATE INDEX IF NOT EXISTS kine_id_deleted_index ON kine (id,deleted)`,
  `CREATE INDEX IF NOT EXISTS kine_prev_revision_index ON kine (prev_revision)`,
  `CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision)`,
  `CREATE INDEX IF NOT EXISTS kine_id_compact_rev_key_with_prev_revision_index ON kine(id, name, prev_revision) WHERE name != 'compact_rev_key' AND prev_revision != 0`,
];

/** kine's bookkeeping row: its `prev_revision` holds the compact revision (`UpdateCompactSQL`). */
export const COMPACT_REV_KEY = "compact_rev_key";
/** Created by kine at start (`server.HealthKey`); a live key like any other. */
export const HEALTH_KEY = "/registry/health";
export const HEALTH_VALUE = '{"health":"true"}';
/** Events carry the apiserver's default `--event-ttl` lease; kine's lease id *is* the TTL in seconds. */
export const EVENT_TTL_SECONDS = 3600;

/**
 * vCluster bumps the revision by this much on a SQLite restore (`BumpRevision`), "to make sure we
 * invalidate caches. See kubernetes/kubernetes#118501": clients' watch caches must see revisions move
 * forward, never back to numbers they already saw with other contents.
 */
export const REVISION_BUMP = 1000;

/**
 * What a snapshot holds: every live key in ["/", "0"), minus vCluster's own snapshot metadata.
 * Spelled as an index range up to '0x' plus a first-character test because with kine's old
 * `name INTEGER` column SQLite would turn the literal '0' into the number 0 (and '0x' stays text).
 */
const IN_RANGE = `k.name >= '/' AND k.name < '0x' AND substr(k.name, 1, 1) = '/'
    AND NOT (k.name >= '/vcluster/snapshot/' AND k.name < '/vcluster/snapshot0')`;

/**
 * The live view, as kine computes it (`ListCurrentSQL`): per name the row with the highest id,
 * unless that row is a deletion. compact_rev_key and gap-N fill rows fall outside "/" and so out of
 * range. The plan walks `kine_name_index` in order (no temp b-tree, so bounded memory) and only
 * reads the rows that turn out to be latest.
 */
export const LIVE_VIEW_SQL = `
  SELECT k.name AS name, k.value AS value
  FROM kine AS k
  WHERE ${IN_RANGE}
    AND k.id = (SELECT MAX(m.id) FROM kine AS m WHERE m.name = k.name)
    AND k.deleted = 0
  ORDER BY k.name`;

/** Count and value bytes of the live view; a covering-index pass plus one row read per name. */
export const LIVE_TOTALS_SQL = `
  SELECT COUNT(*) AS keys, COALESCE(SUM(OCTET_LENGTH(k.value)), 0) AS bytes
  FROM (SELECT MAX(id) AS id FROM kine AS k WHERE ${IN_RANGE} GROUP BY k.name) AS latest
  JOIN kine AS k ON k.id = latest.id
  WHERE k.deleted = 0`;

/** kine's `CurrentRevSQL`: the revision is simply the highest row id. */
export const CURRENT_REVISION_SQL = "SELECT COALESCE(MAX(id), 0) AS revision FROM kine";

/** Any live key besides kine's own health key (a kine that merely started holds no data). */
export const HOLDS_DATA_SQL = `
  SELECT k.name AS name
  FROM kine AS k
  WHERE ${IN_RANGE} AND k.name != '${HEALTH_KEY}'
    AND k.id = (SELECT MAX(m.id) FROM kine AS m WHERE m.name = k.name)
    AND k.deleted = 0
  LIMIT 1`;

/** kine's `InsertLastInsertIDSQL` (old_value is the previous row's value, NULL for a fresh key). */
export const INSERT_SQL = `INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, old_value)
  SELECT ?, ?, ?, ?, ?, ?, ?, (SELECT value FROM kine WHERE id = ?) AS old_value`;

/** kine's `FillSQL`, as `Fill()` calls it for a skipped revision. */
export const FILL_SQL =
  "INSERT INTO kine(id, name, created, deleted, create_revision, prev_revision, lease, value, old_value) VALUES(?, ?, 0, 1, 0, 0, 0, NULL, NULL)";

/** kine's sqlite `CompactSQL`: drops superseded rows and deletions up to a revision. */
export const COMPACT_SQL = `
		DELETE FROM kine AS kv
		WHERE kv.id IN (
				SELECT kp.prev_revision AS id
				FROM kine AS kp
				WHERE
					kp.name != 'compact_rev_key' AND
					kp.prev_revision != 0 AND
					kp.id <= ?
				UNION
				SELECT kd.id AS id
				FROM kine AS kd
				WHERE
					kd.deleted != 0 AND
					kd.id <= ?)`;

/** kine's `UpdateCompactSQL`. */
export const UPDATE_COMPACT_SQL = "UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'";

export function isSnapshotMetadataKey(key: string): boolean {
  return key.startsWith("/vcluster/snapshot/");
}
