#!/usr/bin/env node
import { boundYoungGeneration } from "@vsnap/core/young-generation";

// before main.js and its imports load: this may re-execute the process with the flag
boundYoungGeneration();
const { main } = await import("./main.js");
process.exitCode = await main(process.argv.slice(2));
