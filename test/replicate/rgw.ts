// A second S3 identity on the shared Ceph RGW (radosgw-admin, as root), and a TCP proxy in
// front of the server that a test can cut off after a number of requests.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);
const DIR = process.env.CEPH_S3_DIR ?? '/var/tmp/ceph-s3';
const admin = (args: string[]) => run('radosgw-admin', ['--conf', `${DIR}/ceph.conf`, '-n', 'client.admin', ...args], { timeout: 60_000 });

export interface RgwUser {
  uid: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export async function createRgwUser(label: string): Promise<RgwUser> {
  const uid = `bv-${label}-${randomBytes(4).toString('hex')}`;
  const accessKeyId = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString('hex');
  await admin(['user', 'create', `--uid=${uid}`, `--display-name=${uid}`, `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`]);
  return { uid, accessKeyId, secretAccessKey };
}

export async function removeRgwUser(uid: string): Promise<void> {
  await admin(['user', 'rm', `--uid=${uid}`, '--purge-data']).catch(() => {});
}

export interface CutProxy {
  url: string;
  /** Requests seen whose request line matches the counter's pattern. */
  readonly counted: number;
  close(): Promise<void>;
}

/**
 * Forwards to target; after `cutAfter` requests matching `pattern` (counted on the request
 * line), drops every connection and refuses new ones: the server becomes unreachable mid-way.
 */
export async function cutProxy(target: string, pattern: RegExp, cutAfter: number): Promise<CutProxy> {
  const t = new URL(target);
  const sockets = new Set<net.Socket>();
  let counted = 0;
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(Number(t.port), t.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (d: Buffer) => {
      if (cut) return drop();
      const text = d.toString('latin1');
      for (const line of text.split('\r\n')) if (/^(GET|PUT|HEAD|POST|DELETE) /.test(line) && pattern.test(line)) counted++;
      if (counted > cutAfter) {
        cut = true;
        for (const s of sockets) s.destroy();
        server.close();
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get counted() {
      return counted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        if (!server.listening) resolve();
      }),
  };
}
