// A plain ESM program of a scratch project that installed the packed @copperline/ports tarball:
// imports the package by name, talks to the simulated copperd and compositord (COPPERD_SOCKET,
// COMPOSITORD_SOCKET). Prints one line per step; exits 1 on any failure.
import { PortError, RemoteError } from "@copperline/ports";
import { createMemfd, writeFd } from "@copperline/ports/node";
import { CopperdClient } from "@copperline/ports/services/copperd";
import { CompositordClient } from "@copperline/ports/services/compositord";

const check = (cond, what) => {
  if (!cond) throw new Error(`check failed: ${what}`);
};

const copperd = await CopperdClient.connect(); // $COPPERD_SOCKET
const pong = await copperd.ping();
check(pong.name === "copperd" && pong.protocol === 0, JSON.stringify(pong));
console.log(`ping ${pong.name} ${pong.version}`);
const { id } = await copperd.load({
  program: {
    version: 1,
    program: [{ label: "top" }, { op: "WAIT", vsync: true }, { op: "IRQ", tag: "pkg" }, {
      op: "JUMP",
      label: "top",
    }],
  },
});
check(Number.isInteger(id) && id > 0, `load id ${id}`);
console.log(`load ${id}`);
const irqs = copperd.subscribe(["irq"], { tag: "pkg" });
await irqs.ready;
check((await copperd.start({ id })) !== undefined, "start");
console.log("start");
let n = 0;
for await (const ev of irqs) {
  check(ev.event === "irq" && ev.tag === "pkg" && ev.prog === id, JSON.stringify(ev));
  if (++n === 2) break;
}
console.log(`irq ${n}`);
await copperd.stop({ id });
try {
  await copperd.start({ id: 99999 });
  check(false, "start 99999 succeeded");
} catch (e) {
  check(e instanceof RemoteError && e instanceof PortError && e.code === "NOT_FOUND", String(e));
  console.log(`error ${e.code}`);
}
await copperd.close();

// A descriptor through the installed koffi (SCM_RIGHTS).
const comp = await CompositordClient.connect(); // $COMPOSITORD_SOCKET
const layer = await comp.createLayer();
const pixels = new Uint8Array(8 * 8 * 4).fill(7);
const buf = createMemfd("pkg-sprite", pixels.length);
writeFd(buf, pixels, 0);
const bound = await comp.bindDmabuf({
  id: layer.id,
  fd: buf,
  w: 8,
  h: 8,
  format: "RGBA8",
  stride: 32,
});
buf.close();
check(bound.bytes === pixels.length, JSON.stringify(bound));
console.log(`bind_dmabuf ${bound.bytes}`);
await comp.close();
console.log("done");
