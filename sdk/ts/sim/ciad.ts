/**
 * Simulated ciad (mcu-cia board): a monotonic board clock that set_rtc steps or slews, two
 * hardware timers emitting `timer` (one-shot or periodic, drift-free), GPIO pins with modes
 * (inputs float low, pull-ups read high and raise a `gpio` edge), a MIDI output that goes
 * nowhere, and an I²C bus with a 24C02-style EEPROM at 0x50.
 *
 * @module
 */

import { PortError } from "../mod.ts";
import type { CiadHandlers, CiadServer } from "../services/ciad_server.ts";
import { monotonicUsec, type Sim, type SimOptions, Timers } from "./common.ts";

/** Options of the ciad sim. */
export interface CiadSimOptions extends SimOptions {
  /** Number of GPIO pins the board has (0 … n-1; others → BAD_ARG). Default 32. */
  pins?: number;
  /** I²C address of the EEPROM (256 bytes, erased to 0xFF). Default 0x50. */
  eepromAddr?: number;
  /** Most timer events emitted per wake-up when a short period falls behind. Default 64. */
  maxCatchUp?: number;
  /** Slew rate of set_rtc while timers run, in µs per second. Default 500 (500 ppm). */
  slewPpm?: number;
}

type PinMode = "in" | "in_pullup" | "out";

/** The ciad sim. */
export interface CiadSim extends Sim<CiadHandlers, CiadServer> {
  /** Board time in microseconds. */
  now(): number;
  /** MIDI messages sent with midi_out, oldest first (the sim keeps the last 256). */
  readonly midiSent: readonly number[][];
  /** Drives an input pin from "outside" (tests): emits a `gpio` edge when the level changes. */
  setInput(pin: number, level: 0 | 1): void;
}

interface HwTimer {
  handle?: ReturnType<typeof setTimeout>;
  us: number;
  period: boolean;
  /** Board time of the next expiry. */
  due: number;
}

/** Creates a simulated ciad. */
export function createCiadSim(options: CiadSimOptions = {}): CiadSim {
  const host = options.clock ?? monotonicUsec;
  const pinCount = options.pins ?? 32;
  const eepromAddr = options.eepromAddr ?? 0x50;
  const maxCatchUp = options.maxCatchUp ?? 64;
  const slew = (options.slewPpm ?? 500) / 1e6;
  const timers = new Timers();
  const hw: (HwTimer | undefined)[] = [undefined, undefined];
  const modes: PinMode[] = Array.from({ length: pinCount }, () => "in");
  const outLevel: (0 | 1)[] = Array.from({ length: pinCount }, () => 0);
  const external: (0 | 1 | undefined)[] = Array.from({ length: pinCount }, () => undefined);
  const eeprom = new Uint8Array(256).fill(0xff);
  let eepromPtr = 0;
  const midiSent: number[][] = [];
  let server: CiadServer | undefined;

  // Board time = host time + offset; while slewing, the offset moves towards its target.
  let offset = 0;
  let slewTarget: number | undefined;
  let slewFrom = 0;
  let slewStartHost = 0;

  const currentOffset = (h: number): number => {
    if (slewTarget === undefined) return offset;
    const moved = (h - slewStartHost) * slew;
    const delta = slewTarget - slewFrom;
    if (moved >= Math.abs(delta)) {
      offset = slewTarget;
      slewTarget = undefined;
      return offset;
    }
    return slewFrom + Math.sign(delta) * moved;
  };
  const now = (): number => {
    const h = host();
    return Math.max(0, Math.floor(h + currentOffset(h)));
  };

  const level = (pin: number): 0 | 1 => {
    if (modes[pin] === "out") return outLevel[pin];
    return external[pin] ?? (modes[pin] === "in_pullup" ? 1 : 0);
  };

  /** Runs `change`, emitting a `gpio` edge if an input pin's level changed. */
  const watch = (pin: number, change: () => void) => {
    const wasInput = modes[pin] !== "out";
    const before = level(pin);
    change();
    const after = level(pin);
    if (wasInput && modes[pin] !== "out" && before !== after) {
      server?.emit("gpio", { pin, edge: after ? "rising" : "falling", time_us: now() });
    }
  };

  const checkPin = (pin: number) => {
    if (pin >= pinCount) {
      throw new PortError("BAD_ARG", `args/pin: the board has pins 0–${pinCount - 1}, not ${pin}`, {
        data: { path: "/pin" },
      });
    }
  };

  const disarm = (id: number) => {
    const t = hw[id];
    if (t) timers.clear(t.handle);
    hw[id] = undefined;
  };

  const schedule = (id: number, t: HwTimer) => {
    t.handle = timers.timeout(() => fire(id, t), Math.max(0, (t.due - now()) / 1000));
  };

  const fire = (id: number, t: HwTimer) => {
    if (hw[id] !== t) return;
    const current = now();
    let n = 0;
    while (t.due <= current && n < maxCatchUp) {
      server?.emit("timer", { id, time_us: t.due });
      n++;
      if (!t.period) {
        hw[id] = undefined;
        return;
      }
      t.due += t.us;
    }
    // Still behind after maxCatchUp expiries: skip the missed ones (the board would coalesce them).
    if (t.due <= current) t.due += Math.ceil((current - t.due + 1) / t.us) * t.us;
    schedule(id, t);
  };

  const handlers: CiadHandlers = {
    time_us() {
      return { time_us: now() };
    },
    timer_set({ id, us, period }) {
      disarm(id);
      const t: HwTimer = { us, period: period ?? false, due: now() + us };
      hw[id] = t;
      schedule(id, t);
      return {};
    },
    timer_stop({ id }) {
      disarm(id);
      return {};
    },
    gpio_write({ pin, value }) {
      checkPin(pin);
      if (modes[pin] !== "out") {
        throw new PortError(
          "BAD_PIN_MODE",
          `Pin ${pin} is an input (${modes[pin]}); set it to out with gpio_mode first`,
        );
      }
      outLevel[pin] = value as 0 | 1;
      return {};
    },
    gpio_read({ pin }) {
      checkPin(pin);
      return { value: level(pin) };
    },
    gpio_mode({ pin, mode }) {
      checkPin(pin);
      watch(pin, () => {
        if (mode === "out" && modes[pin] !== "out") outLevel[pin] = level(pin);
        modes[pin] = mode;
      });
      return {};
    },
    midi_out({ data }) {
      if (data[0] < 0x80) {
        throw new PortError(
          "BAD_ARG",
          `args/data/0: the first byte must be a status byte (0x80–0xFF), not ${data[0]}`,
          {
            data: { path: "/data/0" },
          },
        );
      }
      for (let i = 1; i < data.length; i++) {
        if (data[i] >= 0x80) {
          throw new PortError(
            "BAD_ARG",
            `args/data/${i}: data bytes must be below 0x80, not ${data[i]}`,
            {
              data: { path: `/data/${i}` },
            },
          );
        }
      }
      midiSent.push([...data]);
      if (midiSent.length > 256) midiSent.shift();
      return {};
    },
    i2c_xfer({ addr, tx, rx }) {
      if (addr !== eepromAddr) {
        throw new PortError(
          "I2C_NACK",
          `No device acknowledged address 0x${addr.toString(16).padStart(2, "0")}`,
        );
      }
      const out = tx ?? [];
      if (out.length > 0) {
        eepromPtr = out[0];
        for (const b of out.slice(1)) {
          eeprom[eepromPtr] = b;
          eepromPtr = (eepromPtr + 1) & 0xff;
        }
      }
      const got: number[] = [];
      for (let i = 0; i < (rx ?? 0); i++) {
        got.push(eeprom[eepromPtr]);
        eepromPtr = (eepromPtr + 1) & 0xff;
      }
      return { rx: got };
    },
    set_rtc({ time_us }) {
      const h = host();
      const target = time_us - h;
      if (hw.some((t) => t !== undefined)) {
        slewFrom = currentOffset(h);
        slewTarget = target;
        slewStartHost = h;
      } else {
        offset = target;
        slewTarget = undefined;
      }
      return {};
    },
  };

  return {
    handlers,
    attach(s) {
      server = s;
    },
    stop() {
      disarm(0);
      disarm(1);
      timers.clearAll();
    },
    now,
    midiSent,
    setInput(pin, value) {
      checkPin(pin);
      watch(pin, () => (external[pin] = value));
    },
  };
}
