'use strict';
// Loads the compiled addon. Throws when it was not built (its install script tolerates a failed
// build so that blockvault installs anyway); blockvault's loader (src/native/block-device.ts)
// turns that into a clear "unsupported" error when a block-device function is called.
const path = require('node:path');

const candidates = [
  path.join(__dirname, 'build', 'Release', 'blockvault_native.node'),
  path.join(__dirname, 'build', 'Debug', 'blockvault_native.node'),
];

let loaded;
for (const file of candidates) {
  try {
    loaded = require(file);
    break;
  } catch (err) {
    // A file that exists but fails to load (wrong architecture, missing symbol): say so as is.
    if (!err || err.code !== 'MODULE_NOT_FOUND') throw err;
  }
}
if (loaded === undefined) {
  throw Object.assign(
    new Error(`@blockvault/native is not built: ${candidates[0]} is missing (its install script could not compile it)`),
    { code: 'MODULE_NOT_FOUND' },
  );
}
module.exports = loaded;
