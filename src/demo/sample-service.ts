// The demo's internal service: a tiny web page that shows what reached it through the tunnel
// (the client address it saw and the request headers), so a newcomer can see the path work.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SampleService {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startSampleService(): Promise<SampleService> {
  const server = http.createServer((req, res) => {
    const headers = Object.entries(req.headers).map(([k, v]) => `<tr><td>${escape(k)}</td><td>${escape(String(v))}</td></tr>`).join('');
    const body = `<!doctype html>
<html><head><meta charset="utf-8"><title>ssh-edge-agent demo</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:48rem}td{padding:.2rem .8rem;border-bottom:1px solid #ddd;font-family:monospace}</style></head>
<body><h1>Hello from inside the device</h1>
<p>This page is served by a service on the device's side, reached through a reverse SSH tunnel held by <code>ssh-edge-agent</code>.</p>
<p>The service saw the connection come from <code>${escape(`${req.socket.remoteAddress}:${req.socket.remotePort}`)}</code> and this request:</p>
<p><code>${escape(`${req.method} ${req.url} HTTP/${req.httpVersion}`)}</code></p>
<table>${headers}</table>
</body></html>
`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
