// The operator's status page in a real browser: Debian's Chromium (/usr/bin/chromium) driven by
// playwright-core, against a real ringlb-operator (process runtime, ringlb-apod replicas), a real
// ringlb-proxy and a real Prometheus scraping the proxy. Asserts issue 22's acceptance lines:
//   - per-member requests/s on the page match the traffic this test sent (±10%);
//   - SIGKILLing a replica adds a timeline entry with its outage length;
//   - the key box answers like /explain (the operator's and the proxy's);
//   - stopping the operator shows the stale banner within 3 s;
//   - no console errors while the operator runs; axe-core finds no serious or critical violation
//     (light and dark colour schemes);
//   - at 32 members the donut's labels do not overlap and the legend lists every member;
// and saves screenshots at 6 and 32 members into $RINGLB_ARTIFACTS_DIR.
//
// Environment: RINGLB_BIN_DIR (ringlb-operator, ringlb-proxy, ringlb-apod), RINGLB_ARTIFACTS_DIR,
// NODE_PATH with playwright-core and axe-core (scripts/lib/browser-tools.sh), RINGLB_CHROMIUM.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const axeSource = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const BIN = process.env.RINGLB_BIN_DIR;
const ARTIFACTS = process.env.RINGLB_ARTIFACTS_DIR || path.join(os.tmpdir(), "ringlb-status-page");
const CHROMIUM = process.env.RINGLB_CHROMIUM || "/usr/bin/chromium";
const RATE = 60;            // requests/s the test sends through the proxy
const WINDOW_SECONDS = 20;  // the operator's --prometheus-window
// 120 keys at 60 requests/s: the load cycles through them every 2 s, so any 20 s window holds 10
// whole cycles and each member's share of it is the same whichever 20 s are compared.
const KEYS = Array.from({ length: 120 }, (_, i) => new Date(Date.UTC(2001, 0, 1) + i * 86400000).toISOString().slice(0, 10));

const work = fs.mkdtempSync(path.join(os.tmpdir(), "ringlb-status-page-"));
fs.mkdirSync(ARTIFACTS, { recursive: true });
const children = [];
const figures = {};

function log(...args) { console.log(`[status-page ${new Date().toISOString().slice(11, 23)}]`, ...args); }
function fail(message) { throw new Error(message); }
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function waitFor(what, timeoutMs, predicate, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let round = 0; Date.now() < deadline; round++) {
    try {
      last = await predicate();
      if (last) return last;
    } catch (error) { last = error; }
    await sleep(intervalMs);
  }
  fail(`timed out after ${timeoutMs / 1000} s waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => { const { port } = server.address(); server.close(() => resolve(port)); });
    server.on("error", reject);
  });
}

function start(name, command, args) {
  const out = fs.openSync(path.join(work, `${name}.log`), "a");
  const child = spawn(command, args, { stdio: ["ignore", out, out], detached: true });
  child.name = name;
  children.push(child);
  return child;
}

async function getJson(url, timeoutMs = 3000) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), cache: "no-store" });
  return { status: response.status, body: await response.json() };
}

function resource(replicas) {
  const apod = path.join(BIN, "ringlb-apod");
  return `apiVersion: ringlb.dev/v1alpha1
kind: HashRing
metadata: {name: apod, namespace: default}
spec:
  replicas: ${replicas}
  template:
    command: [${JSON.stringify(apod)}]
    args: ["--port", "$(PORT)", "--listen-address", "127.0.0.1"]
  hashing: {algorithm: ring, key: {source: query, name: date}, virtualNodes: 160, loadFactor: 1.25}
  healthCheck: {path: /healthz, intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, successThreshold: 1}
  drainSeconds: 1
`;
}

function writeResource(file, replicas) {
  fs.writeFileSync(file + ".tmp", resource(replicas));
  fs.renameSync(file + ".tmp", file);
}

// Paced load over a fixed key set, recording who answered each request (X-Served-By).
class Load {
  constructor(proxyPort) { this.url = `http://127.0.0.1:${proxyPort}/planetary/apod?date=`; this.records = []; this.running = false; }
  async run() {
    this.running = true;
    let next = performance.now(), i = 0;
    while (this.running) {
      const key = KEYS[i++ % KEYS.length];
      try {
        const response = await fetch(this.url + key, { signal: AbortSignal.timeout(5000) });
        await response.arrayBuffer();
        this.records.push({ at: Date.now(), member: response.headers.get("x-served-by"), ok: response.status < 500 });
      } catch { this.records.push({ at: Date.now(), member: null, ok: false }); }
      next += 1000 / RATE;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait); else if (wait < -1000) next = performance.now();  // fell behind: no burst
    }
  }
  stop() { this.running = false; }
  // Requests/s per member over the last `seconds`, as this client counted them.
  ratesOver(seconds) {
    const since = Date.now() - seconds * 1000, counts = {};
    for (const r of this.records) if (r.at >= since && r.member) counts[r.member] = (counts[r.member] || 0) + 1;
    for (const m of Object.keys(counts)) counts[m] /= seconds;
    return counts;
  }
}

async function main() {
  if (!BIN) fail("RINGLB_BIN_DIR is not set");
  for (const p of ["ringlb-operator", "ringlb-proxy", "ringlb-apod"]) fs.accessSync(path.join(BIN, p), fs.constants.X_OK);
  const [operatorPort, proxyPort, adminPort, prometheusPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const operatorUrl = `http://127.0.0.1:${operatorPort}`, adminUrl = `http://127.0.0.1:${adminPort}`, prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
  const resourceFile = path.join(work, "apod.yaml");
  writeResource(resourceFile, 6);

  fs.writeFileSync(path.join(work, "prometheus.yml"), `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: ringlb-proxy
    static_configs: [{targets: ["127.0.0.1:${adminPort}"]}]
`);
  start("prometheus", "prometheus", [`--config.file=${path.join(work, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(work, "tsdb")}`,
    `--web.listen-address=127.0.0.1:${prometheusPort}`, "--log.level=warn"]);
  const operator = start("operator", path.join(BIN, "ringlb-operator"), ["--resources", resourceFile, "--listen", `127.0.0.1:${operatorPort}`,
    "--state-dir", path.join(work, "state"), "--poll-ms", "100", "--prometheus-url", prometheusUrl,
    "--prometheus-window", `${WINDOW_SECONDS}s`, "--proxy-admin-url", adminUrl]);
  start("proxy", path.join(BIN, "ringlb-proxy"), ["--listen", `127.0.0.1:${proxyPort}`, "--admin", `127.0.0.1:${adminPort}`, "--threads", "1",
    "--ring-url", `${operatorUrl}/v1/rings/apod`]);

  const readyRing = count => async () => {
    const { body } = await getJson(`${operatorUrl}/v1/rings/apod`);
    return body.members.length === count && body.members.every(m => m.state === "Ready") && body;
  };
  const six = await waitFor("6 Ready replicas", 60000, readyRing(6));
  await waitFor("the proxy to follow the ring", 30000, async () => (await getJson(`${adminUrl}/ring`)).body.version >= six.version);
  await waitFor("Prometheus to be ready", 30000, async () => (await fetch(`${prometheusUrl}/-/ready`)).ok);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
  const consoleErrors = [];
  let operatorStopped = false;
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  page.on("console", message => { if (message.type() === "error") consoleErrors.push({ text: message.text(), afterStop: operatorStopped }); });
  page.on("pageerror", error => consoleErrors.push({ text: "uncaught: " + error.message, afterStop: operatorStopped }));
  await page.goto(operatorUrl + "/");
  await page.waitForSelector("section.card tr[data-member='apod-5']");

  // -- traffic: the page's per-member requests/s against what this client sent ----------------
  const load = new Load(proxyPort);
  const loadDone = load.run();
  const pageRates = async () => page.$$eval("section.card .members tbody tr", rows => Object.fromEntries(rows.map(r =>
    [r.dataset.member, parseFloat(r.querySelector("td.rps").textContent)])));
  let lastComparison = null;
  await waitFor(`the page's requests/s to match the client's within ±10% (${RATE} requests/s sent)`, 120000, async () => {
    // Wait until the rate window (and the page's few seconds of lag behind it) lies wholly inside the load.
    if (load.records.length < RATE * (WINDOW_SECONDS + 8)) return false;
    const sent = load.ratesOver(WINDOW_SECONDS), shown = await pageRates();
    const rows = Object.keys(sent).map(m => ({ member: m, sent: sent[m], shown: shown[m], error: Math.abs(shown[m] - sent[m]) / sent[m] }));
    lastComparison = rows;
    return rows.length === 6 && rows.every(r => Number.isFinite(r.shown) && r.error <= 0.10) && rows;
  }, 1000);
  figures.rates = lastComparison.map(r => `${r.member} sent ${r.sent.toFixed(2)}/s shown ${r.shown.toFixed(2)}/s (${(100 * r.error).toFixed(1)}%)`);
  log("rates:", figures.rates.join("; "));
  const observed = await page.$$eval("section.card .members tbody td.observed", cells => cells.map(c => c.textContent));
  if (observed.some(t => !t.endsWith("%"))) fail(`observed share missing: ${observed}`);

  // -- screenshots at 6 members, both drawings --------------------------------------------------
  await page.screenshot({ path: path.join(ARTIFACTS, "status-6-members-donut.png"), fullPage: true });
  await page.check("input[value=points]");
  await page.waitForSelector("svg.pointsview");
  const ticks = await page.$$eval("svg.pointsview path[data-member]", paths => paths.length);
  if (ticks !== 6) fail(`ring view draws ${ticks} members, expected 6`);
  await page.hover("svg.pointsview", { position: { x: 150, y: 40 } });
  const tip = await page.textContent("section.card .tip");
  if (!/^apod-\d+ · Ready · .*owns this arc/.test(tip)) fail(`hover over the ring view says '${tip}'`);
  await page.screenshot({ path: path.join(ARTIFACTS, "status-6-members-ring.png"), fullPage: true });

  // -- the key box answers like /explain -----------------------------------------------------------
  for (const key of ["2020-01-01", "1999-12-31", "a key with spaces & symbols"]) {
    await page.fill("section.card input[name=key]", key);
    await page.click("section.card form.lookup button");
    await page.waitForFunction(k => document.querySelector("section.card .answer code")?.textContent === k, key);
    const shown = await page.evaluate(() => ({
      owner: document.querySelector("section.card .answer .owner").textContent,
      pick: document.querySelector("section.card .answer .pick").textContent,
      walk: [...document.querySelectorAll("section.card .answer .walk .member")].map(e => e.textContent) }));
    const operatorAnswer = (await getJson(`${operatorUrl}/v1/rings/default/apod/explain?key=${encodeURIComponent(key)}`)).body;
    const proxyAnswer = (await getJson(`${adminUrl}/explain?key=${encodeURIComponent(key)}`)).body;
    if (shown.owner !== operatorAnswer.owner || shown.pick !== operatorAnswer.pick ||
        JSON.stringify(shown.walk) !== JSON.stringify(operatorAnswer.walk.map(w => w.id))) {
      fail(`key box for '${key}' shows ${JSON.stringify(shown)}, the operator's /explain says ${JSON.stringify(operatorAnswer)}`);
    }
    if (proxyAnswer.chosen !== shown.pick) fail(`key box for '${key}' picks ${shown.pick}, the proxy's /explain chose ${proxyAnswer.chosen}`);
    figures.lookup = (figures.lookup || []).concat(`${key} -> ${shown.pick}`);
  }

  // -- SIGKILL a replica: a timeline entry with its outage length ----------------------------------
  const status = (await getJson(`${operatorUrl}/v1/status`)).body;
  const victim = status.rings[0].members.find(m => m.id === "apod-2");
  const victimPid = parseInt(victim.runtimeId.split(":")[0], 10);
  if (!(victimPid > 1)) fail(`cannot read apod-2's pid from runtimeId '${victim.runtimeId}'`);
  process.kill(victimPid, "SIGKILL");
  const outage = await waitFor("the timeline to show apod-2's failure with its outage length", 60000, async () => {
    const row = await page.$("section.card tr.event[data-kind=failed][data-member='apod-2']");
    if (!row) return false;
    const text = (await row.$eval("td.outage", td => td.textContent)).trim();
    return /^\d+(\.\d+)? (ms|s|min)$/.test(text) && text;
  }, 250);
  const recovered = await page.$("section.card tr.event[data-kind=recovered][data-member='apod-2']");
  if (!recovered) fail("no 'recovered' entry for apod-2");
  figures.outage = outage;
  log(`apod-2 SIGKILLed: timeline outage ${outage}`);

  // -- accessibility and console, light and dark ----------------------------------------------------
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.check("input[value=donut]");
    await page.waitForSelector("svg.donut");
    await sleep(300);
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
    const bad = result.violations.filter(v => v.impact === "serious" || v.impact === "critical");
    figures[`axe_${scheme}`] = `${result.violations.length} violations, ${bad.length} serious or critical`;
    if (bad.length) fail(`axe (${scheme}): ${bad.map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", ")}`).join("; ")}`);
  }
  await page.emulateMedia({ colorScheme: "light" });
  await page.screenshot({ path: path.join(ARTIFACTS, "status-6-members-light.png"), fullPage: true });

  // -- 32 members -----------------------------------------------------------------------------------
  writeResource(resourceFile, 32);
  await waitFor("32 Ready replicas", 180000, readyRing(32), 500);
  await page.waitForSelector("section.card tr[data-member='apod-31']");
  await page.check("input[value=donut]");
  await page.waitForFunction(() => document.querySelectorAll("svg.donut path[data-member]").length === 32);
  const overlaps = await page.$$eval("svg.donut text", texts => {
    const boxes = texts.map(t => t.getBoundingClientRect()), out = [];
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push([texts[i].textContent, texts[j].textContent]);
    }
    return out;
  });
  if (overlaps.length) fail(`donut labels overlap at 32 members: ${JSON.stringify(overlaps)}`);
  await page.screenshot({ path: path.join(ARTIFACTS, "status-32-members-donut.png"), fullPage: true });
  await page.check("input[value=points]");
  await page.waitForFunction(() => document.querySelectorAll("svg.pointsview path[data-member]").length === 32);
  const legend = await page.$$eval("section.card .legend [data-member]", spans => spans.map(s => s.dataset.member));
  if (new Set(legend).size !== 32) fail(`the ring view's legend lists ${new Set(legend).size} members, expected 32`);
  await page.screenshot({ path: path.join(ARTIFACTS, "status-32-members-ring.png"), fullPage: true });

  // -- 100 members: the page's drawing of a ring this size (the operator's own answers, widened to
  // 100 members by the test; 100 real replicas would not fit beside the rest on 2 cores) -----------
  const real = (await getJson(`${operatorUrl}/v1/status`)).body;
  const template = real.rings[0].members[0];
  const hundred = Array.from({ length: 100 }, (_, i) => ({ ...template, id: `apod-${i}`, share: 0.01,
    state: i === 57 ? "NotReady" : i === 83 ? "Draining" : "Ready" }));
  const wide = { ...real, rings: [{ ...real.rings[0], members: hundred, readyReplicas: 98, desiredReplicas: 100, version: 999 }] };
  // Stand-in positions (FNV-1a, then murmur3's finaliser to spread similar ids over the circle).
  const pointsOf = id => Array.from({ length: 160 }, (_, k) => {
    let h = 2166136261;
    for (const c of `${id}#${k}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
    return (h >>> 0) >>> 16;
  });
  await page.route("**/v1/status", route => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ ...wide, serverUnixMillis: Date.now() }) }));
  await page.route("**/points", route => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({
    ring: "apod", namespace: "default", version: 999, algorithm: "ring", members: hundred.map(m => ({ id: m.id, state: m.state, weight: 1, share: m.share, points: pointsOf(m.id) })) }) }));
  await page.check("input[value=donut]");
  await page.waitForFunction(() => document.querySelectorAll("svg.donut path[data-member]").length === 100);
  const overlaps100 = await page.$$eval("svg.donut text", texts => {
    const boxes = texts.map(t => t.getBoundingClientRect()), out = [];
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push([texts[i].textContent, texts[j].textContent]);
    }
    return out;
  });
  if (overlaps100.length) fail(`donut labels overlap at 100 members: ${JSON.stringify(overlaps100)}`);
  const labels100 = await page.$$eval("svg.donut text", texts => texts.map(t => t.textContent));
  if (!labels100.includes("57") || !labels100.includes("83")) fail(`at 100 members the unhealthy members' labels are missing: ${labels100}`);
  const tableOrder = await page.$$eval("section.card .members tbody tr", rows => rows.map(r => r.dataset.member));
  if (tableOrder.length !== 100 || tableOrder[0] !== "apod-57" || tableOrder[1] !== "apod-83") {
    fail(`the members table at 100 members starts ${tableOrder.slice(0, 3)} (want the unhealthy apod-57, apod-83 first)`);
  }
  await page.screenshot({ path: path.join(ARTIFACTS, "status-100-members-donut.png"), fullPage: true });
  await page.check("input[value=points]");
  await page.waitForFunction(() => document.querySelectorAll("svg.pointsview path[data-member]").length === 100);
  const legend100 = await page.$$eval("section.card .legend [data-member]", spans => spans.map(s => s.dataset.member));
  if (legend100.length !== 100 || legend100[0] !== "apod-57" || legend100[1] !== "apod-83") {
    fail(`the legend at 100 members lists ${legend100.length}, starting ${legend100.slice(0, 3)} (want the unhealthy apod-57, apod-83 first)`);
  }
  await page.screenshot({ path: path.join(ARTIFACTS, "status-100-members-ring.png"), fullPage: true });
  await page.unroute("**/v1/status");
  await page.unroute("**/points");
  await page.check("input[value=donut]");
  await page.waitForFunction(() => document.querySelectorAll("svg.donut path[data-member]").length === 32);

  const running = consoleErrors.filter(e => !e.afterStop);
  if (running.length) fail(`console errors while the operator ran: ${JSON.stringify(running)}`);

  // -- an error answer is stale data too: the banner names it, and goes when answers are good again -
  operatorStopped = true;  // the browser logs the 500s below as console errors; they are expected
  await page.route("**/v1/status", route => route.fulfill({ status: 500, contentType: "application/json", body: '{"error":"injected by the test"}' }));
  await page.waitForSelector("#banner", { state: "visible", timeout: 15000 });
  const errorBanner = await page.textContent("#banner");
  if (!errorBanner.startsWith("Stale: the operator answered HTTP 500: injected by the test")) fail(`banner on a 500 says '${errorBanner}'`);
  await page.unroute("**/v1/status");
  await page.waitForSelector("#banner", { state: "hidden", timeout: 15000 });
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter(e => !/status of 500/.test(e.text)));

  // -- stop the operator: the stale banner within 3 s ----------------------------------------------
  load.stop();
  await loadDone;
  await page.evaluate(() => {
    window.__staleAt = null;
    new MutationObserver(() => { if (document.body.classList.contains("stale") && window.__staleAt == null) window.__staleAt = performance.now(); })
      .observe(document.body, { attributes: true, attributeFilter: ["class"] });
  });
  const killedAt = await page.evaluate(() => performance.now());
  operatorStopped = true;
  operator.kill("SIGKILL");
  await page.waitForSelector("#banner", { state: "visible", timeout: 10000 });
  const staleAfter = (await page.evaluate(() => window.__staleAt)) - killedAt;
  figures.staleBannerMs = Math.round(staleAfter);
  log(`stale banner ${figures.staleBannerMs} ms after the operator was killed`);
  const greyed = await page.$eval("section.card", el => getComputedStyle(el).filter);
  await page.screenshot({ path: path.join(ARTIFACTS, "status-32-members-stale.png"), fullPage: true });
  if (staleAfter > 3000) fail(`the stale banner appeared ${staleAfter} ms after the operator stopped (want ≤ 3000)`);
  if (!greyed.includes("grayscale")) fail(`cards are not greyed while stale (filter '${greyed}')`);
  const banner = await page.textContent("#banner");
  if (!/^Stale: the operator is unreachable/.test(banner)) fail(`banner says '${banner}'`);
  const afterStop = consoleErrors.filter(e => e.afterStop && !/ERR_CONNECTION_REFUSED/.test(e.text));
  if (afterStop.length) fail(`console errors after the operator stopped, besides the refused polls: ${JSON.stringify(afterStop)}`);
  await browser.close();
}

async function stopAll() {
  // The operator first, so that it cannot replace the replicas stopped below.
  const operator = children.find(c => c.name === "operator");
  if (operator && operator.exitCode === null && operator.signalCode === null) {
    const exited = new Promise(resolve => operator.once("exit", resolve));
    try { process.kill(operator.pid, "SIGKILL"); } catch { /* gone */ }
    await Promise.race([exited, sleep(10000)]);
  }
  // Replicas outlive a SIGKILLed operator by design: stop the ones its state names.
  const replicas = path.join(work, "state", "replicas");
  if (fs.existsSync(replicas)) {
    for (const file of fs.readdirSync(replicas)) {
      try {
        const { pid } = JSON.parse(fs.readFileSync(path.join(replicas, file), "utf8"));
        if (pid > 1) process.kill(-pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  }
  for (const child of children) {
    if (child.exitCode === null) { try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ } }
  }
}

let code = 0;
try {
  await main();
  log("PASS", JSON.stringify(figures));
} catch (error) {
  code = 1;
  console.error("FAIL:", error.message);
  for (const name of ["operator", "proxy", "prometheus"]) {
    const file = path.join(work, `${name}.log`);
    if (fs.existsSync(file)) console.error(`--- ${name}.log (tail)\n` + fs.readFileSync(file, "utf8").split("\n").slice(-15).join("\n"));
  }
} finally {
  await stopAll();
  if (!process.env.RINGLB_KEEP_TEST_DIRS) fs.rmSync(work, { recursive: true, force: true });
  else log("kept", work);
}
process.exit(code);
