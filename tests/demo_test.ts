// The README's demo command must keep working: run it as a user would and check its verdict.
import assert from "node:assert/strict";

Deno.test("the main demo runs against simulated services and exits 0", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../examples/deno/demo.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text + new TextDecoder().decode(out.stderr));
  assert.match(text, /demo: ok/);
  assert.match(text, /event \{"event":"irq","sub":\d+,"tag":"tick"/);
  assert.match(text, /bind_dmabuf → .*"checksum":"([0-9a-f]{8})".*\(local checksum \1\)/);
});
