export { backingSource } from "./backing.js";
export { type ControllerDeps, SnapshotController } from "./controller.js";
export { consoleLogger, type Logger } from "./log.js";
export { byteSize, type ControllerSettings, duration, parseSettings, USAGE } from "./settings.js";
export { openRequestStore } from "./stores.js";
export { throttleStore } from "./throttle.js";
