// The agent's bearer token: where it comes from, when the agent refuses to start without
// one, and the constant-time check of every request's Authorization header.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { BlockvaultError, ErrorCodes } from '../errors.js';

export const TOKEN_ENV = 'BLOCKVAULT_TOKEN';

/** Shortest token accepted: a guessable one is worse than none, since it looks safe. */
export const MIN_TOKEN_LENGTH = 16;

/** The token: --token-file (its first line), else $BLOCKVAULT_TOKEN; undefined when neither. */
export function loadToken(opts: { tokenFile?: string; env?: NodeJS.ProcessEnv }): string | undefined {
  let token: string | undefined;
  if (opts.tokenFile) {
    let text: string;
    try {
      text = readFileSync(opts.tokenFile, 'utf8');
    } catch (e) {
      throw new BlockvaultError(ErrorCodes.badInput, `cannot read --token-file ${opts.tokenFile}: ${(e as Error).message}`, {
        hint: 'give a file whose first line is the token (e.g. openssl rand -hex 32 > token)',
        details: { path: opts.tokenFile },
      });
    }
    token = text.split('\n')[0]!.trim();
    if (!token) throw new BlockvaultError(ErrorCodes.badInput, `--token-file ${opts.tokenFile} is empty`, { hint: 'write the token on its first line' });
  } else {
    token = (opts.env ?? process.env)[TOKEN_ENV]?.trim() || undefined;
  }
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new BlockvaultError(ErrorCodes.badInput, `the agent's token is ${token.length} characters; it needs at least ${MIN_TOKEN_LENGTH}`, {
      hint: 'make one with `openssl rand -hex 32`',
    });
  }
  return token;
}

/** 127.0.0.0/8, ::1 and localhost: reachable from this host only. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * The rule: a token is always required, unless `noAuth` is given explicitly and the address
 * is loopback. A non-loopback address without a token is refused whatever the flags say.
 */
export function checkAuthConfig(host: string, token: string | undefined, noAuth: boolean): void {
  if (token !== undefined && noAuth) {
    throw new BlockvaultError(ErrorCodes.badInput, '--no-auth and a token (--token-file or $BLOCKVAULT_TOKEN) exclude each other', {
      hint: 'drop one of them',
    });
  }
  if (token !== undefined) return;
  if (!isLoopback(host)) {
    throw new BlockvaultError(ErrorCodes.badInput, `refusing to listen on ${host} without a token: anyone who reaches it could run and cancel jobs`, {
      hint: `give --token-file FILE or set ${TOKEN_ENV} (at least ${MIN_TOKEN_LENGTH} characters), or listen on 127.0.0.1`,
      details: { listen: host },
    });
  }
  if (!noAuth) {
    throw new BlockvaultError(ErrorCodes.badInput, 'the agent needs a token, even on a loopback address', {
      hint: `give --token-file FILE or set ${TOKEN_ENV}; on 127.0.0.1 only, --no-auth turns the check off`,
    });
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** A checker of `Authorization: Bearer <token>` in constant time (digests of equal length). */
export function bearerChecker(token: string): (header: string | undefined) => boolean {
  const want = digest(token);
  return (header) => {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
    const got = digest(m?.[1] ?? '');
    return timingSafeEqual(want, got) && m !== null;
  };
}
