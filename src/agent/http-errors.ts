// Every error the agent answers, in both of the service's envelopes at once: VBS reads
// `error.code` / `error.message`, CBR reads `error_code` / `error_msg` (contract §5). The
// engine's own code, the hint and the details ride along.
import { BlockvaultError, ErrorCodes, isBusy, serviceCodes, type ServiceOp } from '../errors.js';

export interface ErrorBody {
  error: { code: string; message: string; engine_code: string; hint?: string; field?: string; [k: string]: unknown };
  error_code: string;
  error_msg: string;
}

export class HttpError extends Error {
  readonly statusCode: number;
  readonly body: ErrorBody;
  constructor(statusCode: number, body: ErrorBody) {
    super(body.error.message);
    this.statusCode = statusCode;
    this.body = body;
  }
}

export function errorBody(vbsCode: string, cbrCode: string, message: string, extra: Record<string, unknown> = {}): ErrorBody {
  return { error: { code: vbsCode, message, engine_code: vbsCode, ...extra }, error_code: cbrCode, error_msg: message };
}

/** A body that failed its schema: 400, the field named; the service's codes for the fields it has them for. */
export function badField(field: string, message: string): HttpError {
  const text = field === '(body)' ? message : `${field}: ${message}`;
  const missing = message === 'is required';
  const vbs =
    field === '(body)'
      ? 'VolumeBackup.0210'
      : field === 'volume_id'
        ? missing
          ? 'VolumeBackup.0010'
          : 'VolumeBackup.0011'
        : field === 'backup_id'
          ? missing
            ? 'VolumeBackup.0203'
            : 'VolumeBackup.0204'
          : 'VolumeBackup.0002';
  return new HttpError(400, errorBody(vbs, 'BackupService.9900', text, { engine_code: ErrorCodes.badInput, field }));
}

/** 401. VBS documents no code for it (authentication is IAM's, contract §5.3): the engine's own; CBR's 9998. */
export function unauthorized(why: string): HttpError {
  return new HttpError(401, errorBody('BV.Unauthorized', 'BackupService.9998', why, { hint: 'send Authorization: Bearer <token>' }));
}

/** The HTTP status of an engine failure: not found 404, bad input 400, busy 409, the rest 500. */
export function statusOf(err: BlockvaultError): number {
  switch (err.code) {
    case ErrorCodes.jobNotFound:
    case ErrorCodes.backupNotFound:
    case ErrorCodes.notFound:
      return 404;
    case ErrorCodes.badInput:
    case ErrorCodes.targetExists:
    case ErrorCodes.targetTooSmall:
    case ErrorCodes.submitFailed:
      return 400;
    default:
      return isBusy(err) ? 409 : 500;
  }
}

/** Any error thrown while answering, as the HTTP error the client gets. */
export function toHttpError(e: unknown, op?: ServiceOp): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof BlockvaultError) {
    const { vbsCode, cbrCode } = serviceCodes(e, op);
    return new HttpError(statusOf(e), errorBody(vbsCode, cbrCode, e.message, { engine_code: e.code, ...(e.hint ? { hint: e.hint } : {}), ...e.details }));
  }
  const message = e instanceof Error ? e.message : String(e);
  return new HttpError(500, errorBody('AutoBackup.0009', 'BackupService.9910', `internal error: ${message}`, { engine_code: 'BV.Internal' }));
}
