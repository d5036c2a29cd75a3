/**
 * Simulated compat-uae: VMs with a state, floppy drives and game ports; `frame` at 50 fps (PAL)
 * for running VMs while somebody listens, `stopped` on stop, reset and shutdown, `message` on
 * disk changes. Layers come from a linked compositord sim when given one.
 *
 * @module
 */

import { stat } from "node:fs/promises";
import { PortError } from "../mod.ts";
import type { CreateVmArgs } from "../services/compat-uae.ts";
import type { CompatUaeHandlers, CompatUaeServer } from "../services/compat-uae_server.ts";
import {
  expandHome,
  FrameClock,
  monotonicUsec,
  notFound,
  type Sim,
  type SimOptions,
  Timers,
} from "./common.ts";

/** The compositord a VM's video goes to. */
export interface CompositorLink {
  /** Creates a layer; returns its id. */
  createLayer(): number;
  /** Whether the layer exists. */
  hasLayer(id: number): boolean;
}

/** Options of the compat-uae sim. */
export interface CompatUaeSimOptions extends SimOptions {
  /**
   * Layers: a linked compositord; `null` behaves as if compositord were unreachable
   * (COMPOSITOR_UNAVAILABLE); absent, the sim hands out layer ids of its own.
   */
  compositor?: CompositorLink | null;
  /** Check that Kickstart and disk files exist (and ADF sizes). Default true. */
  checkFiles?: boolean;
  /** Frame rate of running VMs. Default 50 (PAL). */
  fps?: number;
  /** Most VMs (more → BUSY). Default 8. */
  maxVms?: number;
}

/** A VM as the sim keeps it. */
export interface VmState {
  id: number;
  model: "A500" | "A1200";
  state: "running" | "stopped";
  config: CreateVmArgs;
  drives: (string | null)[];
  ports: { mode: string; map: string }[];
  layer?: number;
  frames: number;
  resets: number;
}

/** The compat-uae sim. */
export interface CompatUaeSim extends Sim<CompatUaeHandlers, CompatUaeServer> {
  /** A copy of a VM's state, or undefined. */
  vm(id: number): VmState | undefined;
}

/** ADF sizes: DD (880 KiB) and HD (1760 KiB) disks. */
const ADF_SIZES = new Set([901_120, 1_802_240]);

/** Creates a simulated compat-uae. */
export function createCompatUaeSim(options: CompatUaeSimOptions = {}): CompatUaeSim {
  const clock = options.clock ?? monotonicUsec;
  const checkFiles = options.checkFiles ?? true;
  const fps = options.fps ?? 50;
  const maxVms = options.maxVms ?? 8;
  const timers = new Timers();
  const vms = new Map<number, VmState>();
  let nextId = 1;
  let nextLocalLayer = 1;
  let server: CompatUaeServer | undefined;

  const anyRunning = () => {
    for (const v of vms.values()) if (v.state === "running") return true;
    return false;
  };

  const video = new FrameClock(timers, clock, fps, (_frame, usec) => {
    for (const v of vms.values()) {
      if (v.state !== "running") continue;
      v.frames++;
      server?.emit("frame", { id: v.id, usec, fps });
    }
  }, () => anyRunning() && (server?.hasSubscribers("frame") ?? false));

  const get = (id: number): VmState => {
    const v = vms.get(id);
    if (!v) throw notFound("VM", id);
    return v;
  };

  const checkDisk = async (path: string, field: string) => {
    if (!checkFiles) return;
    const full = expandHome(path);
    let size: number;
    try {
      size = (await stat(full)).size;
    } catch {
      throw new PortError("BAD_DISK", `Cannot read disk image ${path}`, { data: { path: field } });
    }
    if (!ADF_SIZES.has(size)) {
      throw new PortError(
        "BAD_DISK",
        `${path} is not an ADF image (${size} bytes; ADF is 901120 or 1802240)`,
        {
          data: { path: field },
        },
      );
    }
  };

  const halt = (v: VmState, reason: "stop" | "reset" | "error" | "shutdown") => {
    v.state = "stopped";
    server?.emit("stopped", { id: v.id, reason });
  };

  const layerFor = (): number => {
    if (options.compositor === null) {
      throw new PortError("COMPOSITOR_UNAVAILABLE", "compositord could not be reached");
    }
    if (options.compositor) {
      try {
        return options.compositor.createLayer();
      } catch (error) {
        throw new PortError(
          "COMPOSITOR_UNAVAILABLE",
          `compositord refused the layer: ${(error as Error).message}`,
        );
      }
    }
    return nextLocalLayer++;
  };

  const handlers: CompatUaeHandlers = {
    async create_vm(args) {
      if (vms.size >= maxVms) throw new PortError("BUSY", `Too many VMs (limit ${maxVms})`);
      if (checkFiles) {
        try {
          await stat(expandHome(args.kick));
        } catch {
          throw new PortError("BAD_ARG", `args/kick: Kickstart ROM ${args.kick} not found`, {
            data: { path: "/kick" },
          });
        }
      }
      if (args.floppy !== undefined) await checkDisk(args.floppy, "/floppy");
      const id = nextId++;
      vms.set(id, {
        id,
        model: args.model,
        state: "stopped",
        config: {
          ...args,
          chip_ram_kb: args.chip_ram_kb ?? (args.model === "A500" ? 512 : 2048),
          fast_ram_mb: args.fast_ram_mb ?? 0,
          scale: args.scale ?? "integer",
          filter: args.filter ?? "nearest",
          audio_rate: args.audio_rate ?? 48000,
        },
        drives: [args.floppy ?? null, null, null, null],
        ports: [{ mode: "joystick", map: "auto" }, { mode: "joystick", map: "auto" }],
        frames: 0,
        resets: 0,
      });
      return { id };
    },
    start({ id }) {
      const v = get(id);
      if (v.state === "running") return {};
      v.state = "running";
      video.kick();
      return {};
    },
    stop({ id }) {
      const v = get(id);
      if (v.state === "running") halt(v, "stop");
      return {};
    },
    reset({ id, hard }) {
      const v = get(id);
      v.resets++;
      v.frames = 0;
      if (hard) v.drives = [v.config.floppy ?? null, null, null, null];
      // A reset ends the current run; start the VM again to boot.
      halt(v, "reset");
      return {};
    },
    async insert_disk({ id, drive, path }) {
      const v = get(id);
      await checkDisk(path, "/path");
      v.drives[drive] = path;
      server?.emit("message", { id, text: `DF${drive}: ${path.split("/").pop()} inserted` });
      return {};
    },
    eject_disk({ id, drive }) {
      const v = get(id);
      if (v.drives[drive] !== null) {
        v.drives[drive] = null;
        server?.emit("message", { id, text: `DF${drive}: disk ejected` });
      }
      return {};
    },
    set_input({ id, port, mode, map }) {
      const v = get(id);
      v.ports[port] = { mode, map: map ?? "auto" };
      return {};
    },
    bind_layer({ id, layer }) {
      const v = get(id);
      if (options.compositor === null) {
        throw new PortError("COMPOSITOR_UNAVAILABLE", "compositord could not be reached");
      }
      if (options.compositor && !options.compositor.hasLayer(layer)) {
        throw notFound("compositord layer", layer);
      }
      v.layer = layer;
      return {};
    },
    create_layer({ id }) {
      const v = get(id);
      v.layer = layerFor();
      return { layer: v.layer };
    },
  };

  video.start();

  return {
    handlers,
    attach(s) {
      server = s;
      video.kick();
    },
    stop() {
      for (const v of vms.values()) if (v.state === "running") halt(v, "shutdown");
      video.stop();
      timers.clearAll();
    },
    vm(id) {
      const v = vms.get(id);
      return v ? structuredClone(v) : undefined;
    },
  };
}
