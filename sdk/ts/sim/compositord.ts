/**
 * Simulated compositord: one fake HDMI-A-1 output, layers with registers latched at vsync,
 * `bind_dmabuf` that reads the buffer behind the received descriptor and answers its FNV-1a
 * checksum, `bind_image` reading a raw file, `vsync`/`pageflip` at the output's rate while
 * somebody listens.
 *
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import { PortError } from "../mod.ts";
import type { BlendMode, Mode, Output, PixelFormat } from "../services/compositord.ts";
import type { CompositordHandlers, CompositordServer } from "../services/compositord_server.ts";
import {
  fdIoFor,
  fnv1a32,
  FrameClock,
  monotonicUsec,
  notFound,
  type Sim,
  type SimOptions,
  Timers,
} from "./common.ts";

/** Options of the compositord sim. */
export interface CompositordSimOptions extends SimOptions {
  /** Most layers at once (more → BUSY). Default 64. */
  maxLayers?: number;
  /** Modes of the fake HDMI-A-1; the first is current. Default 1080p60, 720p60, 2160p30. */
  modes?: Mode[];
}

/** A layer's registers. */
export interface LayerRegs {
  x: number;
  y: number;
  alpha: number;
  z: number;
  visible: boolean;
  scale_x: number;
  scale_y: number;
  rotation: number;
  blend: BlendMode;
}

/** What a layer shows. */
export interface LayerBinding {
  kind: "dmabuf" | "image";
  w: number;
  h: number;
  format: PixelFormat;
  stride: number;
  bytes: number;
  checksum: string;
  path?: string;
}

/** A layer as the sim keeps it. */
export interface LayerState {
  id: number;
  regs: LayerRegs;
  binding?: LayerBinding;
}

/** The compositord sim: the common shape plus views used by tests and by linked sims. */
export interface CompositordSim extends Sim<CompositordHandlers, CompositordServer> {
  /** A copy of a layer's shown state, or undefined. */
  layer(id: number): LayerState | undefined;
  /** Creates a layer (as `create_layer`), for a linked compat-uae sim. */
  createLayer(): number;
  /** Whether a layer exists. */
  hasLayer(id: number): boolean;
  /** Applies one register write by name (`layer[1].x`), for a linked copperd sim; false if no such layer. */
  writeRegister(reg: string, value: number | boolean | string): boolean;
  /** The current frame number. */
  frame(): number;
}

const DEFAULT_MODES: Mode[] = [
  { w: 1920, h: 1080, hz: 60 },
  { w: 1280, h: 720, hz: 60 },
  { w: 3840, h: 2160, hz: 30 },
];

const REG_RE = /^layer\[([0-9]+)\]\.(x|y|alpha|z|visible|scale_x|scale_y|rotation|blend)$/;

function defaultRegs(): LayerRegs {
  return {
    x: 0,
    y: 0,
    alpha: 1,
    z: 0,
    visible: false,
    scale_x: 1,
    scale_y: 1,
    rotation: 0,
    blend: "normal",
  };
}

function checkLayout(w: number, stride: number, modifier?: string): void {
  if (stride < w * 4) {
    throw new PortError("BAD_FORMAT", `Stride ${stride} is below w × 4 = ${w * 4}`, {
      data: { path: "/stride" },
    });
  }
  if (modifier !== undefined && modifier !== "LINEAR" && !/^0x0+$/.test(modifier)) {
    throw new PortError(
      "BAD_FORMAT",
      `Unsupported modifier ${modifier}; the sim scans out LINEAR buffers only`,
      {
        data: { path: "/modifier" },
      },
    );
  }
}

/** Creates a simulated compositord. */
export function createCompositordSim(options: CompositordSimOptions = {}): CompositordSim {
  const clock = options.clock ?? monotonicUsec;
  const maxLayers = options.maxLayers ?? 64;
  const modes = options.modes ?? DEFAULT_MODES;
  const timers = new Timers();
  const layers = new Map<number, LayerState>();
  const pending = new Map<number, Partial<LayerRegs>>();
  const output: Output = { id: 0, name: "HDMI-A-1", modes, current_mode: modes[0] };
  let nextId = 1;
  let server: CompositordServer | undefined;
  let latchedFor = -1;

  const listening = () =>
    (server?.hasSubscribers("vsync") || server?.hasSubscribers("pageflip")) ?? false;

  const applyPending = () => {
    for (const [id, regs] of pending) {
      const l = layers.get(id);
      if (l) Object.assign(l.regs, regs);
    }
    pending.clear();
  };

  const display = new FrameClock(timers, clock, modes[0].hz, (frame, usec) => {
    applyPending();
    if (server?.hasSubscribers("vsync")) server.emit("vsync", { usec, frame });
    if (server?.hasSubscribers("pageflip")) server.emit("pageflip", { frame });
  }, listening);

  /** Writes latch at the next vsync; apply those whose vsync has passed when nobody ticks. */
  const settle = () => {
    if (pending.size > 0 && latchedFor >= 0 && display.frame() >= latchedFor) applyPending();
  };

  const queue = (id: number, regs: Partial<LayerRegs>) => {
    settle();
    const p = pending.get(id) ?? {};
    Object.assign(p, regs);
    pending.set(id, p);
    latchedFor = display.frame() + 1;
  };

  const get = (id: number): LayerState => {
    const l = layers.get(id);
    if (!l) throw notFound("layer", id);
    return l;
  };

  const createLayer = (): number => {
    if (layers.size >= maxLayers) {
      throw new PortError("BUSY", `Too many layers (limit ${maxLayers})`);
    }
    const id = nextId++;
    layers.set(id, { id, regs: defaultRegs() });
    return id;
  };

  const parseReg = (reg: string): [number, keyof LayerRegs] | undefined => {
    const m = REG_RE.exec(reg);
    return m ? [Number(m[1]), m[2] as keyof LayerRegs] : undefined;
  };

  const handlers: CompositordHandlers = {
    output_list() {
      return { outputs: [structuredClone(output)] };
    },
    output_set_mode({ id, mode }) {
      if (id !== output.id) throw notFound("output", id);
      const match = output.modes.find((m) => m.w === mode.w && m.h === mode.h && m.hz === mode.hz);
      if (!match) {
        const list = output.modes.map((m) => `${m.w}x${m.h}@${m.hz}`).join(", ");
        throw new PortError(
          "BAD_MODE",
          `${output.name} does not support ${mode.w}x${mode.h}@${mode.hz} (modes: ${list})`,
        );
      }
      if (output.current_mode !== match) {
        output.current_mode = match;
        display.setHz(match.hz);
        server?.emit("hotplug", { outputs: [structuredClone(output)] });
      }
      return {};
    },
    create_layer() {
      return { id: createLayer() };
    },
    destroy_layer({ id }) {
      get(id);
      layers.delete(id);
      pending.delete(id);
      return {};
    },
    async bind_dmabuf({ id, fd, w, h, format, stride, modifier }) {
      const layer = get(id);
      checkLayout(w, stride, modifier);
      const io = await fdIoFor(options);
      const need = h * stride;
      let size: number;
      try {
        size = io.fdSize(fd);
      } catch (error) {
        throw new PortError("BAD_FD", `Cannot inspect the buffer: ${(error as Error).message}`, {
          data: { path: "/fd" },
        });
      }
      if (size < need) {
        throw new PortError("BAD_FORMAT", `Buffer holds ${size} bytes, h × stride needs ${need}`, {
          data: { path: "/fd" },
        });
      }
      const bytes = io.readFd(fd, need, 0);
      if (bytes.length < need) {
        throw new PortError("BAD_FORMAT", `Read ${bytes.length} of ${need} bytes from the buffer`, {
          data: { path: "/fd" },
        });
      }
      const checksum = fnv1a32(bytes);
      layer.binding = { kind: "dmabuf", w, h, format, stride, bytes: need, checksum };
      return { id, bytes: need, checksum };
    },
    async bind_image({ id, path, w, h, format, stride }) {
      const layer = get(id);
      const s = stride ?? w * 4;
      checkLayout(w, s);
      const need = h * s;
      let size: number;
      try {
        const st = await stat(path);
        if (!st.isFile()) throw new PortError("NOT_FOUND", `${path} is not a regular file`);
        size = st.size;
      } catch (error) {
        if (error instanceof PortError) throw error;
        throw new PortError("NOT_FOUND", `No image file ${path}`, { data: { path: "/path" } });
      }
      if (size < need) {
        throw new PortError("BAD_FORMAT", `${path} holds ${size} bytes, h × stride needs ${need}`);
      }
      const data = await readFile(path);
      const checksum = fnv1a32(data.subarray(0, need));
      layer.binding = { kind: "image", w, h, format, stride: s, bytes: need, checksum, path };
      return { id };
    },
    unbind({ id }) {
      get(id).binding = undefined;
      return {};
    },
    set(args) {
      get(args.id);
      const { id: _id, ...regs } = args;
      queue(args.id, regs as Partial<LayerRegs>);
      return {};
    },
    set_regs({ regs }) {
      const writes: [number, keyof LayerRegs, unknown][] = [];
      for (const [name, value] of Object.entries(regs)) {
        const r = parseReg(name);
        if (!r) {
          throw new PortError("BAD_ARG", `args/regs: unknown register "${name}"`, {
            data: { path: "/regs" },
          });
        }
        if (!layers.has(r[0])) throw notFound("layer", r[0]);
        writes.push([r[0], r[1], value]);
      }
      for (const [id, field, value] of writes) queue(id, { [field]: value } as Partial<LayerRegs>);
      return {};
    },
    commit() {
      settle();
      const frame = display.frame() + 1;
      latchedFor = frame;
      return { frame };
    },
  };

  display.start();

  return {
    handlers,
    attach(s) {
      server = s;
      display.kick();
    },
    stop() {
      display.stop();
      timers.clearAll();
    },
    layer(id) {
      settle();
      const l = layers.get(id);
      return l ? structuredClone(l) : undefined;
    },
    createLayer,
    hasLayer: (id) => layers.has(id),
    writeRegister(reg, value) {
      const r = parseReg(reg);
      if (!r || !layers.has(r[0])) return false;
      queue(r[0], { [r[1]]: value } as Partial<LayerRegs>);
      return true;
    },
    frame: () => display.frame(),
  };
}
