/**
 * Simulated CopperlineOS services, served with the generated stubs.
 *
 * ```ts ignore
 * import { startSim } from "./mod.ts";
 * const sim = await startSim("copperd", { address: "/tmp/copperd.sock" });
 * // ... CopperdClient.connect("/tmp/copperd.sock") ...
 * await sim.stop();
 * ```
 *
 * Each `create<Svc>Sim(options)` returns `{ handlers, attach(server), stop() }` (plus a few views
 * for tests); `startSim` wires one to its generated server.
 *
 * @module
 */

import type { ServeOptions } from "../mod.ts";
import { AudiomixerdServer } from "../services/audiomixerd_server.ts";
import { BlitterdServer } from "../services/blitterd_server.ts";
import { CiadServer } from "../services/ciad_server.ts";
import { CompatUaeServer } from "../services/compat-uae_server.ts";
import { CompositordServer } from "../services/compositord_server.ts";
import { CopperdServer } from "../services/copperd_server.ts";
import { type AudiomixerdSimOptions, createAudiomixerdSim } from "./audiomixerd.ts";
import { type BlitterdSimOptions, createBlitterdSim } from "./blitterd.ts";
import { type CiadSimOptions, createCiadSim } from "./ciad.ts";
import { type CompatUaeSimOptions, createCompatUaeSim } from "./compat-uae.ts";
import { type CompositordSimOptions, createCompositordSim } from "./compositord.ts";
import { type CopperdSimOptions, createCopperdSim } from "./copperd.ts";
import type { Sim } from "./common.ts";

export { createAudiomixerdSim } from "./audiomixerd.ts";
export { createBlitterdSim } from "./blitterd.ts";
export { createCiadSim } from "./ciad.ts";
export { createCompatUaeSim } from "./compat-uae.ts";
export { createCompositordSim } from "./compositord.ts";
export { createCopperdSim } from "./copperd.ts";
export { type FdIo, fnv1a32, type Sim, type SimOptions } from "./common.ts";

/** The services that have a sim, in the order `all` starts them. */
export const SERVICES = [
  "copperd",
  "compositord",
  "blitterd",
  "audiomixerd",
  "compat-uae",
  "ciad",
] as const;

/** A service name with a sim. */
export type ServiceName = typeof SERVICES[number];

/** Whether `name` is a service with a sim. */
export function isService(name: string): name is ServiceName {
  return (SERVICES as readonly string[]).includes(name);
}

/** Per-service sim options. */
export interface SimOptionsByService {
  copperd: CopperdSimOptions;
  compositord: CompositordSimOptions;
  blitterd: BlitterdSimOptions;
  audiomixerd: AudiomixerdSimOptions;
  "compat-uae": CompatUaeSimOptions;
  ciad: CiadSimOptions;
}

/** Options of {@linkcode startSim}: where and how to serve, plus the sim's own options. */
export interface StartSimOptions<K extends ServiceName = ServiceName> extends ServeOptions {
  /** Address(es); default `$<SERVICE>_SOCKET`, then `/run/copperline/<service>.sock`. */
  address?: string | string[];
  /** Options for the sim itself. */
  sim?: SimOptionsByService[K];
}

/** A running sim. */
export interface RunningSim {
  /** The service name. */
  readonly service: ServiceName;
  /** The generated server (emit, hasSubscribers, port). */
  // deno-lint-ignore no-explicit-any
  readonly server: { addresses: string[]; close(): Promise<void>; port: any };
  /** The sim behind it (`handlers`, `attach`, `stop`, views). */
  readonly sim: Sim<unknown, unknown>;
  /** Addresses listened on. */
  readonly addresses: string[];
  /** Stops the sim's timers (emitting shutdown events), then closes the server gracefully. */
  stop(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
type AnySim = Sim<any, any>;
// deno-lint-ignore no-explicit-any
type Serve = (handlers: any, options: ServeOptions) => Promise<any>;

/** The sim and the serve function for a service. */
function build(service: ServiceName, options: unknown): { sim: AnySim; serve: Serve } {
  // deno-lint-ignore no-explicit-any
  const o = options as any;
  switch (service) {
    case "copperd":
      return { sim: createCopperdSim(o), serve: (h, s) => CopperdServer.serve(h, s) };
    case "compositord":
      return { sim: createCompositordSim(o), serve: (h, s) => CompositordServer.serve(h, s) };
    case "blitterd":
      return { sim: createBlitterdSim(o), serve: (h, s) => BlitterdServer.serve(h, s) };
    case "audiomixerd":
      return { sim: createAudiomixerdSim(o), serve: (h, s) => AudiomixerdServer.serve(h, s) };
    case "compat-uae":
      return { sim: createCompatUaeSim(o), serve: (h, s) => CompatUaeServer.serve(h, s) };
    case "ciad":
      return { sim: createCiadSim(o), serve: (h, s) => CiadServer.serve(h, s) };
  }
}

/**
 * Creates the sim of `service`, serves it with its generated server and attaches the two.
 *
 * @param service One of {@linkcode SERVICES}.
 * @param options Address(es), serve options, `sim` options.
 * @throws `TypeError` for an unknown service; the listen error (e.g. `EADDRINUSE`) otherwise.
 */
export async function startSim<K extends ServiceName>(
  service: K | string,
  options: StartSimOptions<K> = {},
): Promise<RunningSim> {
  if (!isService(service)) {
    throw new TypeError(`Unknown service "${service}"; valid services: ${SERVICES.join(", ")}`);
  }
  const { sim: simOptions, ...serveOptions } = options;
  const { sim, serve } = build(service, simOptions ?? {});
  let server;
  try {
    server = await serve(sim.handlers, serveOptions);
  } catch (error) {
    sim.stop();
    throw error;
  }
  sim.attach(server);
  let stopping: Promise<void> | undefined;
  return {
    service,
    server,
    sim,
    addresses: server.addresses,
    stop() {
      return stopping ??= (async () => {
        sim.stop();
        await server.close();
      })();
    },
  };
}

/**
 * Starts every sim, linked as on a real system: copperd's MOVE/ADD land in compositord's layer
 * registers, compat-uae creates its layers in compositord. On a failure, the sims already started
 * are stopped and the error is rethrown with a `service` property naming the one that failed.
 *
 * @param addressFor The address of each service.
 * @param options Serve options shared by all.
 */
export async function startAll(
  addressFor: (service: ServiceName) => string | string[],
  options: ServeOptions = {},
): Promise<RunningSim[]> {
  const started: RunningSim[] = [];
  let current: ServiceName = "compositord";
  try {
    const compositord = await startSim("compositord", {
      ...options,
      address: addressFor("compositord"),
    });
    started.push(compositord);
    const comp = compositord.sim as unknown as ReturnType<typeof createCompositordSim>;
    for (const service of SERVICES) {
      if (service === "compositord") continue;
      const sim = service === "copperd"
        ? {
          onRegisterWrite: (reg: string, value: number | boolean | string) =>
            void comp.writeRegister(reg, value),
        }
        : service === "compat-uae"
        ? {
          compositor: {
            createLayer: () => comp.createLayer(),
            hasLayer: (id: number) => comp.hasLayer(id),
          },
        }
        : {};
      current = service;
      started.push(await startSim(service, { ...options, address: addressFor(service), sim }));
    }
  } catch (error) {
    await Promise.all(started.map((s) => s.stop()));
    // Say which service failed (the CLI reports it).
    if (error !== null && typeof error === "object") {
      (error as { service?: string }).service ??= current;
    }
    throw error;
  }
  // Report them in the usual order.
  return SERVICES.map((s) => started.find((r) => r.service === s)!);
}
