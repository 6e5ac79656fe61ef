import * as k8s from "@kubernetes/client-node";
import { VsnapError } from "@vsnap/core";

export interface KubeOptions {
  /** A kubeconfig file; default: $KUBECONFIG (colon-separated, merged), ~/.kube/config, or in-cluster. */
  readonly kubeconfig?: string;
  /** A context of the kubeconfig (`--context`). */
  readonly context?: string;
}

/** The API clients vsnap uses, bound to one kubeconfig context. */
export interface Kube {
  readonly config: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly events: k8s.EventsV1Api;
  /** The context's namespace (or "default"). */
  readonly namespace: string;
  /** Human name of the cluster for messages: the context name or the server. */
  readonly display: string;
}

export function connectKube(options: KubeOptions = {}): Kube {
  const config = new k8s.KubeConfig();
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new VsnapError("INVALID_ARGUMENT", `cannot read kubeconfig: ${(error as Error).message}`, {
      hint: "point --kubeconfig or KUBECONFIG at a valid kubeconfig file",
    });
  }
  if (options.context) {
    if (!config.getContextObject(options.context)) {
      const known = config.getContexts().map((c) => c.name);
      throw new VsnapError("INVALID_ARGUMENT", `context "${options.context}" is not in the kubeconfig`, {
        hint: known.length ? `available contexts: ${known.join(", ")}` : "the kubeconfig defines no contexts",
      });
    }
    config.setCurrentContext(options.context);
  }
  if (!config.getCurrentCluster()) {
    throw new VsnapError("INVALID_ARGUMENT", "no Kubernetes cluster is configured", {
      hint: "set KUBECONFIG, pass --context, or run inside a pod with a service account",
    });
  }
  return fromConfig(config);
}

export function fromConfig(config: k8s.KubeConfig): Kube {
  const context = config.getContextObject(config.getCurrentContext());
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    events: config.makeApiClient(k8s.EventsV1Api),
    namespace: context?.namespace || "default",
    display: config.getCurrentContext() || config.getCurrentCluster()?.server || "cluster",
  };
}

/** The HTTP status of a failed API call, if it was one. */
export function statusCode(error: unknown): number | undefined {
  return error instanceof k8s.ApiException ? error.code : undefined;
}

export const isNotFound = (error: unknown) => statusCode(error) === 404;
export const isConflict = (error: unknown) => statusCode(error) === 409;

/** The apiserver's own message from a failed call (its Status object), else the error text. */
export function apiMessage(error: unknown): string {
  if (error instanceof k8s.ApiException) {
    try {
      const body = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
      if (body && typeof body.message === "string") return body.message;
    } catch {
      // not JSON: fall through
    }
    return `HTTP ${error.code}`;
  }
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.code)
    return `${(error as Error).message} (${cause.code}${cause.message ? `: ${cause.message}` : ""})`;
  return error instanceof Error ? error.message : String(error);
}

/** Maps a failed API call onto a VsnapError that says what was being done and what to try. */
export function kubeError(error: unknown, doing: string): VsnapError {
  if (VsnapError.is(error)) return error;
  const code = statusCode(error);
  const message = `${doing}: ${apiMessage(error)}`;
  switch (code) {
    case undefined:
      return new VsnapError("UNAVAILABLE", message, {
        cause: error,
        hint: "is the cluster reachable? check --context and KUBECONFIG",
      });
    case 401:
      return new VsnapError("UNAUTHENTICATED", message, {
        cause: error,
        hint: "refresh your kubeconfig credentials",
      });
    case 403:
      return new VsnapError("PERMISSION_DENIED", message, {
        cause: error,
        hint: "your Kubernetes user lacks a permission vsnap needs (see the RBAC in the controller's manifests)",
      });
    case 404:
      return new VsnapError("NOT_FOUND", message, { cause: error });
    case 409:
      return new VsnapError("CONFLICT", message, { cause: error });
    case 422:
    case 400:
      return new VsnapError("INVALID_ARGUMENT", message, { cause: error });
    default:
      return new VsnapError(code >= 500 ? "UNAVAILABLE" : "INTERNAL", message, { cause: error });
  }
}
