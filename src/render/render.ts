// Handlebars set up for bash: no HTML escaping (noEscape), unknown names are errors (strict),
// and the only helpers are the quoting helpers of render/quote.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Handlebars from 'handlebars';
import type { ScriptContext } from './context';
import { sbatchDirective, shAssign, shq, shqExpand } from './quote';

export const TEMPLATES_DIR = join(__dirname, '..', '..', 'templates');
const COMPILE_OPTIONS = { noEscape: true, strict: true } as const;

/** The helpers a template may print a value with; test/unit/templates.test.ts enforces it. */
export const QUOTING_HELPERS = ['shq', 'shqExpand', 'shAssign', 'sbatchDirective'] as const;

let compiled: Handlebars.TemplateDelegate<ScriptContext> | undefined;

// Handlebars.template takes the precompiler's output (its type is global in handlebars' typings).
type TemplateSpecification = Parameters<typeof Handlebars.template>[0];

interface Precompiled {
  main: TemplateSpecification;
  partials: Record<string, TemplateSpecification>;
}

/** The build's precompiled templates (dist/render/templates.js), or null when running from src/. */
function precompiled(): Precompiled | null {
  try {
    return require('./templates') as Precompiled;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes("'./templates'")) return null;
    throw err;
  }
}

function build(): Handlebars.TemplateDelegate<ScriptContext> {
  const pre = precompiled();
  // The runtime alone is enough for precompiled templates, and loads in half the time.
  const hb: typeof Handlebars = pre ? require('handlebars/runtime').create() : require('handlebars').create();
  hb.registerHelper('shq', (value: unknown) => shq(asString(value, 'shq')));
  hb.registerHelper('shqExpand', (value: unknown) => shqExpand(asString(value, 'shqExpand')));
  hb.registerHelper('shAssign', (name: unknown, value: unknown, options: Handlebars.HelperOptions) =>
    shAssign(asString(name, 'shAssign'), asString(value, 'shAssign'), String(options.hash.prefix ?? '')),
  );
  hb.registerHelper('sbatchDirective', (value: unknown) => sbatchDirective(asString(value, 'sbatchDirective')));
  if (pre) {
    for (const [name, spec] of Object.entries(pre.partials)) hb.registerPartial(name, hb.template(spec));
    return hb.template<ScriptContext>(pre.main);
  }
  const partialsDir = join(TEMPLATES_DIR, 'partials');
  for (const file of readdirSync(partialsDir)) {
    if (!file.endsWith('.hbs')) continue;
    hb.registerPartial(file.slice(0, -4), hb.compile(readFileSync(join(partialsDir, file), 'utf8'), COMPILE_OPTIONS));
  }
  return hb.compile<ScriptContext>(readFileSync(join(TEMPLATES_DIR, 'job.sh.hbs'), 'utf8'), COMPILE_OPTIONS);
}

function asString(value: unknown, helper: string): string {
  if (typeof value !== 'string') throw new Error(`${helper}: expected a string, got ${typeof value}`);
  return value;
}

/** Render the job script. */
export function renderScript(context: ScriptContext): string {
  compiled ??= build();
  return compiled(context);
}
