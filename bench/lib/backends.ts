// The local services the benchmark tunnels to, run in their own process (so their CPU is not
// the orchestrator's and can be told apart): a bulk sink, a bulk source, an echo service and a
// minimal HTTP/1.1 server answering every request with a fixed 1 KiB body. Prints one JSON line
// with the ports, then serves until killed. Loopback only.
//
//   sink:   client sends an 8-byte big-endian length N, then N bytes; the sink answers "K" once
//           it has them all (so the client times the whole transfer, tunnel included).
//   source: client sends an 8-byte big-endian length N; the source sends N bytes and ends.
//   echo:   every byte back.
//   http:   keep-alive unless the request says `Connection: close`; pipelining-safe.
import net from 'node:net';

const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);
const BODY = Buffer.alloc(1024, 0x61);
const RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY.toString('latin1')}`, 'latin1');
const RESPONSE_CLOSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY.toString('latin1')}`, 'latin1');

function listen(onConnection: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer({ noDelay: true }, (s) => {
    s.on('error', () => {});
    onConnection(s);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function readHeader(s: net.Socket, then: (n: number, rest: Buffer) => void): void {
  let head = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    head = Buffer.concat([head, d]);
    if (head.length < 8) return;
    s.off('data', onData);
    then(Number(head.readBigUInt64BE(0)), head.subarray(8));
  };
  s.on('data', onData);
}

const sink = await listen((s) => {
  readHeader(s, (n, rest) => {
    let got = rest.length;
    const check = () => { if (got >= n) { s.off('data', onData); s.end('K'); } };
    const onData = (d: Buffer) => { got += d.length; check(); };
    s.on('data', onData);
    check();
  });
});

const source = await listen((s) => {
  readHeader(s, (n) => {
    let left = n;
    const pump = () => {
      while (left > 0) {
        const len = Math.min(left, CHUNK.length);
        left -= len;
        const ok = s.write(len === CHUNK.length ? CHUNK : CHUNK.subarray(0, len));
        if (!ok) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
});

const echo = await listen((s) => { s.pipe(s); });

const http = await listen((s) => {
  let pending = '';
  s.setEncoding('latin1');
  s.on('data', (d: string) => {
    pending += d;
    let end: number;
    while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
      const head = pending.slice(0, end);
      pending = pending.slice(end + 4);
      if (/\r\nconnection:\s*close/i.test(head)) {
        s.end(RESPONSE_CLOSE);
        return;
      }
      s.write(RESPONSE);
    }
  });
});

process.stdout.write(JSON.stringify({ sink, source, echo, http, pid: process.pid }) + '\n');
process.on('SIGTERM', () => process.exit(0));
