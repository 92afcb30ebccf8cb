// Parses MCP messages with the TypeScript SDK's own zod schemas, as that SDK's client
// parses what a server sends (tests/e2e/test_protocol_versions.py).
//
//   node zod_check.mjs SDK_DIR '<json: [[schema name, value], ...]>'
//
// Prints one JSON object: the SDK version and, for each message that fails, its schema
// name and the zod issues.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [sdkDir, messagesJson] = process.argv.slice(2);
const sdk = join(sdkDir, "node_modules", "@modelcontextprotocol", "sdk");
const types = await import(pathToFileURL(join(sdk, "dist", "esm", "types.js")).href);
const version = JSON.parse(readFileSync(join(sdk, "package.json"), "utf8")).version;
const failures = [];
for (const [name, value] of JSON.parse(messagesJson)) {
  const parsed = types[name].safeParse(value);
  if (!parsed.success) failures.push({ schema: name, issues: parsed.error.issues });
}
console.log(JSON.stringify({ sdk: version, failures }));
