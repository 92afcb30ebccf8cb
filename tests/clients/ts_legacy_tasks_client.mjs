// A generate call as a 2025-11-25 task (the protocol's experimental task augmentation:
// `params.task`, `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`) through the
// TypeScript MCP SDK 1.x client's own tasks API, `client.experimental.tasks` (run by
// tests/e2e/test_tasks_clients.py with node, against the SDK installed in SDK_DIR).
//
//   node ts_legacy_tasks_client.mjs SDK_DIR stdio '<json: command, args, env, cwd>' '<json: scenario>'
//   node ts_legacy_tasks_client.mjs SDK_DIR http  '<json: url, token>'               '<json: scenario>'
//
// scenario: { tool, arguments, action, approve?, noTasks? } (noTasks: the client does not
// declare the tasks capability) where action is
//   "settle"    callToolStream with a task, to its result (a cost question answered
//               with `approve` when given), then tasks/list;
//   "blocking"  the plain callTool (no task);
//   "cancel"    callToolStream, tasks/cancel once the task is created, tasks/get after;
//   "create"    callToolStream until the task is created (not followed);
//   "fetch"     tasks/get and tasks/result of `taskId` (maybe made by another process),
//               then tasks/list.
// Every message on the wire is kept (the test checks the task ones against the
// 2025-11-25 schema). Prints one JSON object.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [sdkDir, transportKind, targetJson, scenarioJson] = process.argv.slice(2);
const sdk = join(sdkDir, "node_modules", "@modelcontextprotocol", "sdk");
const load = (path) => import(pathToFileURL(join(sdk, "dist", "esm", path)).href);
const { Client } = await load("client/index.js");
const { ElicitRequestSchema, CallToolResultSchema } = await load("types.js");
const scenario = JSON.parse(scenarioJson);
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

const wire = [];
const transport = {
  start: () => inner.start(),
  send: (message, options) => {
    wire.push({ direction: "out", message });
    return inner.send(message, options);
  },
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
      wire.push({ direction: "in", message });
      f(message, extra);
    };
  },
};

const capabilities = { elicitation: { form: {} }, tasks: { list: {}, cancel: {} } };
if (scenario.noTasks) delete capabilities.tasks;
const client = new Client({ name: "ts-sdk-tasks-2025", version: "1.0.0" }, { capabilities });
const asked = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  asked.push(request.params);
  if (scenario.approve === undefined) throw new Error("unexpected elicitation");
  return scenario.approve ? { action: "accept", content: { approve: true } } : { action: "decline" };
});
await client.connect(transport);
const out = { asked, statuses: [] };
out.capabilities = client.getServerCapabilities();
out.tools = (await client.listTools()).tools;
const call = { name: scenario.tool, arguments: scenario.arguments };

try {
  if (scenario.action === "blocking") {
    out.result = await client.callTool(call);
  } else if (scenario.action === "fetch") {
    out.got = await client.experimental.tasks.getTask(scenario.taskId);
    out.result = await client.experimental.tasks.getTaskResult(scenario.taskId, CallToolResultSchema);
    out.listed = (await client.experimental.tasks.listTasks()).tasks;
  } else {
    const stream = client.experimental.tasks.callToolStream(call, CallToolResultSchema, {
      task: { ttl: 600000 },
    });
    for await (const message of stream) {
      if (message.type === "taskCreated") {
        out.created = message.task;
        if (scenario.action === "create") break;
        if (scenario.action === "cancel") {
          out.cancelled = await client.experimental.tasks.cancelTask(message.task.taskId);
          out.after = await client.experimental.tasks.getTask(message.task.taskId);
          break;
        }
      } else if (message.type === "taskStatus") {
        out.statuses.push(message.task);
      } else if (message.type === "result") {
        out.result = message.result;
      } else if (message.type === "error") {
        out.error = String(message.error?.message ?? message.error);
      }
    }
    if (!scenario.noTasks) out.listed = (await client.experimental.tasks.listTasks()).tasks;
  }
} catch (error) {
  out.error = String(error?.stack ?? error);
  if (scenario.action === "fetch" && !scenario.noTasks) {
    out.listed = (await client.experimental.tasks.listTasks()).tasks;
  }
}
out.wire = wire;
await client.close();
console.log(JSON.stringify(out));
