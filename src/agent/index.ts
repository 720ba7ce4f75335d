// The HTTP agent (`blockvault serve`): the job model over HTTP. Above jobs, beside the CLI.
export { startAgent, untilSignal, DEFAULT_LISTEN, DEFAULT_MAX_JOBS, DEFAULT_SHUTDOWN_MS, type Agent, type AgentOptions } from './server.js';
export { loadToken, checkAuthConfig, isLoopback, TOKEN_ENV, MIN_TOKEN_LENGTH } from './auth.js';
export { JOB_TYPE_TABLE, checkJobBody, type JobTypeEntry } from './job-types.js';
export type { ServiceBackup } from './backup-view.js';
export type { ErrorBody } from './http-errors.js';
