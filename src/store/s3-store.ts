// The S3 store, split by job under src/store/s3/: url, options, client, errors, attempts
// (time bounds and retries), adaptive-limit, conditional-write, store. This module keeps the
// names importers already use.
export { S3Store } from './s3/store.js';
export { parseS3Url, type S3Location } from './s3/url.js';
export { S3_DEFAULTS, S3_DEFAULT_BLOCKS_IN_FLIGHT, type S3RetryEvent, type S3StoreOptions } from './s3/options.js';
