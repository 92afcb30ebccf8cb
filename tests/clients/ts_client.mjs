// A video generated through the TypeScript MCP SDK 1.x client (run by
// tests/e2e/test_real_clients.py with node, against the SDK installed in SDK_DIR).
//
//   node ts_client.mjs SDK_DIR stdio '<json: command, args, env, cwd>' '<json: tool arguments>'
//   node ts_client.mjs SDK_DIR http  '<json: url, token>'               '<json: tool arguments>'
//
// The SDK parses every answer with its own zod schemas (initialize, tools/list, the call's
// result, each progress notification): a block or field its protocol version does not know
// makes it throw, as it would in an IDE. Prints one JSON object: the negotiated version,
// the tool names, the result and the progress it reported.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [sdkDir, transportKind, targetJson, argumentsJson] = process.argv.slice(2);
const sdk = join(sdkDir, "node_modules", "@modelcontextprotocol", "sdk");
const load = (path) => import(pathToFileURL(join(sdk, "dist", "esm", path)).href);
const { Client } = await load("client/index.js");
const { CallToolResultSchema } = await load("types.js");
const sdkVersion = JSON.parse(readFileSync(join(sdk, "package.json"), "utf8")).version;
const target = JSON.parse(targetJson);

let inner;
if (transportKind === "stdio") {
  const { StdioClientTransport } = await load("client/stdio.js");
  inner = new StdioClientTransport({ ...target, stderr: "inherit" });
} else {
  const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
  inner = new StreamableHTTPClientTransport(new URL(target.url), {
    requestInit: { headers: { Authorization: `Bearer ${target.token}` } },
  });
}

// The same transport, recording what the server answered to `initialize`.
let protocolVersion = null;
const transport = {
  start: () => inner.start(),
  send: (message, options) => inner.send(message, options),
  close: () => inner.close(),
  get sessionId() { return inner.sessionId; },
  setProtocolVersion: (v) => inner.setProtocolVersion?.(v),
  get onclose() { return inner.onclose; },
  set onclose(f) { inner.onclose = f; },
  get onerror() { return inner.onerror; },
  set onerror(f) { inner.onerror = f; },
  get onmessage() { return inner.onmessage; },
  set onmessage(f) {
    inner.onmessage = (message, extra) => {
      if (message?.result?.protocolVersion) protocolVersion = message.result.protocolVersion;
      f(message, extra);
    };
  },
};

const client = new Client({ name: "ts-sdk-compat-test", version: "1.0.0" }, { capabilities: {} });
await client.connect(transport);
const tools = await client.listTools();
const progress = [];
const result = await client.callTool(
  { name: "atlas_generate_video", arguments: JSON.parse(argumentsJson) },
  CallToolResultSchema,
  {
    onprogress: (p) => progress.push([p.progress, p.total ?? null, p.message ?? null]),
    timeout: 120000,
    resetTimeoutOnProgress: true,
  },
);
await client.close();
console.log(JSON.stringify({
  sdk: sdkVersion,
  protocolVersion,
  tools: tools.tools.map((t) => t.name),
  result,
  progress,
}));
