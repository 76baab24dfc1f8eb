// gc's credentials sweep: a token stays while a job that may still pull uses its directory, and
// goes once none does. A COMPLETING job's script has ended (its Epilog runs then): it pulls no
// more, so the last tasks of an array, ending together, do not keep the array's token for each other.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBin, tempDir, writeYaml } from '../helpers';

describe('gc: the credentials sweep', () => {
  const uid = process.getuid?.() ?? 0;
  const sweep = (states: string[]) => {
    const dir = tempDir();
    const home = join(dir.path, 'home');
    const jobDir = join(home, 'tre-jobs', 'array');
    mkdirSync(jobDir, { recursive: true });
    mkdirSync(join(home, '.tre-job', 'credentials'), { recursive: true });
    writeFileSync(join(jobDir, 'credentials'), 'tok\n', { mode: 0o600 });
    writeFileSync(join(home, '.tre-job', 'credentials', jobDir.replace(/\//g, '%')), '77\n');
    // Slurm's lines for an array's tasks (and the pending rest), run in the job directory.
    const lines = states.map((state, task) => `JobId=${100 + task} ArrayJobId=77 ArrayTaskId=${task} JobState=${state} UserId=u(${uid}) WorkDir=${jobDir} StdOut=${jobDir}/output-${task}.log`);
    const scontrol = join(dir.path, 'scontrol');
    writeFileSync(scontrol, `#!/bin/bash\ncat <<'END'\n${lines.join('\n')}\nEND\n`);
    chmodSync(scontrol, 0o755);
    const site = writeYaml(dir.path, 'site.yaml', { registries: [{ host: 'ghcr.io' }], scontrol });
    const result = runBin(['gc', '--site', site], { env: { ...process.env, HOME: home } });
    const kept = existsSync(join(jobDir, 'credentials'));
    dir.remove();
    return { result, kept };
  };

  it.each([
    [['COMPLETED', 'COMPLETING', 'COMPLETING'], false],
    [['COMPLETED', 'CANCELLED', 'COMPLETING'], false],
    [['COMPLETED', 'RUNNING', 'COMPLETING'], true],
    [['COMPLETING', 'PENDING'], true],
    [['REQUEUED', 'COMPLETED'], true],
  ])('tasks %j: token kept %s', (states, kept) => {
    const out = sweep(states as string[]);
    expect(out.result.status).toBe(0);
    expect(out.kept).toBe(kept);
    if (!kept) expect(out.result.stdout).toMatch(/^credentials of jobs that ended before they pulled: removed \S+\/credentials\n$/);
  });
});
