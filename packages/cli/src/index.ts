export { main, type MainOptions } from "./main.js";
export { EXIT } from "./exit-codes.js";
