import { VsnapError } from "@vsnap/core";
import {
  findVCluster,
  getRequest,
  isTerminal,
  requestDeletion,
  requestSnapshot,
  type StoredRequest,
} from "@vsnap/kube";
import {
  describeProgress,
  exitForPhase,
  kubeFrom,
  latestRequests,
  locate,
  phaseLabel,
  statStored,
  VIEW_HEADERS,
  viewOf,
  viewRow,
} from "./cluster-common.js";
import { type CommandContext, stringOption } from "./command.js";
import { applyStoreFlags } from "./store-flags.js";
import { volumeLines } from "./volumes-view.js";

export async function createSnapshot(ctx: CommandContext): Promise<number> {
  const { args, options, out, env } = ctx;
  const [name, raw] = [args[0]!, args[1]!];
  const registry = ctx.registry();
  const url = await applyStoreFlags(raw, options, registry);
  const kube = kubeFrom(options);
  const namespace = stringOption(options, "namespace");
  const releaseNamespace = stringOption(options, "release-namespace");
  const result = await requestSnapshot(kube, {
    name,
    ...(namespace ? { namespace } : {}),
    ...(releaseNamespace ? { releaseNamespace } : {}),
    url,
    registry,
    env,
    ...(options["include-volumes"] === true ? { includeVolumes: true } : {}),
  });
  for (const w of result.warnings) out.warn(w);
  const getCommand = `vsnap snapshot get ${name} "${result.request.request.spec.url}"${namespace ? ` -n ${namespace}` : ""}`;
  if (out.format !== "table") {
    if (options.wait !== true) {
      out.result(jsonOf(result.request), () => ({ headers: [], rows: [] }));
      return 0;
    }
  } else
    out.print(
      `Beginning snapshot creation... You can check the snapshot creation progress with the following command: ${getCommand}`,
    );
  if (options.wait !== true) return 0;
  return follow(ctx, kubeFrom(options), result.request);
}

export async function getSnapshot(ctx: CommandContext): Promise<number> {
  const { args, options, out, env, signal } = ctx;
  const [name, raw] = [args[0]!, args[1]!];
  const registry = ctx.registry();
  const location = await locate(raw, registry);
  const kube = kubeFrom(options);
  const namespace = stringOption(options, "namespace");
  const vc = await findVCluster(kube, name, namespace ? { namespace } : {});
  const render = async () => {
    const request = (await latestRequests(kube, vc)).get(location.publicUrl);
    const stored = await statStored(registry, location, env, signal);
    return { request, stored, view: viewOf(location.display, request, stored.info) };
  };
  let { request, stored, view } = await render();
  if (!request && !stored.info) {
    throw new VsnapError("NOT_FOUND", `no snapshot of vCluster "${name}" at ${location.display}`, {
      hint: stored.problem
        ? `the store could not be read (${stored.problem}) and no request for this URL is left in namespace ${vc.namespace}`
        : `no request for this URL in namespace ${vc.namespace} (finished requests are removed after a day) and nothing stored there`,
    });
  }
  if (stored.problem) out.warn(`could not read ${location.display}: ${stored.problem}`);
  out.result(view, () => ({ headers: VIEW_HEADERS, rows: [viewRow(view)] }));
  if (view.error && out.format === "table") out.print(`\nError: ${view.error}`);
  if (out.format === "table") for (const line of volumeLines(request)) out.print(line);
  if (options.watch !== true || !request || isTerminal(request.request.status.phase)) {
    return request && request.request.status.phase === "Failed" ? 1 : 0;
  }
  let last = viewRow(view).join("|");
  while (!signal.aborted) {
    await sleep(1000, signal);
    ({ request, view } = await render());
    const row = viewRow(view);
    if (row.join("|") !== last) {
      last = row.join("|");
      if (out.format === "table") out.print(row.join(" | "));
      else out.result(view, () => ({ headers: [], rows: [] }));
    }
    if (!request || isTerminal(request.request.status.phase)) break;
  }
  if (view.error && out.format === "table") out.print(`Error: ${view.error}`);
  return request ? exitForPhase(request.request.status.phase) : 0;
}

export async function listSnapshots(ctx: CommandContext): Promise<number> {
  const { args, options, out, env, signal } = ctx;
  const kube = kubeFrom(options);
  const namespace = stringOption(options, "namespace");
  const vc = await findVCluster(kube, args[0]!, namespace ? { namespace } : {});
  const prefix = args[1];
  const requests = [...(await latestRequests(kube, vc)).values()].filter(
    (r) => !prefix || r.request.spec.url.startsWith(prefix),
  );
  const registry = ctx.registry();
  const stored = new Map<string, { size: number; modified: Date; url: string }>();
  if (prefix) {
    const { store } = await registry.open(await locate(prefix, registry), { env });
    try {
      for await (const info of store.list("", { signal })) stored.set(info.url, info);
    } finally {
      await store.close();
    }
  }
  const views = await Promise.all(
    requests.map(async (r) => {
      let s = stored.get(r.request.spec.url);
      stored.delete(r.request.spec.url);
      if (!s && !prefix) {
        // what the store holds for this URL (best effort: a store this machine cannot reach shows "-")
        const found = await locate(r.request.spec.url, registry)
          .then((location) => statStored(registry, location, env, signal))
          .catch(() => ({ info: undefined }));
        if (found.info) s = found.info;
      }
      return viewOf(
        r.request.spec.display,
        r,
        s ? { key: "", url: s.url, size: s.size, modified: s.modified } : undefined,
      );
    }),
  );
  for (const s of stored.values())
    views.push(viewOf(s.url, undefined, { key: "", url: s.url, size: s.size, modified: s.modified }));
  out.result(views, () => ({ headers: VIEW_HEADERS, rows: views.map(viewRow) }));
  if (views.length === 0) out.info(`no snapshots of vCluster "${vc.name}" found`);
  return 0;
}

export async function deleteSnapshot(ctx: CommandContext): Promise<number> {
  const { args, options, out, env } = ctx;
  const kube = kubeFrom(options);
  const namespace = stringOption(options, "namespace");
  const result = await requestDeletion(kube, {
    name: args[0]!,
    ...(namespace ? { namespace } : {}),
    url: args[1]!,
    registry: ctx.registry(),
    env,
  });
  for (const w of result.warnings) out.warn(w);
  if (out.format === "table")
    out.print(
      `Deletion requested... You can check its progress with the following command: vsnap snapshot get ${args[0]} "${result.request.request.spec.url}"${namespace ? ` -n ${namespace}` : ""}`,
    );
  else if (options.wait !== true) out.result(jsonOf(result.request), () => ({ headers: [], rows: [] }));
  if (options.wait !== true) return 0;
  return follow(ctx, kube, result.request);
}

/** --wait: a progress line while it runs, the final row and exit code when it ends. */
async function follow(
  ctx: CommandContext,
  kube: ReturnType<typeof kubeFrom>,
  initial: StoredRequest,
): Promise<number> {
  const { out, signal } = ctx;
  const progress = out.progress();
  let current: StoredRequest | undefined = initial;
  let lastPhase = "";
  try {
    while (current && !isTerminal(current.request.status.phase)) {
      if (current.request.status.phase !== lastPhase) {
        lastPhase = current.request.status.phase;
        progress.done();
        out.info(`${current.request.spec.display}: ${phaseLabel(current.request.status.phase)}`);
      }
      const line = describeProgress(current);
      if (line) progress.update(() => line);
      await sleep(500, signal);
      if (signal.aborted)
        throw new VsnapError("ABORTED", "stopped waiting; the request continues in the cluster", {
          hint: "check it with vsnap snapshot get",
        });
      current = await getRequest(kube, initial.namespace, initial.name);
    }
  } finally {
    progress.done();
  }
  if (!current)
    throw new VsnapError(
      "NOT_FOUND",
      `snapshot request ${initial.namespace}/${initial.name} disappeared while waiting`,
    );
  const view = viewOf(current.request.spec.display, current, undefined);
  out.result(jsonOf(current), () => ({ headers: VIEW_HEADERS, rows: [viewRow(view)] }));
  if (view.error && out.format === "table") out.print(`\nError: ${view.error}`);
  return exitForPhase(current.request.status.phase);
}

function jsonOf(r: StoredRequest) {
  return { name: r.name, namespace: r.namespace, ...r.request };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
