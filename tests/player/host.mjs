// A minimal web host for MCP Apps, built on the official host bridge
// (@modelcontextprotocol/ext-apps/app-bridge) and the TypeScript MCP client: it connects to
// the atlas-mcp-py server over streamable HTTP (same origin: the driver proxies /mcp),
// advertises the Apps extension, renders the tool's ui:// resource in a sandboxed iframe
// under the CSP the resource declares, and relays the tool input and result. Elicitation
// (the cost question) is answered "approve" and recorded.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import {
  AppBridge,
  PostMessageTransport,
  getToolUiResourceUri,
} from "@modelcontextprotocol/ext-apps/app-bridge";

const APPS = "io.modelcontextprotocol/ui";
const THEMES = {
  light: {
    "--color-background-primary": "#ffffff",
    "--color-text-primary": "#18181b",
    "--color-text-secondary": "#52525b",
  },
  dark: {
    "--color-background-primary": "#18181b",
    "--color-text-primary": "#f4f4f5",
    "--color-text-secondary": "#a1a1aa",
  },
};

const query = new URLSearchParams(location.search);
const theme = query.get("theme") === "dark" ? "dark" : "light";
const era = query.get("era") || "legacy";
const toolName = query.get("tool");
const args = JSON.parse(query.get("args") || "{}");
const state = { ready: false, error: null, questions: [], tools: null, csp: null, result: null };
window.testHost = state;
document.body.className = theme;

function cspFor(csp) {
  const media = (csp.resourceDomains || []).join(" ");
  return [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    `img-src data: ${media}`,
    `media-src data: ${media}`,
    `connect-src ${(csp.connectDomains || []).join(" ") || "'none'"}`,
    "frame-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
  ].join("; ");
}

async function main() {
  const client = new Client(
    { name: "atlas-test-host", version: "1.0.0" },
    {
      capabilities: {
        elicitation: { form: {} },
        extensions: { [APPS]: { mimeTypes: ["text/html;profile=mcp-app"] } },
      },
      ...(era === "modern" ? { versionNegotiation: { mode: "auto" } } : {}),
    },
  );
  client.setRequestHandler("elicitation/create", async (request) => {
    state.questions.push(request.params.message);
    return { action: "accept", content: { approve: true } };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  const { tools } = await client.listTools();
  state.tools = tools.map((t) => ({ name: t.name, ui: t._meta?.ui ?? null }));
  const tool = tools.find((t) => t.name === toolName);
  const uri = getToolUiResourceUri(tool);
  const read = await client.readResource({ uri });
  const content = read.contents[0];
  state.csp = content._meta?.ui?.csp ?? {};

  const iframe = document.getElementById("app");
  const bridge = new AppBridge(
    client,
    { name: "atlas-test-host", version: "1.0.0" },
    { openLinks: {}, serverTools: {}, serverResources: {}, logging: {} },
    {
      hostContext: {
        theme,
        styles: { variables: THEMES[theme] },
        displayMode: "inline",
        toolInfo: { tool },
        locale: "en-GB",
        timeZone: "UTC",
      },
    },
  );
  bridge.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${height}px`;
  };
  const initialized = new Promise((resolve) => (bridge.oninitialized = resolve));
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  const meta = `<meta http-equiv="Content-Security-Policy" content="${cspFor(state.csp)}">`;
  iframe.srcdoc = content.text.replace("<head>", `<head>${meta}`);
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  const result = await client.callTool({ name: toolName, arguments: args });
  state.result = result;
  await bridge.sendToolResult(result);
  state.ready = true;
}

main().catch((error) => {
  state.error = String(error && error.stack ? error.stack : error);
});
