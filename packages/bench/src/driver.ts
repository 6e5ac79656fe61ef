/**
 * The child process of every measured operation: `node dist/driver.js JOB.json RESULT.json`.
 * It starts as vsnap's executables do (bounded young generation, see @vsnap/core/young-generation)
 * and then runs the job (run-job.ts).
 */
import { boundYoungGeneration } from "@vsnap/core/young-generation";

boundYoungGeneration();
await import("./run-job.js");
