/**
 * Simulated copperd: loads and validates Copper programs, runs them on a 60 Hz virtual vsync
 * clock (WAIT vsync / WAIT us, MOVE/ADD on a register file, IRQ, LOOP, JUMP, FENCE on a
 * frame-counter timeline), emits `irq`, `state` and `vsync`.
 *
 * @module
 */

import { PortError } from "../mod.ts";
import type { Op, ProgramState, StatusResult } from "../services/copperd.ts";
import type { CopperdHandlers, CopperdServer } from "../services/copperd_server.ts";
import {
  FrameClock,
  monotonicUsec,
  notFound,
  type Sim,
  type SimOptions,
  Timers,
} from "./common.ts";

/** Options of the copperd sim. */
export interface CopperdSimOptions extends SimOptions {
  /** Vsync rate in Hz. Default 60. */
  hz?: number;
  /** Ops a program may execute without waiting before it halts with `WATCHDOG`. Default 10,000. */
  watchdogOps?: number;
  /**
   * Number of fence timelines (FENCE on another one is BAD_PROGRAM). Default 1. In the sim a
   * timeline's value is the vsync frame counter.
   */
  fenceTimelines?: number;
  /** Called for every register write (to forward MOVE/ADD to a compositord). */
  onRegisterWrite?: (reg: string, value: number | boolean | string) => void;
}

/** The copperd sim: the common shape plus a view of the register file. */
export interface CopperdSim extends Sim<CopperdHandlers, CopperdServer> {
  /** Current register values (`layer[1].x` → 104). */
  registers(): Record<string, number | boolean | string>;
}

type RegValue = number | boolean | string;

interface Program {
  id: number;
  ops: Op[];
  labels: Map<string, number>;
  state: ProgramState;
  pc?: number;
  startFrame?: number;
  endFrame?: number;
  code?: string;
  loops: Map<number, number>;
  waitFrame?: number;
  waitFence?: { timeline: number; value: number };
  waitTimer?: ReturnType<typeof setTimeout>;
  runTimer?: ReturnType<typeof setTimeout>;
}

const REG_RE = /^layer\[([0-9]+)\]\.(x|y|alpha|z|visible|scale_x|scale_y|rotation|blend)$/;
const BLEND = new Set(["normal", "add", "mul", "screen"]);

function registerKind(reg: string): "number" | "boolean" | "blend" | undefined {
  const m = REG_RE.exec(reg);
  if (!m) return undefined;
  if (m[2] === "visible") return "boolean";
  if (m[2] === "blend") return "blend";
  return "number";
}

function defaultValue(reg: string): RegValue {
  const field = REG_RE.exec(reg)?.[2];
  switch (field) {
    case "alpha":
    case "scale_x":
    case "scale_y":
      return 1;
    case "visible":
      return false;
    case "blend":
      return "normal";
    default:
      return 0;
  }
}

function badProgram(index: number, message: string): PortError {
  return new PortError("BAD_PROGRAM", `program/${index}: ${message}`, {
    data: { path: `/program/program/${index}` },
  });
}

/** Checks what the schema cannot: labels, register types, fence timelines. */
function validate(ops: Op[], fenceTimelines: number): Map<string, number> {
  const labels = new Map<string, number>();
  ops.forEach((op, i) => {
    if (!("op" in op)) {
      if (labels.has(op.label)) throw badProgram(i, `duplicate label "${op.label}"`);
      labels.set(op.label, i);
    }
  });
  ops.forEach((op, i) => {
    if (!("op" in op)) return;
    switch (op.op) {
      case "LOOP":
      case "JUMP":
        if (!labels.has(op.label)) {
          const known = [...labels.keys()];
          throw badProgram(
            i,
            `${op.op} to unknown label "${op.label}"${
              known.length ? ` (labels: ${known.join(", ")})` : " (the program has no labels)"
            }`,
          );
        }
        break;
      case "MOVE": {
        const kind = registerKind(op.reg);
        if (kind === undefined) throw badProgram(i, `unknown register "${op.reg}"`);
        const v = op.value;
        const ok = kind === "number"
          ? typeof v === "number"
          : kind === "boolean"
          ? typeof v === "boolean"
          : typeof v === "string" && BLEND.has(v);
        if (!ok) {
          throw badProgram(
            i,
            `${op.reg} takes a ${kind === "blend" ? "blend mode" : kind}, not ${JSON.stringify(v)}`,
          );
        }
        break;
      }
      case "ADD": {
        const kind = registerKind(op.reg);
        if (kind === undefined) throw badProgram(i, `unknown register "${op.reg}"`);
        if (kind !== "number") throw badProgram(i, `ADD on non-numeric register ${op.reg}`);
        break;
      }
      case "FENCE":
        if (op.timeline >= fenceTimelines) {
          throw badProgram(
            i,
            `fence timeline ${op.timeline} does not exist (timelines: 0–${fenceTimelines - 1})`,
          );
        }
        break;
    }
  });
  return labels;
}

/**
 * Creates a simulated copperd.
 *
 * @example
 * ```ts ignore
 * const sim = createCopperdSim();
 * const server = await CopperdServer.serve(sim.handlers, { address: "/tmp/copperd.sock" });
 * sim.attach(server);
 * // ...
 * sim.stop();
 * await server.close();
 * ```
 */
export function createCopperdSim(options: CopperdSimOptions = {}): CopperdSim {
  const clock = options.clock ?? monotonicUsec;
  const watchdog = options.watchdogOps ?? 10_000;
  const fenceTimelines = options.fenceTimelines ?? 1;
  const timers = new Timers();
  const programs = new Map<number, Program>();
  const regs = new Map<string, RegValue>();
  let nextId = 1;
  let server: CopperdServer | undefined;
  let stopped = false;

  const anyRunning = () => {
    for (const p of programs.values()) if (p.state === "running") return true;
    return false;
  };

  const vsync = new FrameClock(
    timers,
    clock,
    options.hz ?? 60,
    (frame, usec) => {
      if (server?.hasSubscribers("vsync")) server.emit("vsync", { usec, frame });
      for (const p of programs.values()) {
        if (p.state !== "running") continue;
        if (p.waitFrame !== undefined && frame >= p.waitFrame) {
          p.waitFrame = undefined;
          run(p);
        } else if (p.waitFence !== undefined && frame >= p.waitFence.value) {
          p.waitFence = undefined;
          run(p);
        }
      }
    },
    () => anyRunning() || (server?.hasSubscribers("vsync") ?? false),
  );

  const setState = (p: Program, state: ProgramState, code?: string) => {
    p.state = state;
    p.code = code;
    if (state !== "running") {
      p.endFrame = vsync.frame();
      timers.clear(p.waitTimer);
      timers.clear(p.runTimer);
      p.waitTimer = p.runTimer = undefined;
      p.waitFrame = undefined;
      p.waitFence = undefined;
    }
    server?.emit("state", code ? { prog: p.id, state, code } : { prog: p.id, state });
  };

  const write = (reg: string, value: RegValue) => {
    regs.set(reg, value);
    options.onRegisterWrite?.(reg, value);
  };

  /** Executes ops until the program waits, ends, or trips the watchdog. */
  const run = (p: Program) => {
    let budget = watchdog;
    while (p.state === "running") {
      const pc = p.pc ?? 0;
      if (pc >= p.ops.length) {
        setState(p, "stopped");
        return;
      }
      if (budget-- <= 0) {
        setState(p, "error", "WATCHDOG");
        return;
      }
      const op = p.ops[pc];
      p.pc = pc + 1;
      if (!("op" in op)) continue;
      switch (op.op) {
        case "WAIT":
          if ("vsync" in op) {
            p.waitFrame = vsync.frame() + (op.count ?? 1);
            vsync.kick();
          } else {
            p.waitTimer = timers.timeout(() => {
              p.waitTimer = undefined;
              if (p.state === "running") run(p);
            }, op.us / 1000);
          }
          return;
        case "MOVE":
          write(op.reg, op.value);
          break;
        case "ADD": {
          const cur = regs.get(op.reg) ?? defaultValue(op.reg);
          write(op.reg, (cur as number) + op.delta);
          break;
        }
        case "IRQ":
          server?.emit("irq", { tag: op.tag, prog: p.id, usec: clock() });
          break;
        case "LOOP": {
          if (op.count === -1) {
            p.pc = p.labels.get(op.label)!;
            break;
          }
          const left = p.loops.get(pc) ?? op.count;
          if (left > 0) {
            p.loops.set(pc, left - 1);
            p.pc = p.labels.get(op.label)!;
          } else {
            p.loops.delete(pc); // re-arms for the next time the loop is entered
          }
          break;
        }
        case "JUMP":
          p.pc = p.labels.get(op.label)!;
          break;
        case "FENCE":
          if (vsync.frame() < op.value) {
            p.waitFence = { timeline: op.timeline, value: op.value };
            vsync.kick();
            return;
          }
          break;
      }
    }
  };

  const get = (id: number): Program => {
    const p = programs.get(id);
    if (!p) throw notFound("program", id);
    return p;
  };

  const handlers: CopperdHandlers = {
    load({ program }) {
      if (stopped) throw new PortError("BUSY", "copperd is shutting down");
      const ops = program.program as Op[];
      const labels = validate(ops, fenceTimelines);
      const id = nextId++;
      programs.set(id, { id, ops, labels, state: "stopped", loops: new Map() });
      return { id };
    },
    start({ id }) {
      const p = get(id);
      if (p.state === "running") return {};
      p.pc = 0;
      p.startFrame = vsync.frame();
      p.loops.clear();
      setState(p, "running");
      // Run after the response is on its way, on the timeline rather than inside the request.
      p.runTimer = timers.timeout(() => {
        p.runTimer = undefined;
        if (p.state === "running") run(p);
      }, 0);
      vsync.kick();
      return {};
    },
    stop({ id }) {
      const p = get(id);
      if (p.state === "running") setState(p, "stopped");
      return {};
    },
    unload({ id }) {
      const p = get(id);
      if (p.state === "running") setState(p, "stopped");
      programs.delete(id);
      return {};
    },
    list() {
      return { programs: [...programs.values()].map((p) => ({ id: p.id, state: p.state })) };
    },
    status({ id }) {
      const p = get(id);
      const out: StatusResult = { id, state: p.state };
      if (p.pc !== undefined) {
        out.pc = p.pc;
        const now = p.state === "running" ? vsync.frame() : p.endFrame ?? vsync.frame();
        out.frame = Math.max(0, now - (p.startFrame ?? 0));
      }
      if (p.code) out.code = p.code;
      return out;
    },
  };

  vsync.start();

  return {
    handlers,
    attach(s) {
      server = s;
      vsync.kick();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      for (const p of programs.values()) if (p.state === "running") setState(p, "stopped");
      vsync.stop();
      timers.clearAll();
    },
    registers() {
      return Object.fromEntries(regs);
    },
  };
}
