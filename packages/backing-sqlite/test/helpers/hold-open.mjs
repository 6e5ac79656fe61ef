// Plays a running kine: keeps the database open (WAL) until told to stop or disconnected.
import { DatabaseSync } from "node:sqlite";

const db = new DatabaseSync(process.argv[2]);
db.exec("PRAGMA busy_timeout=1000");
db.prepare("SELECT COUNT(*) AS n FROM kine").get();
process.send?.({ ready: true });
process.on("message", () => {
  db.close();
  process.exit(0);
});
process.on("disconnect", () => process.exit(0));
