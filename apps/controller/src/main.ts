#!/usr/bin/env node
import { boundYoungGeneration } from "@vsnap/core/young-generation";

// before serve.js and its imports load: this may re-execute the process with the flag
boundYoungGeneration();
await import("./serve.js");
