// Templates print values only through the quoting helpers, and every runtime has its partials.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { QUOTING_HELPERS, TEMPLATES_DIR } from '../../src/render/render';
import { jobSpecSchema } from '../../src/jobspec/schema';
import { runBin, runCli, tempDir, writeYaml } from '../helpers';

const files = [join(TEMPLATES_DIR, 'job.sh.hbs'), ...readdirSync(join(TEMPLATES_DIR, 'partials')).map((f) => join(TEMPLATES_DIR, 'partials', f))];

type Node = { type: string; [key: string]: unknown };

/** Every {{...}} that prints something: its helper name, or the bare path printed raw. */
function printedExpressions(node: Node, found: string[] = []): string[] {
  if (node.type === 'MustacheStatement') {
    const path = node.path as { original: string };
    const params = node.params as unknown[];
    found.push(params.length > 0 ? `helper:${path.original}` : `raw:${path.original}`);
  }
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) value.forEach((child) => child && typeof child === 'object' && 'type' in child && printedExpressions(child as Node, found));
    else if (value && typeof value === 'object' && 'type' in value) printedExpressions(value as Node, found);
  }
  return found;
}

describe('templates', () => {
  it.each(files.map((f) => [f.slice(TEMPLATES_DIR.length + 1), f]))('%s prints values only through a quoting helper', (_name, file) => {
    const printed = printedExpressions(Handlebars.parse(readFileSync(file, 'utf8')) as unknown as Node);
    for (const expression of printed) {
      expect(QUOTING_HELPERS.map((h) => `helper:${h}`)).toContain(expression);
    }
  });

  it('the check finds a raw value', () => {
    expect(printedExpressions(Handlebars.parse('echo {{image}} {{shq image}}') as unknown as Node)).toEqual(['raw:image', 'helper:shq']);
  });

  it('has cleanup, pull and launch partials for every runtime', () => {
    const partials = readdirSync(join(TEMPLATES_DIR, 'partials'));
    const runtimes = jobSpecSchema.shape.runtime.def.innerType.options;
    expect(runtimes).toEqual(['podman', 'apptainer']);
    for (const runtime of runtimes) {
      for (const section of ['cleanup', 'pull', 'launch']) expect(partials).toContain(`${runtime}-${section}.hbs`);
    }
  });
});

describe('precompiled templates (the build) and templates compiled from source', () => {
  const built = join(__dirname, '..', '..', 'dist', 'render', 'templates.js');

  it('render the same script', () => {
    // npm test builds before the unit tests; without a build there is nothing to compare.
    if (!existsSync(built)) {
      if (process.env.CI === 'true') throw new Error(`${built} is missing: run npm run build`);
      return;
    }
    const dir = tempDir();
    try {
      const site = writeYaml(dir.path, 'site.yaml', { registries: [{ host: '127.0.0.1:5000', insecure: true }], gpuGres: 'gpu:1' });
      for (const spec of [
        { image: '127.0.0.1:5000/tre/probe:1.0', registry: { username: 'u' }, env: { A: "x ${USER} '$(id)'" }, args: ['a b'], gpu: true },
        { image: '127.0.0.1:5000/tre/probe:1.0', runtime: 'apptainer', reuseSif: true, service: 'rstudio', safeData: 'required' },
      ]) {
        const file = writeYaml(dir.path, 'spec.yaml', spec);
        const fromBuild = runBin(['render', file, '--site', site]);
        expect(fromBuild.status).toBe(0);
        expect(fromBuild.stdout).toBe(runCli(['render', file, '--site', site]).stdout);
      }
    } finally {
      dir.remove();
    }
  });
});
