/**
 * Simulated blitterd: rect_fill, rect_copy, convert and batch really draw into their surfaces
 * (DMABUF descriptors through `writeFd`, debug files through the file system), each request is a
 * job whose `complete` (or `error`) event follows 0–2 ms later.
 *
 * @module
 */

import { open } from "node:fs/promises";
import { PortError } from "../mod.ts";
import type { BatchOp, Color, PixelFormat, Point, Rect, Surface } from "../services/blitterd.ts";
import type { BlitterdHandlers, BlitterdServer } from "../services/blitterd_server.ts";
import { type FdIo, fdIoFor, monotonicUsec, type Sim, type SimOptions, Timers } from "./common.ts";

/** Options of the blitterd sim. */
export interface BlitterdSimOptions extends SimOptions {
  /** Allow file (`path`) surfaces, as `BLITTERD_DEBUG_FILES=1` does. Default true. */
  debugFiles?: boolean;
  /** Delay before a job's event, in ms: a function or a fixed number. Default 0–2 ms at random. */
  delayMs?: number | (() => number);
  /** Most jobs whose event is still pending (more → BUSY). Default 256. */
  maxPendingJobs?: number;
}

/** The blitterd sim. */
export interface BlitterdSim extends Sim<BlitterdHandlers, BlitterdServer> {
  /** Jobs accepted so far. */
  readonly jobs: number;
}

/** A job failure that is reported through the `error` event, not the response. */
class JobFailure extends Error {}

/** Pixel access to one surface: the whole h × stride area, loaded and written back. */
interface Pixels {
  surface: Surface;
  load(): Promise<Uint8Array>;
  store(bytes: Uint8Array, fromRow: number, toRow: number): Promise<void>;
}

function where(path: string, message: string): PortError {
  return new PortError("BAD_FORMAT", `args${path}: ${message}`, { data: { path } });
}

function isFd(s: Surface): s is Extract<Surface, { fd: unknown }> {
  return "fd" in s;
}

/** Bytes of one pixel of `color` in `format`. */
function pixel(color: Color, format: PixelFormat): number[] {
  return format === "RGBA8"
    ? [color.r, color.g, color.b, color.a]
    : [color.b, color.g, color.r, color.a];
}

/** Clips `rect` to a w × h surface; undefined when nothing is left. */
function clip(
  r: Rect,
  w: number,
  h: number,
): { x0: number; y0: number; x1: number; y1: number } | undefined {
  const x0 = Math.max(0, r.x), y0 = Math.max(0, r.y);
  const x1 = Math.min(w, r.x + r.w), y1 = Math.min(h, r.y + r.h);
  return x1 > x0 && y1 > y0 ? { x0, y0, x1, y1 } : undefined;
}

/** Creates a simulated blitterd. */
export function createBlitterdSim(options: BlitterdSimOptions = {}): BlitterdSim {
  const clock = options.clock ?? monotonicUsec;
  const debugFiles = options.debugFiles ?? true;
  const maxPending = options.maxPendingJobs ?? 256;
  const timers = new Timers();
  let server: BlitterdServer | undefined;
  let nextJob = 1;
  let pendingJobs = 0;

  const delay = (): number => {
    const d = options.delayMs;
    if (typeof d === "number") return d;
    if (typeof d === "function") return d();
    return Math.random() * 2;
  };

  /** Checks a surface's description; resolves how to reach its pixels. */
  const prepare = (s: Surface, path: string, io: FdIo | undefined): Pixels => {
    if (s.stride < s.w * 4) {
      throw where(path + "/stride", `stride ${s.stride} is below w × 4 = ${s.w * 4}`);
    }
    const need = s.h * s.stride;
    if (isFd(s)) {
      if (s.modifier !== undefined && s.modifier !== "LINEAR" && !/^0x0+$/.test(s.modifier)) {
        throw where(
          path + "/modifier",
          `unsupported modifier ${s.modifier} (the sim handles LINEAR only)`,
        );
      }
      const fd = s.fd;
      let size: number;
      try {
        size = io!.fdSize(fd);
      } catch (error) {
        throw new PortError("BAD_FD", `args${path}/fd: ${(error as Error).message}`, {
          data: { path: path + "/fd" },
        });
      }
      if (size < need) {
        throw where(path + "/fd", `buffer holds ${size} bytes, h × stride needs ${need}`);
      }
      return {
        surface: s,
        load: () => Promise.resolve(io!.readFd(fd, need, 0)),
        store: (bytes, from, to) => {
          if (!io!.writeFd) throw new JobFailure("This runtime's descriptor I/O cannot write");
          io!.writeFd(fd, bytes.subarray(from * s.stride, to * s.stride), from * s.stride);
          return Promise.resolve();
        },
      };
    }
    if (!debugFiles) {
      throw new PortError("DENIED", `args${path}: file surfaces need BLITTERD_DEBUG_FILES=1`, {
        data: { path },
      });
    }
    const file = s.path;
    return {
      surface: s,
      async load() {
        let f;
        try {
          f = await open(file, "r");
        } catch {
          throw new JobFailure(`args${path}/path: cannot open ${file}`);
        }
        try {
          const { size } = await f.stat();
          if (size < need) {
            throw new JobFailure(
              `args${path}/path: ${file} holds ${size} bytes, h × stride needs ${need}`,
            );
          }
          const out = new Uint8Array(need);
          await f.read(out, 0, need, 0);
          return out;
        } finally {
          await f.close();
        }
      },
      async store(bytes, from, to) {
        let f;
        try {
          f = await open(file, "r+");
        } catch {
          throw new JobFailure(`args${path}/path: cannot write ${file}`);
        }
        try {
          await f.write(bytes, from * s.stride, (to - from) * s.stride, from * s.stride);
        } finally {
          await f.close();
        }
      },
    };
  };

  const fill = async (dst: Pixels, rect: Rect, color: Color) => {
    const s = dst.surface;
    const c = clip(rect, s.w, s.h);
    if (!c) return;
    const buf = await dst.load();
    const px = pixel(color, s.format);
    for (let y = c.y0; y < c.y1; y++) {
      for (let x = c.x0, o = y * s.stride + c.x0 * 4; x < c.x1; x++, o += 4) {
        buf[o] = px[0], buf[o + 1] = px[1], buf[o + 2] = px[2], buf[o + 3] = px[3];
      }
    }
    await dst.store(buf, c.y0, c.y1);
  };

  const copy = async (src: Pixels, dst: Pixels, srcRect: Rect, at: Point) => {
    const a = src.surface, b = dst.surface;
    const sc = clip(srcRect, a.w, a.h);
    if (!sc) return;
    // Shift the clipped source rectangle to the destination and clip again.
    const dx0 = at.x + (sc.x0 - srcRect.x), dy0 = at.y + (sc.y0 - srcRect.y);
    const dc = clip({ x: dx0, y: dy0, w: sc.x1 - sc.x0, h: sc.y1 - sc.y0 }, b.w, b.h);
    if (!dc) return;
    const from = await src.load();
    const to = src === dst ? from.slice() : await dst.load();
    const swap = a.format !== b.format;
    for (let y = dc.y0; y < dc.y1; y++) {
      const sy = sc.y0 + (y - dy0);
      for (let x = dc.x0; x < dc.x1; x++) {
        const sx = sc.x0 + (x - dx0);
        const i = sy * a.stride + sx * 4, o = y * b.stride + x * 4;
        to[o] = from[swap ? i + 2 : i];
        to[o + 1] = from[i + 1];
        to[o + 2] = from[swap ? i : i + 2];
        to[o + 3] = from[i + 3];
      }
    }
    await dst.store(to, dc.y0, dc.y1);
  };

  const checkConvert = (src: Surface, dst: Surface, path: string) => {
    if (src.w !== dst.w || src.h !== dst.h) {
      throw new PortError(
        "BAD_ARG",
        `args${path}: convert needs equal sizes, src is ${src.w}x${src.h} and dst ${dst.w}x${dst.h}`,
        { data: { path: path + "/dst" } },
      );
    }
  };

  /** Accepts a job: work runs now (descriptors are only valid during the request), the event follows. */
  const job = async (steps: BatchOp[], prefix: (i: number) => string): Promise<{ job: number }> => {
    if (pendingJobs >= maxPending) {
      throw new PortError("BUSY", `Too many jobs in flight (limit ${maxPending})`);
    }
    const needsFd = steps.some((op) =>
      ("dst" in op && isFd(op.dst)) || ("src" in op && isFd(op.src))
    );
    const io = needsFd ? await fdIoFor(options) : undefined;
    // Validate every step before anything runs: bad layouts are answered, not reported as events.
    const prepared = steps.map((op, i) => {
      const p = prefix(i);
      if (op.op === "convert") checkConvert(op.src, op.dst, p);
      return {
        op,
        src: "src" in op ? prepare(op.src, p + "/src", io) : undefined,
        dst: prepare(op.dst, p + "/dst", io),
      };
    });
    const id = nextJob++;
    const started = clock();
    let failure: string | undefined;
    for (let i = 0; i < prepared.length && failure === undefined; i++) {
      const { op, src, dst } = prepared[i];
      try {
        if (op.op === "rect_fill") await fill(dst, op.rect, op.color);
        else if (op.op === "rect_copy") await copy(src!, dst, op.src_rect, op.dst_xy);
        else await copy(src!, dst, { x: 0, y: 0, w: op.src.w, h: op.src.h }, { x: 0, y: 0 });
      } catch (error) {
        if (error instanceof JobFailure) failure = error.message;
        else failure = `args${prefix(i)}: ${(error as Error).message}`;
      }
    }
    pendingJobs++;
    timers.timeout(() => {
      pendingJobs--;
      if (failure !== undefined) server?.emit("error", { job: id, message: failure });
      else server?.emit("complete", { job: id, usec: Math.max(0, Math.round(clock() - started)) });
    }, delay());
    return { job: id };
  };

  const handlers: BlitterdHandlers = {
    rect_fill: (args) => job([{ op: "rect_fill", ...args }], () => ""),
    rect_copy: (args) => job([{ op: "rect_copy", ...args }], () => ""),
    convert: (args) => job([{ op: "convert", ...args }], () => ""),
    batch: ({ ops }) => job(ops, (i) => `/ops/${i}`),
  };

  return {
    handlers,
    attach(s) {
      server = s;
    },
    stop() {
      timers.clearAll();
      pendingJobs = 0;
    },
    get jobs() {
      return nextJob - 1;
    },
  };
}
