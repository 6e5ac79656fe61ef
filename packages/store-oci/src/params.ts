import type { ParamSpecs } from "@vsnap/core";

/** Every query option of an oci:// URL. The first three are vCluster's, with the same meaning. */
export const OCI_PARAMS: ParamSpecs = {
  username: {
    description: "User name for the registry (with password); takes precedence over local docker credentials",
    type: "string",
    example: "my-user",
  },
  password: {
    description: "Base64 of the registry password or access token",
    type: "base64",
    secret: true,
    example: "bXktdG9rZW4=",
  },
  "skip-client-credentials": {
    description: "Ignore local docker credentials (config.json, credential helpers)",
    type: "boolean",
    example: "true",
  },
  "plain-http": {
    description: "Speak plain HTTP instead of HTTPS (the default for localhost and 127.0.0.0/8)",
    type: "boolean",
    example: "true",
  },
  "insecure-skip-tls-verify": {
    description: "Accept any TLS certificate from the registry and its token server",
    type: "boolean",
    example: "true",
  },
  "ca-cert": {
    description: "Base64 of a PEM CA bundle to trust for the registry and its token server",
    type: "base64",
    example: "LS0tLS1CRUdJTi...",
  },
  "chunk-size": {
    description:
      "Upload chunk size in MiB (default 8; 4 on ghcr.io; at least 5 on ECR); 0 uploads in one request from a temp file",
    type: "integer",
    example: "4",
  },
};
