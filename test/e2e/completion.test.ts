// Completion on the real stack: alice submits a job, then in her own bash loads the completion
// script tre-job prints and presses TAB after `tre-job logs`: her new job's id is offered.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../helpers';
import { describeE2E, requireStack, runAs, shq, StackEnv } from './lib/stack';
import { finished, probeSpec, removeSpecs, submitAs } from './lib/tre';

jest.setTimeout(120000);

describeE2E('shell completion on the real stack', () => {
  let stack: StackEnv;
  // `tre-job` on alice's PATH, as an install puts it: the completion script calls it by name.
  const bin = mkdtempSync('/tmp/tre-e2e-bin-');
  beforeAll(() => {
    stack = requireStack() as StackEnv;
    chmodSync(bin, 0o755);
    writeFileSync(join(bin, 'tre-job'), `#!/bin/sh\nexec node ${shq(BIN)} "$@"\n`, { mode: 0o755 });
  });
  afterAll(() => {
    removeSpecs();
    rmSync(bin, { recursive: true, force: true });
  });

  it("offers alice's new job id for `tre-job logs <TAB>`", async () => {
    const submitted = submitAs('alice', stack, probeSpec(stack));
    // What bash does on TAB: COMP_WORDS and COMP_CWORD set, then the function `complete -p` names.
    const session = [
      `export PATH=${shq(bin)}:$PATH`,
      'source <(tre-job completion bash)',
      'complete -p tre-job',
      "COMP_WORDS=(tre-job logs ''); COMP_CWORD=2; COMP_LINE='tre-job logs '; COMP_POINT=13",
      '_tre_job',
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const result = runAs('alice', `bash -c ${shq(session)}`);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const [registration, ...offered] = result.stdout.trim().split('\n');
    expect(registration).toBe('complete -F _tre_job tre-job');
    expect(offered).toContain(submitted.jobId);
    expect(offered.every((word) => /^[0-9]+(_[0-9]+)?$/.test(word))).toBe(true);
    await finished(submitted);
  });
});
