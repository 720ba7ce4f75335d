// One operation per volume, across processes and hosts, through the store itself: a lease
// object created with put-if-absent, renewed while the operation runs, and taken over
// only when it has expired (or, on the same host, when its process is gone).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as v from 'valibot';
import { BlockvaultError, ErrorCodes, busyCodes, type ErrorCode } from '../errors.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { runCleanup } from '../store/operation-signal.js';
import { Layout } from './layout.js';
import { IsoTime, PositiveInt, parseStored } from './schema.js';

export const LEASE_PREFIX = Layout.leasePrefix;
export const DEFAULT_LEASE_TTL_MS = 120_000;

export type LeaseOp = 'backup' | 'restore' | 'delete' | 'prune' | 'gc' | 'verify' | 'copy' | 'import';

export interface LeaseRecord {
  leaseId: string;
  scope: string;
  op: LeaseOp;
  host: string;
  pid: number;
  acquiredAt: string;
  expiresAt: string;
}

const LEASE_OPS = ['backup', 'restore', 'delete', 'prune', 'gc', 'verify', 'copy', 'import'] as const satisfies readonly LeaseOp[];

/** Known fields checked, others kept: a newer blockvault may add some. */
const LeaseRecordSchema = v.looseObject({
  leaseId: v.pipe(v.string(), v.minLength(1)),
  scope: v.string(),
  op: v.picklist(LEASE_OPS),
  host: v.string(),
  pid: PositiveInt,
  acquiredAt: IsoTime,
  expiresAt: IsoTime,
});

/** What a takeover marker holds: who is taking the stale lease over, and until when. */
const TakeoverRecordSchema = v.looseObject({
  leaseId: v.string(),
  host: v.string(),
  pid: PositiveInt,
  expiresAt: IsoTime,
});
type TakeoverRecord = v.InferOutput<typeof TakeoverRecordSchema>;

export interface Lease {
  readonly record: LeaseRecord;
  release(): Promise<void>;
}

function leaseKey(scope: string): string {
  return Layout.leaseKey(scope);
}

/** The service's codes for a busy volume depend on what holds it (errors.ts busyCodes). */
function busyCode(want: LeaseOp, held: LeaseOp): { code: ErrorCode; vbsCode: string; cbrCode: string } {
  const codes = busyCodes(want, held);
  return { code: codes.vbsCode as ErrorCode, ...codes };
}

/** A process that can still act: it exists (kill(pid, 0)) and is not a zombie. A zombie has
 *  exited and only waits to be reaped; it never renews or releases a lease. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return processState(pid) !== 'Z';
}

/** The state letter of /proc/<pid>/stat (Linux), undefined where there is no /proc. The
 *  command name in field 2 may hold spaces and parentheses: the state follows its last ')'. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || undefined;
  } catch {
    return undefined;
  }
}

/** A lease record, or undefined when there is none. One that is not a lease is refused
 *  with its key: it was written by hand or by something else, and guessing could let two
 *  operations run on one volume. */
async function readLease(store: ObjectStore, key: string): Promise<LeaseRecord | undefined> {
  let raw: Buffer;
  try {
    raw = await store.get(key);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const hint = 'no blockvault wrote this object; if no operation is running on that volume, delete it';
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BlockvaultError(ErrorCodes.vaultDamaged, `lease ${key} is not valid JSON`, { hint, details: { object: key } });
  }
  return parseStored(LeaseRecordSchema, json, 'lease', key, { hint });
}

function ownerGone(rec: { host: string; pid: number }): boolean {
  return rec.host === os.hostname() && rec.pid !== process.pid && !processAlive(rec.pid);
}

/** Held now: not expired and, on this host, its process still runs. */
export function leaseIsLive(rec: LeaseRecord, now = Date.now()): boolean {
  return !isStale(rec, now);
}

function isStale(rec: LeaseRecord, now: number): boolean {
  return Date.parse(rec.expiresAt) < now || ownerGone(rec);
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
  // Enough rounds to clear a stale takeover marker, then the stale lease, then take it.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await store.put(key, Buffer.from(JSON.stringify(record)), { ifAbsent: true })) {
      return startRenewal(store, key, record, ttl);
    }
    const held = await readLease(store, key);
    if (held && !isStale(held, Date.now())) {
      const codes = busyCode(op, held.op);
      throw new BlockvaultError(
        codes.code,
        `volume ${scope} is busy: a ${held.op} started ${held.acquiredAt} on ${held.host} (pid ${held.pid}) is not finished`,
        {
          hint: `wait for it to finish (its lease expires ${held.expiresAt} if it died)`,
          details: { scope, heldBy: held, wanted: op, busy: true, vbsCode: codes.vbsCode, cbrCode: codes.cbrCode },
        },
      );
    }
    if (held) await takeOver(store, key, `${LEASE_PREFIX}${scope}.takeover-${held.leaseId}`, held.leaseId, record, ttl);
    record = make();
  }
  throw new BlockvaultError(ErrorCodes.volumeBusy, `could not take the lease on ${scope}: another process is taking it`, {
    hint: 'run again in a moment',
  });
}

/**
 * Removes a stale lease. The takeover marker is put-if-absent on the stale lease's own id,
 * so of two processes that both found it stale only one deletes it. The marker says who
 * is taking over and until when: a marker left by a taker that crashed is itself stale
 * once its owner is gone or its time has passed, and is then removed so the next attempt
 * can take the lease over (a crash mid-takeover never wedges the volume).
 */
async function takeOver(
  store: ObjectStore,
  key: string,
  marker: string,
  staleLeaseId: string,
  taker: LeaseRecord,
  ttl: number,
): Promise<void> {
  const mine: TakeoverRecord = {
    leaseId: taker.leaseId,
    host: taker.host,
    pid: taker.pid,
    expiresAt: new Date(Date.now() + ttl).toISOString(),
  };
  if (await store.put(marker, Buffer.from(JSON.stringify(mine)), { ifAbsent: true })) {
    // Delete the lease only if it is still the stale one (another taker may have finished).
    const now = await readLease(store, key).catch(() => undefined);
    if (now?.leaseId === staleLeaseId) await store.delete(key);
    await store.delete(marker);
    return;
  }
  if (await markerStale(store, marker, ttl)) await store.delete(marker);
}

/** True when a takeover marker's taker is gone (dead or zombie pid on this host), its time
 *  has passed, or it is not a record at all and older than the lease TTL (markers from
 *  before records, which held only the taker's id). */
async function markerStale(store: ObjectStore, marker: string, ttl: number): Promise<boolean> {
  let raw: Buffer;
  try {
    raw = await store.get(marker);
  } catch (e) {
    if (isNotFound(e)) return false; // the other taker finished: just retry
    throw e;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    json = undefined;
  }
  const rec = v.safeParse(TakeoverRecordSchema, json);
  if (rec.success) return Date.parse(rec.output.expiresAt) < Date.now() || ownerGone(rec.output);
  const info = await store.head(marker);
  return !info?.lastModified || Date.now() - info.lastModified.getTime() > ttl;
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
      // Still attempted after a cancel, under its own short bound (not the cancelled signal).
      await runCleanup(async () => {
        const held = await readLease(store, key).catch(() => undefined);
        if (held?.leaseId === current.leaseId) await store.delete(key);
      });
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
