/**
 * Simulated audiomixerd: a node graph (acyclic, sources to sinks), a fake output device, `state`
 * on start/stop and `stats` every 100 ms while running. `app_source` reads the client's memfd
 * ring (frames × channels × 4 bytes of f32) and answers how many frames it found.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { PortError } from "../mod.ts";
import type { DeviceOpenResult, NodeType } from "../services/audiomixerd.ts";
import type { AudiomixerdHandlers, AudiomixerdServer } from "../services/audiomixerd_server.ts";
import { fdIoFor, monotonicUsec, notFound, type Sim, type SimOptions, Timers } from "./common.ts";

/** Options of the audiomixerd sim. */
export interface AudiomixerdSimOptions extends SimOptions {
  /** Device names that open (others → DEVICE_UNAVAILABLE). Default `default`, `null`, `hw:0,0`, `hw:0`. */
  devices?: string[];
  /** Period of `stats` events in ms. Default 100. */
  statsMs?: number;
  /** Open the default device at creation (so `start` works without `device_open`). Default false. */
  autoOpen?: boolean;
}

/** A graph node as the sim keeps it. */
export interface NodeState {
  id: number;
  type: NodeType;
  args: Record<string, unknown>;
  inputs: number[];
  outputs: number[];
  /** app_source: frames found in the ring at creation; peak absolute sample value. */
  framesRead?: number;
  peak?: number;
}

/** The audiomixerd sim. */
export interface AudiomixerdSim extends Sim<AudiomixerdHandlers, AudiomixerdServer> {
  /** A copy of a node, or undefined. */
  node(id: number): NodeState | undefined;
  /** `running` or `stopped`. */
  readonly state: "running" | "stopped";
}

const SOURCES = new Set<NodeType>(["tone", "file_source", "app_source"]);
const LAYOUTS = new Set([1, 2, 4, 6, 8]);

interface GraphNode {
  id: number;
  type: NodeType;
  args: Record<string, unknown>;
  inputs: Set<number>;
  outputs: Set<number>;
  framesRead?: number;
  peak?: number;
}

/** Creates a simulated audiomixerd. */
export function createAudiomixerdSim(options: AudiomixerdSimOptions = {}): AudiomixerdSim {
  const clock = options.clock ?? monotonicUsec;
  const devices = new Set(options.devices ?? ["default", "null", "hw:0,0", "hw:0"]);
  const statsMs = options.statsMs ?? 100;
  const timers = new Timers();
  const nodes = new Map<number, GraphNode>();
  let nextId = 1;
  let server: AudiomixerdServer | undefined;
  let driver: "alsa" | "jack" = "alsa";
  let device: DeviceOpenResult | undefined = options.autoOpen
    ? { name: "default", rate: 48000, channels: 2, period: 256 }
    : undefined;
  let state: "running" | "stopped" = "stopped";
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  let lastTick = 0;

  const get = (id: number, what = "node"): GraphNode => {
    const n = nodes.get(id);
    if (!n) throw notFound(what, id);
    return n;
  };

  /** Whether `to` can reach `from` through outputs (then from → to closes a cycle). */
  const reaches = (start: number, target: number): boolean => {
    const seen = new Set<number>();
    const stack = [start];
    while (stack.length) {
      const id = stack.pop()!;
      if (id === target) return true;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const o of nodes.get(id)?.outputs ?? []) stack.push(o);
    }
    return false;
  };

  const stats = () => {
    const now = clock();
    const period = device?.period ?? 256;
    const expected = statsMs * 1000;
    const late = lastTick ? Math.max(0, Math.round(now - lastTick - expected)) : 0;
    lastTick = now;
    // A believable load: a base cost plus a little per node, with some jitter.
    const cpu = 0.4 + nodes.size * 0.35 + Math.random() * 0.2;
    server?.emit("stats", {
      cpu_pct: Math.round(cpu * 100) / 100,
      period,
      late_us: Math.min(late, 1_000_000),
    });
  };

  const setState = (value: "running" | "stopped") => {
    if (state === value) return;
    state = value;
    if (value === "running") {
      lastTick = 0;
      statsTimer = timers.interval(stats, statsMs);
    } else {
      timers.clear(statsTimer);
      statsTimer = undefined;
    }
    server?.emit("state", { value });
  };

  const handlers: AudiomixerdHandlers = {
    backend({ driver: d }) {
      if (state === "running") {
        throw new PortError("BUSY", "Stop the graph before changing the backend");
      }
      if (d !== driver) device = undefined;
      driver = d;
      return {};
    },
    device_open({ name, rate, channels, period }) {
      if (state === "running") {
        throw new PortError("BUSY", "Stop the graph before reopening the device");
      }
      const n = name ?? "default";
      if (!devices.has(n)) {
        throw new PortError(
          "DEVICE_UNAVAILABLE",
          `Cannot open ${driver} device "${n}" (available: ${[...devices].join(", ")})`,
        );
      }
      device = { name: n, rate: rate ?? 48000, channels: channels ?? 2, period: period ?? 256 };
      return { ...device };
    },
    async create_node(args, ctx) {
      const type = args.type;
      const params = { ...(("args" in args ? args.args : undefined) ?? {}) } as Record<
        string,
        unknown
      >;
      const node: GraphNode = { id: 0, type, args: params, inputs: new Set(), outputs: new Set() };
      if (args.type === "app_source") {
        const { memfd, frames, channels } = args.args;
        if (!LAYOUTS.has(channels)) {
          throw new PortError(
            "BAD_FORMAT",
            `Unsupported layout: ${channels} channels (supported: 1, 2, 4, 6, 8)`,
            {
              data: { path: "/args/channels" },
            },
          );
        }
        const io = await fdIoFor(options);
        const frameBytes = channels * 4;
        let bytes: Uint8Array;
        try {
          bytes = io.readFd(memfd, frames * frameBytes, 0);
        } catch (error) {
          throw new PortError("BAD_FD", `args/args/memfd: ${(error as Error).message}`, {
            data: { path: "/args/memfd" },
          });
        }
        node.framesRead = Math.floor(bytes.length / frameBytes);
        const samples = new Float32Array(bytes.slice(0, node.framesRead * frameBytes).buffer);
        let peak = 0;
        for (const v of samples) if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
        node.peak = peak;
        delete params.memfd; // the descriptor is closed when this request ends
      } else if (args.type === "file_source") {
        const path = args.args.path;
        let f;
        try {
          f = await open(path, "r");
        } catch {
          throw new PortError("NOT_FOUND", `No audio file ${path}`, {
            data: { path: "/args/path" },
          });
        }
        try {
          const head = new Uint8Array(12);
          const { bytesRead } = await f.read(head, 0, 12, 0);
          const tag = (a: number, b: number) => new TextDecoder().decode(head.subarray(a, b));
          const known = bytesRead === 12 &&
            ((tag(0, 4) === "RIFF" && tag(8, 12) === "WAVE") || tag(0, 4) === "fLaC" ||
              tag(0, 4) === "OggS");
          if (!known) throw new PortError("BAD_FORMAT", `${path} is not a WAV, FLAC or Ogg file`);
        } finally {
          await f.close();
        }
      }
      if (ctx.signal.aborted) throw new PortError("CANCELLED", "The request was cancelled");
      node.id = nextId++;
      nodes.set(node.id, node);
      return node.framesRead !== undefined
        ? { id: node.id, frames_read: node.framesRead }
        : { id: node.id };
    },
    destroy_node({ id }) {
      const n = get(id);
      for (const i of n.inputs) nodes.get(i)?.outputs.delete(id);
      for (const o of n.outputs) nodes.get(o)?.inputs.delete(id);
      nodes.delete(id);
      return {};
    },
    connect({ from, to }) {
      const a = get(from), b = get(to);
      if (a.type === "device_sink") {
        throw new PortError("BAD_GRAPH", `Node ${from} is a device_sink: it has no output`);
      }
      if (SOURCES.has(b.type)) {
        throw new PortError("BAD_GRAPH", `Node ${to} is a ${b.type}: it has no input`);
      }
      if (a.outputs.has(to)) {
        throw new PortError("BAD_GRAPH", `Nodes ${from} and ${to} are already connected`);
      }
      if (from === to || reaches(to, from)) {
        throw new PortError("BAD_GRAPH", `Connecting ${from} → ${to} would form a cycle`);
      }
      a.outputs.add(to);
      b.inputs.add(from);
      return {};
    },
    disconnect({ from, to }) {
      const a = get(from);
      get(to);
      if (!a.outputs.has(to)) {
        throw new PortError("NOT_FOUND", `Nodes ${from} and ${to} are not connected`);
      }
      a.outputs.delete(to);
      nodes.get(to)!.inputs.delete(from);
      return {};
    },
    start() {
      if (!device) {
        throw new PortError("DEVICE_UNAVAILABLE", "No device is open (call device_open first)");
      }
      setState("running");
      return {};
    },
    stop() {
      setState("stopped");
      return {};
    },
  };

  return {
    handlers,
    attach(s) {
      server = s;
    },
    stop() {
      if (state === "running") setState("stopped");
      timers.clearAll();
    },
    node(id) {
      const n = nodes.get(id);
      return n
        ? {
          id: n.id,
          type: n.type,
          args: { ...n.args },
          inputs: [...n.inputs],
          outputs: [...n.outputs],
          framesRead: n.framesRead,
          peak: n.peak,
        }
        : undefined;
    },
    get state() {
      return state;
    },
  };
}
