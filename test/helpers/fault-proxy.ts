// A fault-injecting HTTP proxy on 127.0.0.1, in front of a real S3 server, for tests of what a
// flaky network or a sick server does to a store. Requests are forwarded with their headers
// untouched (the Host header included, so SigV4 signatures still hold); rules pick requests
// and break them:
//   hang       read the request, never answer (a server that accepts and stalls)
//   hang-body  send the headers and part of the body, then stall
//   reset      send part of the body, then reset the connection (RST)
//   truncate   send part of the body, then close the connection cleanly (FIN): a short body
//   flip       flip one byte of the body (the length stays right)
//   delay      answer after delayMs
//   status     answer with an S3 error document (default 503 SlowDown) without forwarding
// A rule fires on every Nth matching request or with a probability (seeded, so a run repeats),
// at most maxCount times and for at most forMs: every fault test is bounded in count and time.
// startHangingServer() is the same hang one level down: it accepts TCP and never reads.
import http from 'node:http';
import net from 'node:net';

export type FaultKind = 'hang' | 'hang-body' | 'reset' | 'truncate' | 'flip' | 'delay' | 'status';

export interface FaultRule {
  kind: FaultKind;
  /** Only requests with this method (GET, PUT…). */
  method?: string;
  /** Only requests whose path and query match. */
  path?: RegExp;
  /** Fire on every Nth matching request (1: each; default 1 unless probability is set). */
  everyNth?: number;
  /** Fire with this probability per matching request instead. */
  probability?: number;
  /** Fire at most this many times (default unbounded: give forMs then). */
  maxCount?: number;
  /** Fire only within this many ms of the rule being set. */
  forMs?: number;
  /** delay: how long. */
  delayMs?: number;
  /** status: the HTTP status and S3 code to answer (default 503 SlowDown). */
  status?: number;
  code?: string;
  /** Body faults: after how many body bytes (default half the body). */
  afterBytes?: number;
}

export interface FaultRecord {
  method: string;
  path: string;
  fault: FaultKind | undefined;
}

export interface FaultProxy {
  readonly endpoint: string;
  /** Every request seen, in order, with the fault it got. */
  readonly log: FaultRecord[];
  /** Faults injected so far, by kind. */
  faults(kind?: FaultKind): number;
  /** Replaces the rules (their counts and clocks start again). */
  setRules(rules: FaultRule[]): void;
  close(): Promise<void>;
}

interface LiveRule {
  rule: FaultRule;
  seen: number;
  fired: number;
  since: number;
}

/** mulberry32: a small seeded PRNG, so a "10 % random faults" run repeats exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(upstreamUrl: string, opts: { rules?: FaultRule[]; seed?: number } = {}): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const random = prng(opts.seed ?? 1);
  let rules: LiveRule[] = [];
  const log: FaultRecord[] = [];
  const held = new Set<net.Socket>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  const setRules = (next: FaultRule[]) => {
    rules = next.map((rule) => ({ rule, seen: 0, fired: 0, since: Date.now() }));
  };
  setRules(opts.rules ?? []);

  const pick = (req: http.IncomingMessage): FaultRule | undefined => {
    for (const r of rules) {
      const { rule } = r;
      if (rule.method && rule.method !== req.method) continue;
      if (rule.path && !rule.path.test(req.url ?? '')) continue;
      if (rule.forMs !== undefined && Date.now() - r.since > rule.forMs) continue;
      if (rule.maxCount !== undefined && r.fired >= rule.maxCount) continue;
      r.seen++;
      const fire = rule.probability !== undefined ? random() < rule.probability : r.seen % (rule.everyNth ?? 1) === 0;
      if (!fire) continue;
      r.fired++;
      return rule;
    }
    return undefined;
  };

  const hold = (socket: net.Socket) => {
    held.add(socket);
    socket.once('close', () => held.delete(socket));
  };

  const server = http.createServer((req, res) => {
    const rule = pick(req);
    log.push({ method: req.method ?? '', path: req.url ?? '', fault: rule?.kind });
    if (rule?.kind === 'hang') {
      req.resume();
      hold(req.socket);
      return;
    }
    if (rule?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        const code = rule.code ?? 'SlowDown';
        res.writeHead(rule.status ?? 503, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`);
      });
      return;
    }
    const forward = () => {
      const up = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
        (r) => breakResponse(rule, r, res, hold),
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    };
    if (rule?.kind === 'delay') setTimeout(forward, rule.delayMs ?? 1000);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    faults: (kind) => log.filter((l) => (kind ? l.fault === kind : l.fault !== undefined)).length,
    setRules,
    close: async () => {
      for (const s of held) s.destroy();
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends the upstream response on, broken as the rule says. */
function breakResponse(rule: FaultRule | undefined, r: http.IncomingMessage, res: http.ServerResponse, hold: (s: net.Socket) => void): void {
  res.writeHead(r.statusCode ?? 502, r.headers);
  const bodyFault = rule && ['hang-body', 'reset', 'truncate', 'flip'].includes(rule.kind);
  if (!bodyFault) {
    r.pipe(res);
    return;
  }
  const length = Number(r.headers['content-length'] ?? 0);
  const at = Math.min(rule.afterBytes ?? Math.floor(length / 2), Math.max(0, length - 1));
  let sent = 0;
  let stopped = false;
  r.on('data', (chunk: Buffer) => {
    if (stopped) return;
    const end = sent + chunk.length;
    if (rule.kind === 'flip') {
      if (at >= sent && at < end) chunk[at - sent]! ^= 0x01;
      sent = end;
      res.write(chunk);
      return;
    }
    if (end <= at) {
      sent = end;
      res.write(chunk);
      return;
    }
    stopped = true;
    const head = chunk.subarray(0, at - sent);
    sent = at;
    const socket = res.socket;
    if (head.length) res.write(head);
    r.destroy();
    if (!socket) return;
    if (rule.kind === 'hang-body') hold(socket);
    // Let the partial body leave before breaking the connection.
    else setTimeout(() => (rule.kind === 'reset' ? socket.resetAndDestroy() : socket.end()), 20);
  });
  r.on('end', () => {
    if (!stopped) res.end();
  });
}

/** A TCP server that accepts connections and never reads or answers. */
export async function startHangingServer(): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    connections: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
