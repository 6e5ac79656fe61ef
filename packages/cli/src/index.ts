export { EXIT } from "./exit-codes.js";
export { type MainOptions, main } from "./main.js";
