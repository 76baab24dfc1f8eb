// Job arrays, at submit time: the spec's `array`, its bad input (one line naming the field, exit
// 2, nothing written or submitted) and what a good one writes (sbatch options, logs, items).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBin, runCliUnchecked, SHIM_BIN, tempDir, writeYaml } from '../helpers';

const GOOD = { image: 'ghcr.io/mikej888/hello-tre:1.0' };

interface Case {
  name: string;
  array?: unknown;
  spec?: Record<string, unknown>;
  /** itemsFile's content, written beside the spec as items.txt. */
  itemsFile?: string | Buffer;
  site?: Record<string, unknown>;
  error: string;
}

const cases: Case[] = [
  { name: 'neither count nor items', array: { parallel: 2 }, error: 'array: give one of count, items or itemsFile, e.g. count: 10' },
  { name: 'both count and items', array: { count: 2, items: ['a'] }, error: 'array: give only one of count, items and itemsFile (got count and items)' },
  { name: 'items and itemsFile', array: { items: ['a'], itemsFile: 'items.txt' }, itemsFile: 'a\n', error: 'array: give only one of count, items and itemsFile (got items and itemsFile)' },
  { name: 'an empty items list', array: { items: [] }, error: 'array.items: must list at least one item' },
  { name: 'an empty item', array: { items: ['a', ''] }, error: 'array.items.1: must not be empty' },
  { name: 'a newline in an item', array: { items: ['a', 'b\nc'] }, error: 'array.items.1: must not contain a newline' },
  { name: 'a carriage return in an item', array: { items: ['a\rb'] }, error: 'array.items.0: must not contain a newline' },
  { name: 'a NUL in an item', array: { items: ['a', 'b', 'c', 'x\0y'] }, error: 'array.items.3: must not contain a NUL byte' },
  { name: 'a number as an item', array: { items: ['a', 5] }, error: 'array.items.1: ' },
  { name: 'zero tasks', array: { count: 0 }, error: 'array.count: must be from 1 to 100000 tasks' },
  { name: 'a fraction of a task', array: { count: 2.5 }, error: 'array.count: must be a whole number of tasks, e.g. 10' },
  { name: 'more tasks than the site allows', array: { count: 1001 }, error: 'array.count: 1001 tasks is over the site maximum 1000' },
  { name: 'more items than the site allows', array: { items: ['a', 'b', 'c'] }, site: { maxArrayTasks: 2 }, error: 'array.items: 3 tasks is over the site maximum 2' },
  { name: 'more lines than the site allows', array: { itemsFile: 'items.txt' }, itemsFile: 'a\nb\nc\n', site: { maxArrayTasks: 2 }, error: 'array.itemsFile: 3 tasks is over the site maximum 2' },
  { name: 'zero at once', array: { count: 2, parallel: 0 }, error: 'array.parallel: must be from 1 to 100000 tasks' },
  { name: 'an unknown key', array: { count: 2, paralel: 2 }, error: 'array.paralel: unknown key (did you mean parallel?)' },
  { name: 'an itemsFile that does not exist', array: { itemsFile: 'missing.txt' }, error: 'array.itemsFile: cannot read missing.txt: ENOENT' },
  { name: 'an itemsFile that is a directory', array: { itemsFile: '/' }, error: 'array.itemsFile: cannot read /: EISDIR' },
  { name: 'an empty itemsFile', array: { itemsFile: 'items.txt' }, itemsFile: '\n  \n', error: 'array.itemsFile: has no items (one per line; blank lines are skipped)' },
  { name: 'a NUL in an itemsFile', array: { itemsFile: 'items.txt' }, itemsFile: 'a\nb\x00c\n', error: 'array.itemsFile: items.txt line 2 holds a NUL byte' },
  { name: 'a lone CR in an itemsFile line', array: { itemsFile: 'items.txt' }, itemsFile: 'a\rb\n', error: 'array.itemsFile: items.txt line 1 holds a carriage return' },
  { name: 'with a service', array: { count: 2 }, spec: { service: 'jupyter' }, error: 'array: cannot be used with service: a jupyter service is one interactive session' },
  { name: 'with a fixed container name', array: { count: 2 }, spec: { name: 'mine' }, error: "name: cannot be used with array: each task's container is named IMAGE-ARRAYID_TASK" },
  { name: 'both count and items, and env setting TRE_ITEM: both said', array: { count: 2, items: ['a'] }, spec: { env: { TRE_ITEM: 'x' } }, error: 'env.TRE_ITEM: TRE_ITEM is set by tre-job in each task of an array (reserved: TRE_TASK, TRE_ITEM) (line 3)\ntre-job: array: give only one of count, items and itemsFile (got count and items) (line 5)\n' },
  { name: 'a misspelt array key with ${TRE_ITEM} in args: only the key is said', array: { count: 2, paralel: 2 }, spec: { args: ['${TRE_ITEM}'] }, error: 'array.paralel: unknown key (did you mean parallel?) (line 6)\n' },
  { name: 'env setting TRE_TASK', array: { count: 2 }, spec: { env: { TRE_TASK: '1' } }, error: 'env.TRE_TASK: TRE_TASK is set by tre-job in each task of an array (reserved: TRE_TASK, TRE_ITEM)' },
  { name: '${TRE_ITEM} without an array', spec: { args: ['--in', '/safe_data/${TRE_ITEM}'] }, error: 'args.1: ${TRE_ITEM} is set only in the tasks of an array job (add array:, e.g. array: {count: 10})' },
  { name: '$TRE_TASK in env without an array', spec: { env: ['SEED=$TRE_TASK'] }, error: 'env.0: ${TRE_TASK} is set only in the tasks of an array job' },
];

describe('array: bad input', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: exit 2, one line naming the field, nothing written', (_name, c) => {
    const dir = tempDir();
    try {
      const spec = { ...GOOD, ...(c.spec ?? {}), ...(c.array !== undefined ? { array: c.array } : {}) };
      const specFile = writeYaml(dir.path, 'spec.yaml', spec);
      if (c.itemsFile !== undefined) writeFileSync(join(dir.path, 'items.txt'), c.itemsFile);
      const site = c.site ? ['--site', writeYaml(dir.path, 'site.yaml', { registries: [{ host: 'ghcr.io' }], ...c.site })] : [];
      const out = join(dir.path, 'out');
      // From another directory: a relative itemsFile is read beside the spec, not here.
      const result = runBin(['render', specFile, '--job-dir', out, ...site], { cwd: '/' });
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(c.error.includes('\n') ? /^(tre-job: [^\n]+\n)+$/ : /^tre-job: [^\n]+\n$/);
      expect(result.stderr.split(`${dir.path}/`).join('')).toContain(`tre-job: ${c.error}`);
      expect(result.status).toBe(2);
      expect(existsSync(out)).toBe(false);
    } finally {
      dir.remove();
    }
  });

  it('submit of a bad array writes no job directory and never runs sbatch', () => {
    const dir = tempDir();
    try {
      const jobs = join(dir.path, 'jobs');
      const site = writeYaml(dir.path, 'site.yaml', { registries: [{ host: 'ghcr.io' }], jobsDir: jobs, sbatch: join(SHIM_BIN, 'sbatch') });
      const spec = writeYaml(dir.path, 'spec.yaml', { ...GOOD, array: { items: ['a', 'b\0c'] } });
      const calls = join(dir.path, 'sbatch-calls');
      const result = runBin(['submit', spec, '--site', site], { env: { ...process.env, SHIM_LOG: calls, SHIM_JOB_DIR: dir.path } });
      expect(result.stderr).toBe('tre-job: array.items.1: must not contain a NUL byte (line 5)\n');
      expect(result.status).toBe(2);
      expect(existsSync(jobs)).toBe(false);
      expect(existsSync(calls)).toBe(false);
    } finally {
      dir.remove();
    }
  });
});

describe('array: what a good one writes', () => {
  const render = (array: unknown, files: Record<string, string> = {}) => {
    const dir = tempDir();
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir.path, name), text);
    const out = join(dir.path, 'out');
    const result = runCliUnchecked(['render', writeYaml(dir.path, 'spec.yaml', { ...GOOD, array }), '--job-dir', out]);
    if (result.status !== 0) throw new Error(result.stderr);
    const script = readFileSync(join(out, 'job.sh'), 'utf8');
    const read = (name: string) => readFileSync(join(out, name), 'utf8');
    return { dir, out, script, read, directives: script.split('\n').filter((l) => l.startsWith('#SBATCH ')) };
  };

  it('count: --array=0-(N-1), one log per task (0600) in the job directory, no items file', () => {
    const { dir, out, directives } = render({ count: 3 });
    try {
      expect(directives).toContain('#SBATCH --array=0-2');
      expect(directives).toContain(`#SBATCH --output=${out}/output-%a.log`);
      expect(readdirSync(out).filter((f) => f.startsWith('output')).sort()).toEqual(['output-0.log', 'output-1.log', 'output-2.log']);
      expect(statSync(join(out, 'output-2.log')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(out, 'items'))).toBe(false);
    } finally {
      dir.remove();
    }
  });

  it('items and parallel: --array=0-(N-1)%K; the items go to a 0600 file, one a line, and never into job.sh', () => {
    const items = ['first.csv', "it's $(id) `x`", 'with space'];
    const { dir, out, directives, script, read } = render({ items, parallel: 2 });
    try {
      expect(directives).toContain('#SBATCH --array=0-2%2');
      expect(read('items')).toBe(`${items.join('\n')}\n`);
      expect(statSync(join(out, 'items')).mode & 0o777).toBe(0o600);
      expect(script).not.toContain('first.csv');
    } finally {
      dir.remove();
    }
  });

  it('itemsFile: read beside the spec, CRLF and blank lines dropped, the rest kept exactly', () => {
    const { dir, read, directives } = render({ itemsFile: 'inputs.txt' }, { 'inputs.txt': 'a b\r\n\r\n  \n c \nd' });
    try {
      expect(directives).toContain('#SBATCH --array=0-2');
      expect(read('items')).toBe('a b\n c \nd\n');
    } finally {
      dir.remove();
    }
  });

  it('render to stdout: a count array renders; items need a job directory', () => {
    const dir = tempDir();
    try {
      expect(runCliUnchecked(['render', writeYaml(dir.path, 'a.yaml', { ...GOOD, array: { count: 2 } })]).stdout).toContain('#SBATCH --array=0-1\n#SBATCH --output=output-%a.log\n');
      const items = runCliUnchecked(['render', writeYaml(dir.path, 'b.yaml', { ...GOOD, array: { items: ['a'] } })]);
      expect(items.stderr).toBe('tre-job: array: items are kept in the job directory: use tre-job submit, or render --job-dir DIR\n');
      expect(items.status).toBe(2);
    } finally {
      dir.remove();
    }
  });
});
