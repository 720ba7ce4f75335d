// s3://bucket[/prefix]: the one way to name an S3 vault. Anything else that starts with
// "s3:" is refused (a single slash once made a local directory named "s3:").
import { ErrorCodes } from '../../errors.js';
import { StoreError } from '../store-errors.js';

export interface S3Location {
  bucket: string;
  /** '' or ends with '/'. */
  prefix: string;
}

// 3-63 characters; lower-case letters, digits, dots, hyphens (and underscores, which older
// buckets and self-hosted servers allow); starting and ending with a letter or digit.
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

function refuse(url: string, why: string, hint: string): StoreError {
  return new StoreError('badRequest', `not a valid S3 vault URL ${JSON.stringify(url)}: ${why}`, {
    code: ErrorCodes.badInput,
    hint,
    details: { url },
  });
}

/** s3://bucket[/prefix] → { bucket, prefix } with the prefix ending in '/'. */
export function parseS3Url(url: string): S3Location {
  const s = url.trim();
  if (!s.startsWith('s3://')) {
    throw refuse(url, 'it must start with s3:// (two slashes)', 'write it as s3://bucket or s3://bucket/some/prefix');
  }
  const rest = s.slice(5);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!bucket) throw refuse(url, 'no bucket name after s3://', 'write it as s3://bucket or s3://bucket/some/prefix');
  if (/[?#]/.test(rest)) throw refuse(url, 'query strings and fragments have no meaning here', 'write it as s3://bucket/some/prefix');
  if (!BUCKET.test(bucket)) {
    throw refuse(url, `"${bucket}" is not a bucket name`, 'bucket names are 3-63 characters: lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit');
  }
  let prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/\/{2,}/g, '/').replace(/^\//, '');
  if (prefix.split('/').some((p) => p === '.' || p === '..')) {
    throw refuse(url, 'the prefix may not contain "." or ".." parts', 'write it as s3://bucket/some/prefix');
  }
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  return { bucket, prefix };
}
