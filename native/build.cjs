'use strict';
// The package's install script: builds the addon (block-device ioctls, AES-GCM in place) with node-gyp (npm puts its own
// node-gyp on PATH for install scripts, and names it in npm_config_node_gyp). A failed build
// never fails the install: image files work without the addon; block devices then report
// BV.Unsupported with how to build it, and encryption uses node:crypto (same bytes, more CPU). BLOCKVAULT_SKIP_NATIVE=1 skips the build.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

if (process.env.BLOCKVAULT_SKIP_NATIVE === '1') process.exit(0);
if (process.platform !== 'linux') {
  console.warn(`blockvault: native addon not built (block devices need Linux; this is ${process.platform}); image files work`);
  process.exit(0);
}
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: __dirname, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').slice(-3).join(' | ');
  console.warn(
    `blockvault: native addon not built, block devices unavailable (image files work; encryption uses node:crypto): ${why}\n` +
      `  to build it later: install python3, make and a C compiler, then run \`npm rebuild blockvault\``,
  );
}
process.exit(0);
