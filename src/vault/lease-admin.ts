// Operator views of the lease records lease.ts keeps under leases/: list them (held, stale,
// or a takeover marker left by a crash) and break one by hand. Reads the records lease.ts
// writes; never takes a lease itself.
import os from 'node:os';
import { BlockvaultError, ErrorCodes } from '../errors.js';
import { isNotFound, type ObjectStore } from '../store/object-store.js';
import { LEASE_PREFIX, processAlive, type LeaseRecord } from './lease.js';

export type LeaseState = 'held' | 'expired' | 'dead-process' | 'unreadable';

export interface LeaseEntry {
  /** The volume id, or "vault" for vault-wide work (GC). */
  scope: string;
  key: string;
  state: LeaseState;
  /** The record as written, when it parses. */
  record?: LeaseRecord;
  /** Takeover markers beside it (left when a process died while taking it over). */
  markers: string[];
}


/** held, or why it is no longer: past its expiry, or its process (on this host) is gone. */
export function leaseState(rec: LeaseRecord, now = Date.now()): LeaseState {
  if (!(Date.parse(rec.expiresAt) >= now)) return 'expired';
  if (rec.host === os.hostname() && !processAlive(rec.pid)) return 'dead-process';
  return 'held';
}

function scopeOf(key: string): { scope: string; marker: boolean } | undefined {
  const name = key.slice(LEASE_PREFIX.length);
  if (name.endsWith('.json')) return { scope: name.slice(0, -'.json'.length), marker: false };
  const m = /^(.*)\.takeover-[^/]+$/.exec(name);
  return m ? { scope: m[1]!, marker: true } : undefined;
}

/** Every lease record in the vault, sorted by scope. */
export async function listLeases(store: ObjectStore, now = Date.now()): Promise<LeaseEntry[]> {
  const byScope = new Map<string, LeaseEntry>();
  const entry = (scope: string) => {
    let e = byScope.get(scope);
    if (!e) byScope.set(scope, (e = { scope, key: `${LEASE_PREFIX}${scope}.json`, state: 'unreadable', markers: [] }));
    return e;
  };
  const records: string[] = [];
  for await (const o of store.list(LEASE_PREFIX)) {
    const s = scopeOf(o.key);
    if (!s) continue;
    if (s.marker) entry(s.scope).markers.push(o.key);
    else records.push(o.key);
  }
  await Promise.all(
    records.map(async (key) => {
      const e = entry(scopeOf(key)!.scope);
      try {
        const rec = JSON.parse((await store.get(key)).toString('utf8')) as LeaseRecord;
        e.record = rec;
        e.state = leaseState(rec, now);
      } catch (err) {
        if (isNotFound(err)) {
          if (!e.markers.length) byScope.delete(e.scope); // released since the listing
          return;
        }
        if (!(err instanceof SyntaxError)) throw err;
      }
    }),
  );
  // A marker without its lease record: the record is gone, only the marker is left.
  for (const e of byScope.values()) if (!e.record && e.markers.length && e.state === 'unreadable') e.state = 'expired';
  return [...byScope.values()].sort((a, b) => a.scope.localeCompare(b.scope));
}

export interface BreakResult {
  scope: string;
  /** The record that was removed, if it could be read. */
  removed?: LeaseRecord;
  removedKeys: string[];
}

/**
 * Removes the lease on scope and its takeover markers, whatever their state. The process that
 * held it (if alive) loses its guarantee of being alone: only break a lease you know is dead.
 */
export async function breakLease(store: ObjectStore, scope: string): Promise<BreakResult> {
  const entries = await listLeases(store);
  const e = entries.find((x) => x.scope === scope);
  if (!e) {
    throw new BlockvaultError(ErrorCodes.notFound, `no lease on ${JSON.stringify(scope)} in ${store.url}`, {
      hint: `list the leases with \`blockvault locks\`${entries.length ? ` (held now: ${entries.map((x) => x.scope).join(', ')})` : ''}`,
      details: { scope },
    });
  }
  const keys = [...e.markers, ...(e.record || e.state === 'unreadable' ? [e.key] : [])];
  for (const key of keys) {
    try {
      await store.delete(key);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return { scope, removed: e.record, removedKeys: keys };
}
