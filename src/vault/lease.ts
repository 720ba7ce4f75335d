// One operation per volume, across processes and hosts, through the store itself: a lease
// object created with put-if-absent, renewed while the operation runs, and taken over
// only when it has expired (or, on the same host, when its process is gone).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { BlockvaultError, ErrorCodes, type ErrorCode } from '../errors.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { Layout } from './layout.js';

export const LEASE_PREFIX = Layout.leasePrefix;
export const DEFAULT_LEASE_TTL_MS = 120_000;

export type LeaseOp = 'backup' | 'restore' | 'delete' | 'prune' | 'gc' | 'verify';

export interface LeaseRecord {
  leaseId: string;
  scope: string;
  op: LeaseOp;
  host: string;
  pid: number;
  acquiredAt: string;
  expiresAt: string;
}

export interface Lease {
  readonly record: LeaseRecord;
  release(): Promise<void>;
}

function leaseKey(scope: string): string {
  return Layout.leaseKey(scope);
}

function busyCode(want: LeaseOp, held: LeaseOp): ErrorCode {
  if (want === 'restore' && held === 'backup') return ErrorCodes.restoreWhileBackup;
  if (want === 'restore' && held === 'restore') return ErrorCodes.beingRestored;
  return ErrorCodes.volumeBusy;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLease(store: ObjectStore, key: string): Promise<LeaseRecord | undefined> {
  try {
    return JSON.parse((await store.get(key)).toString('utf8')) as LeaseRecord;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    if (e instanceof SyntaxError) return undefined; // torn by hand: treat as absent
    throw e;
  }
}

/** Held now: not expired and, on this host, its process still runs. */
export function leaseIsLive(rec: LeaseRecord, now = Date.now()): boolean {
  return !isStale(rec, now);
}

function isStale(rec: LeaseRecord, now: number): boolean {
  if (Date.parse(rec.expiresAt) < now) return true;
  return rec.host === os.hostname() && rec.pid !== process.pid && !processAlive(rec.pid);
}

/**
 * Takes the lease on `scope` (a volume id, or "vault" for vault-wide work) or fails at once
 * with the service's busy code. The lease renews itself until released.
 */
export async function acquireLease(
  store: ObjectStore,
  scope: string,
  op: LeaseOp,
  opts: { ttlMs?: number } = {},
): Promise<Lease> {
  const ttl = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const key = leaseKey(scope);
  const make = (): LeaseRecord => ({
    leaseId: randomUUID(),
    scope,
    op,
    host: os.hostname(),
    pid: process.pid,
    acquiredAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + ttl).toISOString(),
  });
  let record = make();
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await store.put(key, Buffer.from(JSON.stringify(record)), { ifAbsent: true })) {
      return startRenewal(store, key, record, ttl);
    }
    const held = await readLease(store, key);
    if (held && !isStale(held, Date.now())) {
      throw new BlockvaultError(
        busyCode(op, held.op),
        `volume ${scope} is busy: a ${held.op} started ${held.acquiredAt} on ${held.host} (pid ${held.pid}) is not finished`,
        {
          hint: `wait for it to finish (its lease expires ${held.expiresAt} if it died)`,
          details: { scope, heldBy: held },
        },
      );
    }
    if (held) {
      // Take over a stale lease. The takeover marker is put-if-absent on the stale lease's
      // own id, so of two processes that both found it stale only one deletes it.
      const marker = `${LEASE_PREFIX}${scope}.takeover-${held.leaseId}`;
      if (await store.put(marker, Buffer.from(record.leaseId), { ifAbsent: true })) {
        await store.delete(key);
        await store.delete(marker);
      }
    }
    record = make();
  }
  throw new BlockvaultError(ErrorCodes.volumeBusy, `could not take the lease on ${scope}: another process is taking it`, {
    hint: 'run again in a moment',
  });
}

function startRenewal(store: ObjectStore, key: string, record: LeaseRecord, ttl: number): Lease {
  let current = record;
  let released = false;
  const timer = setInterval(
    () => {
      void (async () => {
        const held = await readLease(store, key).catch(() => undefined);
        if (released || held?.leaseId !== current.leaseId) return;
        current = { ...current, expiresAt: new Date(Date.now() + ttl).toISOString() };
        await store.put(key, Buffer.from(JSON.stringify(current))).catch(() => {});
      })();
    },
    Math.max(1000, Math.floor(ttl / 3)),
  );
  timer.unref();
  return {
    get record() {
      return current;
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      const held = await readLease(store, key).catch(() => undefined);
      if (held?.leaseId === current.leaseId) await store.delete(key);
    },
  };
}

/** The live leases of a vault (for GC: nothing younger than the oldest may be swept). */
export async function liveLeases(store: ObjectStore): Promise<LeaseRecord[]> {
  const out: LeaseRecord[] = [];
  for await (const o of store.list(LEASE_PREFIX)) {
    if (!o.key.endsWith('.json')) continue;
    const rec = await readLease(store, o.key);
    if (rec && !isStale(rec, Date.now())) out.push(rec);
  }
  return out;
}
