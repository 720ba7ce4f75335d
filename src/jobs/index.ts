// The job model: long operations that any process on any host can follow and stop.
export { Job, type JobOptions, type JobProgress, type JobDone } from './job.js';
export {
  startJob,
  startBackup,
  startRestore,
  startDelete,
  startPrune,
  startGc,
  startVerify,
  type StartJobOptions,
  type StartBackupOptions,
  type StartRestoreOptions,
  type StartDeleteOptions,
  type StartPruneOptions,
  type StartGcOptions,
  type StartVerifyOptions,
  type DeleteJobResult,
} from './start.js';
export { getJob, listJobs, cancelJob, sweepJobs, DEFAULT_KEEP_FINISHED_MS, type ListJobsOptions, type ReadJobOptions } from './registry.js';
export { backupStates, type ResolvedBackupState } from './backup-records.js';
export { JobKeys } from './keys.js';
export {
  JOB_STATUSES,
  OPERATION_STATUSES,
  JOB_TYPES,
  BACKUP_STATES,
  type JobRecord,
  type JobStatus,
  type OperationStatus,
  type JobType,
  type BackupStatus,
  type BackupStateRecord,
} from './schemas.js';
