// Type-checked (tsc --noEmit, module/moduleResolution nodenext) in a scratch project that installed
// the packed @copperline/ports tarball: the package's types resolve by name through its exports
// map, and they are strict (each @ts-expect-error below must be an error, or tsc fails).
import {
  connect,
  type FdHandle,
  PortClient,
  PortError,
  RemoteError,
  type Subscription,
} from "@copperline/ports";
import { createMemfd, fdSize, nodeFfiPlatform, readFd } from "@copperline/ports/node";
import { CopperdClient, type IrqEvent, type LoadArgs } from "@copperline/ports/services/copperd";
import { type CopperdHandlers, CopperdServer } from "@copperline/ports/services/copperd/server";
import { ucs2length } from "@copperline/ports/validator-runtime";

export async function main(address: string): Promise<number> {
  const copperd: CopperdClient = await CopperdClient.connect(address, { timeout: 2000 });
  const program: LoadArgs = { program: { version: 1, program: [{ op: "WAIT", vsync: true }] } };
  const { id }: { id: number } = await copperd.load(program);
  await copperd.start({ id });
  // @ts-expect-error: start takes { id: number }
  await copperd.start({ id: "one" });
  // @ts-expect-error: no such command
  await copperd.launch({ id });
  const irqs = copperd.subscribe(["irq"], { tag: "tick" });
  for await (const ev of irqs) {
    if (ev.event === "irq") {
      const irq: IrqEvent = ev;
      return irq.prog;
    }
  }
  try {
    await copperd.stop({ id });
  } catch (e) {
    if (e instanceof RemoteError) return e.code.length + (e.cmd === "stop" ? 1 : 0);
    if (e instanceof PortError) return 1;
  }
  const port: PortClient = await connect(address, { platform: nodeFfiPlatform });
  await port.close();
  const fd: FdHandle = createMemfd("typed", 4);
  const size: number = fdSize(fd) + readFd(fd, 4).length + ucs2length("é");
  fd.close();
  return size;
}

export type AnySub = Subscription<unknown>;
export const handlersType = (h: CopperdHandlers) =>
  CopperdServer.serve(h, { address: "/tmp/x.sock" });
