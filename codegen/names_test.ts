import assert from "node:assert/strict";
import { camel, cName, pascal, tsKey, upperSnake } from "./names.ts";

Deno.test("names are mechanical", () => {
  assert.equal(pascal("create_layer"), "CreateLayer");
  assert.equal(pascal("compat-uae"), "CompatUae");
  assert.equal(pascal("i2c_xfer"), "I2CXfer");
  assert.equal(camel("create_layer"), "createLayer");
  assert.equal(camel("delete"), "delete_");
  assert.equal(cName("compat-uae"), "compat_uae");
  assert.equal(cName("default"), "default_");
  assert.equal(upperSnake("compat-uae"), "COMPAT_UAE");
  assert.equal(tsKey("layer[1].x"), '"layer[1].x"');
  assert.equal(tsKey("ok"), "ok");
});
