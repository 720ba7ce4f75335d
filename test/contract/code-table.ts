// Every data-plane code of the contract's §5.1/§5.2, accounted for: produced by a situation
// (codes.test.ts makes each one happen), mapped but not reproducible on this machine, or
// never produced by the data plane, with the reason. README "Service error codes" has the
// same table in prose.

export type CodeEntry = { produced: string } | { mapped: string; untested: string } | { never: string };

const never = (reason: string, codes: string[]): Record<string, CodeEntry> =>
  Object.fromEntries(codes.map((c) => [c, { never: reason }]));
const vb = (...n: string[]) => n.map((x) => `VolumeBackup.${x}`);
const bs = (...n: string[]) => n.map((x) => `BackupService.${x}`);
const ab = (...n: string[]) => n.map((x) => `AutoBackup.${x}`);

export const PRODUCED: Record<string, CodeEntry> = {
  'common.0011': { produced: 'getJob/cancelJob of a job id with no record' },
  'VolumeBackup.p.0014': { produced: 'a job type this version has not (copy/export), or gc while gc runs' },
  'VolumeBackup.0010': { produced: 'an empty volume id' },
  'VolumeBackup.0011': { produced: 'a volume id the engine cannot use' },
  'VolumeBackup.0012': { produced: 'a backup while the volume is being restored, deleted or pruned' },
  'VolumeBackup.0013': { produced: 'a backup, delete or prune while a backup holds the volume' },
  'VolumeBackup.0021': { produced: 'a backup of a source that does not exist' },
  'VolumeBackup.0027': { produced: 'a backup that failed: store error, cancelled, input changed, damaged parent data' },
  'VolumeBackup.0081': { produced: "a backup that fills the vault's disk" },
  'VolumeBackup.0089': { produced: 'a restore of a backup being deleted, still creating, or failed' },
  'VolumeBackup.0111': { produced: 'a restore/show/delete of an unknown backup' },
  'VolumeBackup.0125': { produced: 'a delete that failed (store unreachable), or a delete/prune while a restore, delete or prune holds the volume' },
  'VolumeBackup.0200': { produced: 'a restore that failed (corrupt or missing chunk, store error)' },
  'VolumeBackup.0205': { produced: 'a restore to a target that exists, is in use, or whose volume is being restored' },
  'VolumeBackup.0206': { produced: 'a restore while a backup holds the volume' },
  'VolumeBackup.0209': { produced: 'a restore to a block device smaller than the volume' },
  'BackupService.0002': { produced: 'a backup while a backup holds the volume' },
  'BackupService.2001': { produced: 'a restore to a block device smaller than the volume' },
  'BackupService.2002': { produced: 'a restore while a backup holds the volume' },
  'BackupService.2005': { produced: 'a restore of a backup being deleted, still creating, or failed' },
  'BackupService.2010': { produced: 'a restore or a backup while a restore holds the volume' },
  'BackupService.2011': { produced: 'a restore to a target that exists or is in use' },
  'BackupService.6113': { produced: 'a backup into a vault of a newer or unknown format' },
  'BackupService.6114': { produced: "a backup that fills the vault's disk" },
  'BackupService.6125': { produced: 'a delete or prune while a backup holds the volume' },
  'BackupService.6200': { produced: 'a restore/show/delete of an unknown backup' },
  'BackupService.6201': { produced: 'a delete or prune while a delete or prune holds the volume' },
  'BackupService.6202': { produced: 'a restore from a vault of a newer or unknown format' },
  'BackupService.6215': { produced: 'a backup while a delete or prune holds the volume' },
  'BackupService.6216': { produced: 'a delete or prune while a restore holds the volume' },
  'BackupService.6501': { produced: 'getJob/cancelJob of a job id with no record' },
  'BackupService.7000': { produced: 'a backup of a source that does not exist' },
  'BackupService.9900': { produced: 'bad input: volume id, retention policy, full backup interval, job type' },
  'BackupService.9910': { produced: 'any failure the service has no specific code for (store, cancel, damaged data)' },
  'VolumeBackup.0051': { mapped: 'a block device backed up or restored without the native block-device addon', untested: 'the addon is built on this machine' },
  'BackupService.7004': { mapped: 'a block device backed up or restored without the native block-device addon', untested: 'the addon is built on this machine' },
};

export const NEVER: Record<string, CodeEntry> = {
  ...never('snapshots are the control plane\'s: the engine reads the snapshot it is given and records snapshot_id as given; it never creates, queries, checks or deletes one', [
    ...vb('0017', '0018', '0019', '0020', '0037', '0062', '0077', '0078', '0079', '0084', '0101', '0109'),
    ...bs('7202', '7203', '7204', '8300'),
    ...ab('0217'),
  ]),
  ...never('no temporary disk: the engine reads the source path or device it is given', vb('0022', '0023', '0024', '0025', '0038', '0063')),
  ...never("failures of the control plane's own API calls and request parsing (cinder/FSP queries, request bodies, null responses); the engine is a library call that returns a result or a coded error", [
    ...vb('0028', '0029', '0030', '0035', '0036', '0039', '0043', '0064', '0070', '0100', '0102', '0103', '0104', '0105', '0110', '0123', '0201', '0203', '0204', '0207', '0208', '0210', '0900'),
  ]),
  ...never('no count or capacity quota model: the control plane owns quotas; the engine reports sizes and counts (list, show, stats) and a full vault disk (0081/6114)', [
    ...vb('0040', '0071', '0072', '0073', '0074', '0075', '0076', '0080', '0082', '0083'),
    ...ab('0218'),
    ...bs('6101', '6107', '6123', '6142', '6129'),
  ]),
  ...never('disk types, pods, disk status and DR sites are not known to the data plane; the control plane checks them before it calls', [
    ...vb('0053', '0202', '0211'),
    ...bs('2009', '6140', '6141', '7001', '7002', '7003', '7007', '7008'),
  ]),
  ...never('servers (ECS/BMS), their state, OS, architecture and system disks are not known to the data plane; it backs up and restores one volume', [
    ...bs('0001', '2003', '2006', '2007', '2008', '2012', '2013', '2014', '2015', '6137', '7100', '7101', '7102', '7103', '7104', '7105', '7106', '7107', '7108', '7109', '7110', '7111', '7113', '7114', '7115', '7117', '7200', '7201'),
  ]),
  ...never('no replication or migration in the data plane; copy/export jobs will add their codes', [
    ...bs('1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008', '1009', '1011', '1012', '1013', '2004', '4001', '4002', '4003', '4004', '4005', '4006', '4007', '6118', '6119', '6120', '6122', '6130', '6205'),
  ]),
  ...never('no image registration, sharing, vault lock or lazy loading: nothing can block a delete but a busy volume', [
    ...vb('0113', '0129'),
    ...bs('6204', '6206', '6207', '6208', '6209', '6210', '6211', '6212', '6213', '6214', '6220', '6702', '6709', '6710', '7009'),
  ]),
  ...never('vault, checkpoint, provider and operation-log management belong to the control plane (the engine has one vault per call and no checkpoint or op-log records of its own)', [
    ...bs('6112', '6115', '6121', '6132', '6134', '6217', '6300', '6301', '6302', '6500', '7300', '7301', '7302'),
  ]),
  ...never('6125 (a backup task in progress) and 0002 (resources being backed up) already cover a busy volume; the docs give no rule that would pick 6203 instead', bs('6203')),
  ...never('the engine does not create or configure buckets beyond the optional create-bucket of a new vault, whose failure is a store error (9910 with the S3 error in fail_reason)', bs('6400', '6401', '6402', '6403', '6404', '6405', '6406', '6407', '6408')),
  ...never('backup-policy service errors: the control plane runs policies; the engine applies a retention policy it is given (bad policies are 9900 with AutoBackup.0105/0107/0108)', ab('0009', '0206', '0210', '0220', '0225')),
};

export const CODE_TABLE: Record<string, CodeEntry> = { ...NEVER, ...PRODUCED };
