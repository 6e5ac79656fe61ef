import { defineStorePlugin, STORE_API_VERSION } from "@vsnap/core";
import { ContainerStore } from "./container-store.js";
import {
  CONTAINER_FORMAT,
  CONTAINER_SCHEME,
  type ContainerOptions,
  parseContainerUrl,
} from "./container-url.js";

/** `container:///ABS/PATH/FILE.tar.gz`: a snapshot file on the local disk or a mounted volume. */
export const containerStorePlugin = defineStorePlugin<ContainerOptions>({
  apiVersion: STORE_API_VERSION,
  name: "container",
  schemes: [CONTAINER_SCHEME],
  params: {},
  format: CONTAINER_FORMAT,
  parse: parseContainerUrl,
  async open(location, context) {
    return new ContainerStore(location.options.root, context);
  },
});
