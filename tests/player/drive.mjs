// Drives the Atlas player in Debian's headless Chromium (playwright-core, executablePath
// /usr/bin/chromium) inside host.html, and prints what it saw as JSON on stdout.
// Usage: node drive.mjs '<json: {packages, chromium, mcpUrl, scenarios: [...]}>'
// The page's /mcp is proxied to mcpUrl, so the host's MCP client is same-origin.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(process.argv[2]);
const modules = path.join(config.packages, "node_modules");
const need = createRequire(path.join(config.packages, "package.json"));
const { chromium } = need("playwright-core");
const esbuild = need("esbuild");
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function bundle() {
  const built = await esbuild.build({
    entryPoints: [path.join(HERE, "host.mjs")],
    bundle: true, format: "iife", platform: "browser", write: false, nodePaths: [modules],
    logLevel: "silent",
  });
  await esbuild.stop(); // its service process would keep node running
  return built.outputFiles[0].text;
}

function serve(script) {
  const target = new URL(config.mcpUrl);
  const page = readFileSync(path.join(HERE, "host.html"));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/mcp")) {
      const headers = { ...req.headers, host: target.host };
      const upstream = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
        (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); },
      );
      upstream.on("error", (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(upstream);
      return;
    }
    if (url.pathname === "/host.bundle.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(script);
      return;
    }
    if (url.pathname === "/host.html") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(page);
      return;
    }
    res.writeHead(url.pathname === "/favicon.ico" ? 204 : 404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const PLAYER_STATE = () => {
  const text = (id) => document.getElementById(id)?.textContent ?? null;
  const media = document.getElementById("media");
  return {
    badge: text("badge"), elapsed: text("elapsed"), phase: text("phase"),
    running: !document.getElementById("running").hidden,
    message: text("message"), problem: document.getElementById("problem").hidden ? null
      : text("reason"),
    next: document.getElementById("problem").hidden ? null : text("next"),
    media: media ? { tag: media.tagName, src: media.getAttribute("src") } : null,
    details: Object.fromEntries([...document.querySelectorAll("#details dt")]
      .map((dt) => [dt.textContent, dt.nextElementSibling.textContent])),
    buttons: [...document.querySelectorAll(".actions button")].filter((b) => !b.hidden)
      .map((b) => b.textContent),
  };
};

async function untilSettled(frame, seen, seconds) {
  const end = Date.now() + seconds * 1000;
  let last = "";
  while (Date.now() < end) {
    const now = await frame.evaluate(PLAYER_STATE);
    const key = JSON.stringify([now.badge, now.elapsed, now.phase]);
    if (key !== last) {
      seen.push({ badge: now.badge, elapsed: now.elapsed, phase: now.phase, running: now.running });
    }
    last = key;
    if (["completed", "failed", "refused", "dry_run"].includes(now.badge)) return now;
    await sleep(250);
  }
  return frame.evaluate(PLAYER_STATE);
}

async function play(frame) {
  const video = frame.locator("#media");
  await video.waitFor({ timeout: 20000 });
  await frame.waitForFunction(() => document.getElementById("media").readyState >= 2,
    null, { timeout: 20000 });
  const attempts = {};
  const paused = () => frame.evaluate(() => document.getElementById("media").paused);
  const box = await video.boundingBox();
  await video.click({ position: { x: 24, y: box.height - 47 } });
  await sleep(300);
  attempts.playButton = !(await paused());
  if (!attempts.playButton) {
    await video.focus();
    await video.press("Space");
    await sleep(300);
    attempts.space = !(await paused());
  }
  if (!attempts.playButton && !attempts.space) {
    attempts.play = await frame.evaluate(() => document.getElementById("media").play()
      .then(() => "ok", (e) => String(e)));
  }
  await sleep(1500);
  return frame.evaluate((tried) => {
    const v = document.getElementById("media");
    return { currentTime: v.currentTime, paused: v.paused, duration: v.duration,
      videoWidth: v.videoWidth, videoHeight: v.videoHeight, error: v.error && v.error.code,
      canPlayH264: v.canPlayType('video/mp4; codecs="avc1.42E01E"'), tried };
  }, attempts);
}

async function scenario(context, base, s) {
  const out = { name: s.name, seen: [], console: [] };
  const page = await context.newPage();
  await page.setViewportSize({ width: 600, height: 720 });
  page.on("console", (m) => { if (m.type() === "error") out.console.push(m.text()); });
  page.on("pageerror", (e) => out.console.push(String(e)));
  const query = new URLSearchParams({
    tool: s.tool, args: JSON.stringify(s.args), theme: s.theme || "light", era: s.era || "legacy",
  });
  await page.goto(`${base}/host.html?${query}`);
  await page.waitForFunction(() => window.testHost && (window.testHost.tools
    || window.testHost.error), null, { timeout: 30000 });
  const frame = (await page.$("#app")).contentFrame ? await (await page.$("#app")).contentFrame()
    : null;
  await frame.waitForSelector("#badge");
  out.final = await untilSettled(frame, out.seen, s.seconds || 60);
  out.host = await page.evaluate(() => ({ error: window.testHost.error,
    tools: window.testHost.tools, csp: window.testHost.csp }));
  if (s.play) out.played = await play(frame);
  if (s.record) {
    await frame.waitForFunction(() => [...document.querySelectorAll("#details dt")]
      .some((dt) => dt.textContent === "Expires"), null, { timeout: 10000 });
    out.final = await frame.evaluate(PLAYER_STATE);
  }
  if (s.shot) {
    await sleep(300);
    await page.locator("#app").screenshot({ path: s.shot });
    out.shot = s.shot;
  }
  if (s.keyboardSave) {
    await frame.locator("#media").focus();
    out.focus = [];
    for (let i = 0; i < 12; i += 1) {
      await page.keyboard.press("Tab");
      out.focus.push(await frame.evaluate(() => document.activeElement.id || document.activeElement.tagName));
    }
    await frame.locator("#save").focus();
    await page.keyboard.press("Enter");
    await frame.waitForFunction(() => /^Saved to /.test(document.getElementById("message").textContent),
      null, { timeout: 20000 }).catch(() => {});
    out.afterSave = await frame.evaluate(PLAYER_STATE);
  }
  if (s.animate) {
    await frame.locator("#animate").click();
    await frame.waitForFunction(() => document.getElementById("badge").textContent === "processing",
      null, { timeout: 20000 }).catch(() => {});
    out.animated = await untilSettled(frame, (out.animateSeen = []), 60);
    out.questions = await page.evaluate(() => window.testHost.questions);
  }
  if (s.retry) {
    const before = await page.evaluate(() => window.testHost.questions.length);
    await frame.locator("#retry").click();
    await frame.waitForFunction(() => document.getElementById("badge").textContent === "processing",
      null, { timeout: 20000 }).catch(() => {});
    out.retried = await untilSettled(frame, (out.retrySeen = []), 60);
    out.retryQuestions = (await page.evaluate(() => window.testHost.questions)).slice(before);
  }
  await page.close();
  return out;
}

async function main() {
  const script = await bundle();
  const server = await serve(script);
  const base = `http://127.0.0.1:${server.address().port}`;
  const profile = mkdtempSync(path.join(tmpdir(), "atlas-player-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium, headless: true, args: FLAGS,
  });
  const results = [];
  try {
    for (const s of config.scenarios) {
      try {
        results.push(await scenario(context, base, s));
      } catch (error) {
        const host = await Promise.all(context.pages().map((p) => p.evaluate(() => window.testHost)
          .catch((e) => String(e))));
        results.push({ name: s.name, failure: String(error && error.stack || error), host });
      }
    }
  } finally {
    await context.close();
    server.closeAllConnections();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ results }), () => process.exit(0));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
