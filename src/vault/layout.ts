// Every key, prefix and lease scope of a vault, in one place (the same on a directory and
// in a bucket). Nothing else spells a key out; a new part adds its prefix here.
//
//   config                               vault config (format, block size, hash key)
//   chunks/<hh>/<64 hex>                 chunk objects, content-addressed, immutable
//   index/<name>.idx                     chunk index segments
//   manifests/<volume>/<backup>.bvm      one manifest per backup, written last
//   leases/<scope>.json                  one operation per volume ("vault-gc" for GC)
//   gc/condemned-<run>.json              chunks a GC run left for a later run
//   keys/<id>.json                       encrypted vaults: one way into a key domain (crypto/key-record.ts)
import { idToHex } from '../chunk/identity.js';
import { KEY_PREFIX, keyRecordKey } from '../crypto/key-record.js';

const CHUNK_KEY = /^chunks\/([0-9a-f]{2})\/([0-9a-f]{64})$/;
const MANIFEST_SUFFIX = '.bvm';
const INDEX_SUFFIX = '.idx';
const CONDEMNED_SUFFIX = '.json';

export const Layout = {
  config: 'config',

  chunkPrefix: 'chunks/',
  chunkKey(id: Uint8Array): string {
    const hex = idToHex(id);
    return `chunks/${hex.slice(0, 2)}/${hex}`;
  },
  /** The chunk id (hex) a key names, or undefined for any other key. */
  chunkHexFromKey(key: string): string | undefined {
    const m = CHUNK_KEY.exec(key);
    return m && m[1] === m[2]!.slice(0, 2) ? m[2] : undefined;
  },
  chunkIdFromKey(key: string): Buffer | undefined {
    const hex = Layout.chunkHexFromKey(key);
    return hex === undefined ? undefined : Buffer.from(hex, 'hex');
  },

  indexPrefix: 'index/',
  indexSegmentKey(name: string): string {
    return `index/${name}${INDEX_SUFFIX}`;
  },
  isIndexSegmentKey(key: string): boolean {
    return key.startsWith('index/') && key.endsWith(INDEX_SUFFIX);
  },

  manifestPrefix: 'manifests/',
  manifestVolumePrefix(volumeId: string): string {
    return `manifests/${volumeId}/`;
  },
  manifestKey(volumeId: string, backupId: string): string {
    return `manifests/${volumeId}/${backupId}${MANIFEST_SUFFIX}`;
  },
  isManifestKey(key: string): boolean {
    return key.startsWith('manifests/') && key.endsWith(MANIFEST_SUFFIX);
  },
  /** The backup id a manifest key names (its file name without .bvm). */
  backupIdFromManifestKey(key: string): string {
    return key.slice(key.lastIndexOf('/') + 1, -MANIFEST_SUFFIX.length);
  },

  leasePrefix: 'leases/',
  leaseKey(scope: string): string {
    return `leases/${scope}.json`;
  },

  condemnedPrefix: 'gc/condemned-',
  condemnedKey(runId: string): string {
    return `gc/condemned-${runId}${CONDEMNED_SUFFIX}`;
  },
  isCondemnedKey(key: string): boolean {
    return key.startsWith('gc/condemned-') && key.endsWith(CONDEMNED_SUFFIX);
  },

  /** Key records of an encrypted vault (public JSON; the keyring reads and writes them). */
  keyPrefix: KEY_PREFIX,
  keyRecordKey,

  /** GC's vault-wide lease scope; index consolidation takes it too. */
  gcLeaseScope: 'vault-gc',
} as const;
