// Site config: built-in defaults, overridden key by key by --site FILE or $TRE_JOB_SITE.
import { InputError, inputErrorFromIssues } from '../errors';
import { readYamlDocument, withLinesOf } from '../readfile';
import { keysAt } from '../zod';
import { BUILT_IN_SITE, Site, siteSchema } from './schema';

const LOOPBACK = /^(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?$/;

/** Load the site config: `file`, else $TRE_JOB_SITE, else the built-in defaults. */
export function loadSite(file?: string): Site {
  const path = file ?? process.env.TRE_JOB_SITE;
  if (!path) return BUILT_IN_SITE;
  const { value: written, lineOf } = readYamlDocument(path, 'site');
  if (written !== null && (typeof written !== 'object' || Array.isArray(written))) {
    throw new InputError('site', `${path} must hold a YAML mapping`);
  }
  try {
    return parseSite({ ...BUILT_IN_SITE, ...(written as object | null) });
  } catch (err) {
    throw err instanceof InputError ? withLinesOf(err, lineOf, 'site.') : err;
  }
}

/** Validate a whole site object, including the rules across fields. */
export function parseSite(value: unknown): Site {
  const result = siteSchema().safeParse(value, { reportInput: true });
  if (!result.success) throw prefixed(inputErrorFromIssues(result.error.issues, 'site', (path) => keysAt(siteSchema(), path)));
  if (result.data.servicePorts.min > result.data.servicePorts.max) throw new InputError('site.servicePorts', 'min must not be above max');
  result.data.registries.forEach((registry, index) => {
    if (registry.insecure && !LOOPBACK.test(registry.pullHost ?? registry.host)) {
      throw new InputError(`site.registries.${index}.insecure`, `only allowed for a loopback registry, not ${registry.host}`);
    }
  });
  return result.data;
}

function prefixed(err: InputError): InputError {
  return err.map((p) => (p.field.startsWith('site') ? p : { ...p, field: `site.${p.field}` }));
}
