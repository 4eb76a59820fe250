// The built-in gateway (`edge-agent gateway`'s Gateway) for `npm run fleet-sim -- --gateway builtin`,
// alone in its own process so that the simulation can SIGKILL it as a crashed gateway host and
// start it again on the same port with the same host key. Arguments: DIR PORT MAX_CONNECTIONS
// MAX_STARTUPS PER_SOURCE_MAX_STARTUPS. Messages: → { type: 'started', port, fingerprint };
// { type: 'totals' } → { type: 'totals', totals }.
import { Gateway } from '../../src/gateway/gateway.js';

const [dir, port, maxConnections, maxStartups, perSourceMaxStartups] = process.argv.slice(2);
const gateway = new Gateway({
  listen: { host: '127.0.0.1', port: Number(port) },
  hostKeyFile: `${dir}/host_key`,
  authorizedKeysFile: `${dir}/authorized_keys`,
  maxConnections: Number(maxConnections),
  maxStartups: maxStartups!,
  perSourceMaxStartups: Number(perSourceMaxStartups),
});
const info = await gateway.start();
process.send!({ type: 'started', port: info.port, fingerprint: info.fingerprint });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'totals') process.send!({ type: 'totals', totals: gateway.status().totals });
});
process.on('disconnect', () => void gateway.destroy().then(() => process.exit(0)));
