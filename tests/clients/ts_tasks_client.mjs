// A generate call through the official MCP Tasks requester, @modelcontextprotocol/ext-tasks,
// over the official TypeScript client @modelcontextprotocol/client 2.x pinned to
// 2026-07-28 (run by tests/e2e/test_tasks_clients.py with node, against the packages
// installed in DIR).
//
//   node ts_tasks_client.mjs DIR stdio '<json: command, args, env, cwd>' '<json: scenario>'
//   node ts_tasks_client.mjs DIR http  '<json: url, token>'               '<json: scenario>'
//
// scenario: { tool, arguments, action, approve?, reference? } where action is
//   "settle"  call the tool and follow it to its outcome (answering a cost question with
//             `approve`, when given);
//   "cancel"  call, cancel once the task is seen working, read the task once more;
//   "create"  call and print the task reference without following it;
//   "resume"  follow the task of `reference` (printed by "create", maybe by another process).
//
// ext-tasks needs the host's raw request path for Tasks V2 (the SDK's own codecs reject
// `resultType: "task"`): `rawDispatch` below sends through the same transport with its own
// request ids and takes their answers before the SDK client sees them. Every message on
// the wire is kept; the test checks the task ones against the published JSON Schema.
// Prints one JSON object.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [dir, transportKind, targetJson, scenarioJson] = process.argv.slice(2);
const modules = join(dir, "node_modules", "@modelcontextprotocol");
const load = (path) => import(pathToFileURL(join(modules, path)).href);
const { Client, StreamableHTTPClientTransport } = await load("client/dist/index.mjs");
const tasks = await load("ext-tasks/dist/client/index.js");
const target = JSON.parse(targetJson);
const scenario = JSON.parse(scenarioJson);
const PROTOCOL = "2026-07-28";
const clientInfo = { name: "ext-tasks-e2e", version: "1.0.0" };

let inner;
if (transportKind === "stdio") {
  const { StdioClientTransport } = await load("client/dist/stdio.mjs");
  inner = new StdioClientTransport({ ...target, stderr: "inherit" });
} else {
  inner = new StreamableHTTPClientTransport(new URL(target.url), {
    requestInit: { headers: { Authorization: `Bearer ${target.token}` } },
  });
}

// The transport as the SDK client sees it, minus the answers to the raw requests.
const wire = [];
const debug = process.env.TASKS_DEBUG ? (w) => console.error(JSON.stringify(w).slice(0, 400)) : () => {};
const pending = new Map();
let rawIds = 0;
let handler;
const transport = {
  start: () => inner.start(),
  send: (message, options) => {
    wire.push({ direction: "out", message });
    debug(wire.at(-1));
    return inner.send(message, options);
  },
  close: () => inner.close(),
  get sessionId() { return inner.sessionId; },
  setProtocolVersion: (v) => inner.setProtocolVersion?.(v),
  get onclose() { return inner.onclose; },
  set onclose(f) { inner.onclose = f; },
  get onerror() { return inner.onerror; },
  set onerror(f) { inner.onerror = f; },
  get onmessage() { return handler; },
  set onmessage(f) {
    handler = f;
    inner.onmessage = (message, extra) => {
      wire.push({ direction: "in", message });
      debug(wire.at(-1));
      const waiter = message?.id !== undefined ? pending.get(message.id) : undefined;
      if (waiter !== undefined) {
        pending.delete(message.id);
        waiter(message);
        return;
      }
      handler?.(message, extra);
    };
  },
};

async function rawDispatch(request) {
  const id = `ext-tasks-${++rawIds}`;
  const answered = new Promise((resolve) => pending.set(id, resolve));
  const message = { jsonrpc: "2.0", id, method: request.method, params: request.params };
  wire.push({ direction: "out", message });
  debug(wire.at(-1));
  await inner.send(message);
  const response = await answered;
  return response.error !== undefined
    ? { kind: "error", error: response.error }
    : { kind: "result", result: response.result };
}

const capabilities = { elicitation: { form: {} }, extensions: { "io.modelcontextprotocol/tasks": {} } };
const client = new Client(clientInfo, {
  capabilities,
  versionNegotiation: { mode: { pin: PROTOCOL } },
});
await client.connect(transport);

const asked = [];
const session = tasks.createTaskSessionFromClient(client, {
  endpointId: "atlas-mcp-e2e",
  rawDispatch,
  v2RequestFraming: { protocolVersion: PROTOCOL, clientInfo, clientCapabilities: capabilities },
  onInputRequest: async (request) => {
    asked.push(request);
    if (request.kind !== "elicitation" || scenario.approve === undefined) {
      throw new Error(`unexpected input request ${JSON.stringify(request)}`);
    }
    return scenario.approve
      ? { action: "accept", content: { approve: true } }
      : { action: "decline" };
  },
});

const views = [];
const seen = (event) => {
  const view = tasks.taskViewFromExecutionEvent(event);
  if (view !== undefined) {
    views.push({ status: view.status, statusMessage: view.statusMessage ?? null,
      pollIntervalMs: view.suggestedPollIntervalMs ?? view.pollInterval ?? null });
  }
};

const out = { kind: null, taskId: null, created: null, views, asked };
try {
  let execution;
  if (scenario.action === "resume") {
    execution = await session.resumeTask(scenario.reference);
  } else {
    execution = await session.callTool(scenario.tool, scenario.arguments, {
      requestTimeoutMs: 120000,
    });
  }
  out.kind = execution.kind;
  if (scenario.action !== "resume") out.created = execution.kind;
  out.taskId = execution.handle?.taskId ?? null;
  if (scenario.action === "create") {
    // as a host that persisted the reference and then crashed: no session.close(), which
    // would cancel the task
    out.reference = execution.serializeReference();
    out.wire = wire;
    console.log(JSON.stringify(out));
    await client.close();
    process.exit(0);
  } else if (scenario.action === "cancel") {
    for await (const event of execution.updates()) {
      seen(event);
      if (event.type === "task" && event.task.status === "working") break;
    }
    await execution.cancel();
    const after = await session.task(out.taskId).snapshot();
    out.after = { status: after.status, statusMessage: after.statusMessage ?? null };
  } else {
    const { outcome } = await execution.settle({ onEvent: seen });
    out.outcome = outcome.status;
    if (outcome.status === "completed") out.result = outcome.result;
  }
} catch (error) {
  out.error = `${error?.name}: ${error?.message}`;
}
await session.close();
await client.close();
out.wire = wire.map((w) => ({ direction: w.direction, message: w.message }));
console.log(JSON.stringify(out));
