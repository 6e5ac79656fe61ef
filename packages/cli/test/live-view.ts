import type { KeyValue, SnapshotSource } from "@vsnap/core";

/** A backing store's live key/value set (values base64) at one read point, for comparisons. */
export async function liveView(source: SnapshotSource): Promise<Map<string, string>> {
  const point = await source.open();
  const out = new Map<string, string>();
  try {
    if (point.mode !== "kv") throw new Error(`expected a key/value read point from ${source.description}`);
    for await (const { key, value } of point.entries() as AsyncIterable<KeyValue>) {
      out.set(key, Buffer.from(value).toString("base64"));
    }
  } finally {
    await point.close();
  }
  return out;
}
