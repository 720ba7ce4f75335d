// Every key the job model writes in a vault (to move into src/vault/layout.ts, beside the
// others, at merge); nothing else in src/jobs builds a key by hand.
import { Layout } from '../vault/layout.js';

export const JobKeys = {
  jobPrefix: 'jobs/',
  /** The job's record: status, progress, entities, error, heartbeat. */
  jobKey(jobId: string): string {
    return `jobs/${jobId}.json`;
  },
  /** A cancellation request: its presence asks the running job to stop. */
  cancelKey(jobId: string): string {
    return `jobs/${jobId}.cancel`;
  },
  jobIdFromKey(key: string): string | undefined {
    const m = /^jobs\/([^/]+)\.json$/.exec(key);
    return m?.[1];
  },
  recordPrefix: 'records/',
  /** A backup's state while it is not simply available (creating, error, restoring, deleting). */
  backupRecordKey(volumeId: string, backupId: string): string {
    return `records/${volumeId}/${backupId}.json`;
  },
  /** The volume lease a job's operation holds (read only, to find dead jobs). */
  leaseKey(scope: string): string {
    return Layout.leaseKey(scope);
  },
};

const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isValidJobId(id: string): boolean {
  return JOB_ID.test(id);
}
