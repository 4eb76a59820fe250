// The admin status page in a real headless Chromium (Debian's `chromium`, driven by
// playwright-core): the agent runs in process against a real sshd with a port-0 forward; the
// page shows the forward `up` with the port sshd really picked, bytes/s moving while traffic
// flows, the report endpoint's error with its code, a hostile document's text as text, and
// nothing secret. It loads nothing from
// anywhere but the agent, and its strict CSP lets its inline script run (no console errors).
// Skips only off CI on a machine without chromium; `.ci/run` installs it.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type AgentHandle } from '../../src/agent.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { startEchoServer, type TcpService } from '../helpers/tcp-services.js';
import { waitUntil } from '../helpers/tunnel-fixtures.js';

const CHROMIUM = process.env.EDGE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const SECRET_TOKEN = 'page-secret-token-9c1';
const SECRET_QUERY = 'page-secret-query-77d';

describe.skipIf(!haveChromium && !process.env.CI)('admin status page in headless Chromium', () => {
  let sshd: SshdHandle;
  let echo: TcpService;
  let agent: AgentHandle;
  let context: BrowserContext | undefined;
  let profile: string;
  const shots = mkdtempSync(path.join(os.tmpdir(), 'edge-page-shots-'));

  beforeAll(async () => {
    if (!haveChromium) throw new Error(`chromium not found at ${CHROMIUM}: .ci/run installs it (apt-get install chromium)`);
    sshd = await startSshd();
    echo = await startEchoServer();
    // A closed port as the report endpoint: the page must show that error, coded, and not the secrets.
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
    });
    process.env.EDGE_PAGE_TEST_TOKEN = SECRET_TOKEN;
    agent = await startAgent({
      agent: { id: 'device-page', drainTimeoutMs: 2_000, logLevel: 'error', logFormat: 'text' },
      admin: { listen: '127.0.0.1:0' },
      credentials: { k: { privateKeyFile: sshd.userKeyPath } },
      telemetry: { exporter: 'none' },
      sessions: [{
        id: 'gw', host: '127.0.0.1', port: sshd.port, username: sshd.username, credential: 'k', hostKeys: { knownHostsFile: sshd.knownHostsPath },
        forwards: [{ id: 'web', bind: '127.0.0.1', port: 0, target: `tcp://127.0.0.1:${echo.port}` }],
      }],
      assignments: { reportUrl: `http://127.0.0.1:${closed}/report?token=${SECRET_QUERY}`, reportIntervalMs: 60_000, tokenEnv: 'EDGE_PAGE_TEST_TOKEN' },
    }, { log: () => {}, report: { debounceMs: 50, retryBaseMs: 200, retryMaxMs: 1_000 } });
    profile = mkdtempSync(path.join(os.tmpdir(), 'edge-chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 720 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 90_000);
  afterAll(async () => {
    await context?.close();
    await agent?.destroy();
    await Promise.all([echo?.close(), sshd?.dispose()]);
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('serves a self-contained page with a strict CSP', async () => {
    const res = await request(`${agent.adminUrl}/`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(String(res.headers['content-security-policy'])).toMatch(/default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self'/);
    const html = await res.body.text();
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i); // no external assets
  });

  it('shows the forward up on its real remote port, live bytes/s, coded errors, and no secret', async () => {
    const page = await context!.newPage();
    const consoleErrors: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    page.on('request', (r) => { if (!r.url().startsWith(agent.adminUrl!)) foreign.push(r.url()); });

    // A fleet endpoint's bad document: its text reaches the page through /status (the error
    // message quotes it) and must stay text.
    await expect(agent.applyAssignments({ revision: 1, sessions: [{ id: '<img src=x onerror="window.__xss=1">', host: 'h', forwards: [] }] })).rejects.toThrow(/Assignment rejected/);
    await page.goto(`${agent.adminUrl}/`);
    const row = page.locator('tr[data-forward="gw/web"]');
    await row.locator('[data-state="up"]').waitFor({ timeout: 20_000 });
    const remotePort = (await agent.status()).sessions[0]!.forwards[0]!.remotePort!;
    expect(remotePort).toBeGreaterThan(0);
    await waitUntil(async () => (await row.locator('td.listen').textContent())?.includes(`:${remotePort}`), 10_000, 'the real remote port on the page');

    // traffic through the tunnel while the page polls: the rate cell leaves 0
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        const sock = net.connect(remotePort, '127.0.0.1');
        await new Promise<void>((resolve) => { sock.on('error', () => resolve()); sock.on('close', () => resolve()); sock.on('data', () => {}); sock.end(Buffer.alloc(64 * 1024, 7)); });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await waitUntil(async () => !/^0 B\/s$/.test((await row.locator('td.rate').textContent()) ?? ''), 15_000, 'bytes/s above 0');
      // a few samples, so the chart in the screenshot shows a line
      await waitUntil(async () => ((await row.locator('svg.spark polyline').getAttribute('points').catch(() => null)) ?? '').split(' ').length >= 5, 15_000, 'the chart drawn');
    } finally {
      flowing = false;
      await traffic;
    }
    await page.locator('#errors li[data-code="EDGE_ERR_CONNECT_REFUSED"]').waitFor({ timeout: 15_000 });
    const rejected = page.locator('#errors li[data-code="EDGE_ERR_INVALID_CONFIG"]');
    await rejected.waitFor({ timeout: 10_000 });
    expect(await rejected.textContent()).toContain('<img src=x onerror=');
    expect(await page.locator('#errors img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await expect(page.locator('#agent').textContent()).resolves.toBe('device-page');
    await expect(page.locator('tr[data-session="gw"] [data-state="connected"]').count()).resolves.toBe(1);

    const file = path.join(shots, 'status-page.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
    console.log(`status page screenshot: ${file}`);

    const text = await page.locator('body').innerText();
    const dom = await page.content();
    for (const secret of [SECRET_TOKEN, SECRET_QUERY]) {
      expect(text).not.toContain(secret);
      expect(dom).not.toContain(secret);
    }
    expect(foreign).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
