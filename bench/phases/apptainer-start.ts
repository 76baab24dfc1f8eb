// Phase 10: Apptainer's start, `apptainer exec SIF true` with the SIF mounted with FUSE against
// unpacked to a temporary sandbox (APPTAINER_UNSQUASH=1, what a job does where FUSE is unusable).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runAs, shq } from '../../test/e2e/lib/stack';
import { handPull, median, mustRun, note, pct, Results, timeInterleaved, Workspace } from '../lib';

export function apptainerStart(ws: Workspace, results: Results): void {
  const cfg = ws.cfg;
  note(`phase 10: apptainer exec SIF true as ${cfg.user}, SIF mounted with FUSE vs unpacked (APPTAINER_UNSQUASH=1), ${cfg.trials} interleaved trials`);
  if (runAs(cfg.user, 'test -r /dev/fuse -a -w /dev/fuse').status !== 0) throw new Error(`phase 10 needs /dev/fuse usable by ${cfg.user} (the FUSE side)`);
  const dir = ws.sub('start');
  // The job's own settings: its APPTAINER_TMPDIR (where an unpacked image goes), the probe's SIF
  // in the home, the batch isolation flags. The job sets APPTAINER_UNSQUASH=1 where FUSE is unusable.
  const tmp = ws.sub('start/apptainer-tmp');
  const sif = path.join(dir, 'probe.sif');
  mustRun('apptainer pull', runAs(cfg.user, `sif=${shq(sif)}; ${handPull(ws, ws.env.probeImage)}`));
  const exec = `apptainer exec --no-eval --cleanenv --contain --net --network none ${shq(sif)} true`;
  const prelude = `export APPTAINER_TMPDIR=${shq(tmp)}`;
  // Each side must do what it says: only the unpacked one converts the SIF to a sandbox.
  const check = mustRun('apptainer exec', runAs(cfg.user, `${prelude}; ${exec} 2>&1 && echo '-- unpacked:' && APPTAINER_UNSQUASH=1 ${exec} 2>&1`)).stdout;
  const [fuseSaid = '', unpackedSaid = ''] = check.split('-- unpacked:');
  const converting = /Converting SIF file to temporary sandbox/;
  if (converting.test(fuseSaid) || !converting.test(unpackedSaid)) throw new Error(`apptainer did not mount with FUSE and unpack as asked:\n${check.slice(0, 2000)}`);
  let t;
  let start: NonNullable<Results['start']>;
  try {
    t = timeInterleaved({
      user: cfg.user,
      cwd: dir,
      trials: cfg.trials,
      prelude,
      cmds: [
        { name: 'fuse', cmd: `${exec} 2>/dev/null` },
        { name: 'unpacked', cmd: `APPTAINER_UNSQUASH=1 ${exec} 2>/dev/null` },
      ],
    });
  } finally {
    const left = fs.readdirSync(tmp);
    if (left.length) note(`phase 10: apptainer left ${left.join(' ')} in its APPTAINER_TMPDIR (removed)`);
    start = { sifBytes: fs.statSync(sif).size, tmpLeft: left.length };
    results.start = start;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const a = median(t.unpacked);
  const b = median(t.fuse);
  results.rows.push({ what: '10. `apptainer exec SIF true`, unpacked (APPTAINER_UNSQUASH) vs FUSE', a, b, ratio: a / b, target: 'informational', ok: null });
  Object.assign(start, { aP95: pct(t.unpacked, 95), bP95: pct(t.fuse, 95) });
}
