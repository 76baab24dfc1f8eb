// Unprivileged Apptainer: `apptainer pull` to $HOME/NAME:TAG.sif (the token in the pull's
// environment only), `apptainer run` with --bind mounts and APPTAINERENV_* values. No daemon and
// no container name: what a killed job leaves is its temporary directory and a partial SIF.
import { LEDGER, STATE_DIRS } from '../contract';
import { rmSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { RuntimeDriver } from './driver';
import { colonParts, csvFields, mountOption } from './mount-syntax';
import { cliFacts } from './options';

/** The ledger entries of this runtime, each checked to be the job's own before it is removed. */
const OWN_PATHS: Record<string, (what: string, home: string) => boolean> = {
  // The job's APPTAINER_TMPDIR ($HOME/.tre-job/tmp/JOBID).
  [LEDGER.tmpdir]: (what, home) => what === join(home, STATE_DIRS.tmp, basename(what)) && /^[0-9]+$/.test(basename(what)),
  // A SIF a killed pull left half-written ($HOME/NAME:TAG.sif.part-JOBID).
  [LEDGER.sifpart]: (what, home) => what === join(home, basename(what)) && /\.sif\.part-[0-9]+$/.test(what),
};

export const apptainer: RuntimeDriver = {
  name: 'apptainer',
  ...cliFacts('apptainer'),
  mountsOf(parsed, value) {
    const { option, field, written } = parsed;
    switch (option.long) {
      case '--mount':
        return mountOption(parsed, ['bind']);
      case '--bind': // a comma list (pflag reads it as CSV), each src[:dst[:opts]]
        return csvFields(value, field, written).map((spec) => {
          const [source = '', target] = colonParts(spec, 3, field, written);
          return { source, target: target ?? source };
        });
      case '--home': {
        const [source = '', target] = colonParts(value, 2, field, written);
        return [{ source, target: target ?? source }];
      }
      case '--overlay': // PATH[:ro], a comma list
        return csvFields(value, field, written).map((spec) => ({ source: colonParts(spec, 2, field, written)[0] as string, target: '/' }));
      case '--workdir': // seen as /tmp and /var/tmp
        return [{ source: value, target: '/tmp' }];
      case '--scratch':
        return csvFields(value, field, written).map((target) => ({ source: null, target }));
      default:
        return [];
    }
  },
  templateData: (job) => ({
    // Apptainer refuses a reference with both a tag and a digest: a pinned image is pulled by digest.
    imageUri: `docker://${job.pinnedRef ?? job.pullRef}`,
    pinnedRef: job.pinnedRef ?? null,
    sifName: `${job.jobName}.sif`,
    reuseSif: job.reuseSif,
  }),
  reclaim(kind, what, home) {
    if (!OWN_PATHS[kind]?.(what, home) || !existsSync(what)) return null;
    rmSync(what, { recursive: true, force: true });
    return what;
  },
  removeTree(path) {
    rmSync(path, { recursive: true, force: true });
  },
};
