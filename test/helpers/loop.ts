// Whether this machine can run the loop-device tests, and if not, the reason they skip.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { nativeAvailable, nativeUnavailableReason } from '../../src/native/block-device.js';

export function loopUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `loop devices need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'loop devices need root (losetup)';
  if (spawnSync('losetup', ['--version']).status !== 0) return 'losetup is not installed (util-linux)';
  if (!existsSync('/dev/loop-control')) return '/dev/loop-control is missing (no loop driver)';
  if (!nativeAvailable()) return nativeUnavailableReason();
  return undefined;
}
