// Validates the OpenAPI document on stdin; exits 0 when valid, 1 with the errors otherwise.
// Usage: node validate.js < openapi.json  (run from a directory where `npm ci` was done)
import { Validator } from "@seriousme/openapi-schema-validator";

let text = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) text += chunk;

const validator = new Validator();
const res = await validator.validate(JSON.parse(text));
if (!res.valid) {
  console.error(JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
console.log("valid OpenAPI " + validator.version);
