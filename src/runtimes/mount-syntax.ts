// How the runtimes read mount values: Go's encoding/csv for comma lists and --mount's
// key=value fields, and `a:b:c` splits. Shared by the runtime drivers (runtimes/*.ts).
import { InputError } from '../errors';
import type { ParsedOption } from './driver';

/** Fields of a comma list as Go's encoding/csv reads one record (the runtimes parse --mount, and Apptainer --bind, so). */
export function csvFields(value: string, field: string, written: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let text = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        const end = value.indexOf('"', i);
        if (end < 0) throw new InputError(field, `${written}: a quote is not closed`);
        text += value.slice(i, end);
        i = end + 1;
        if (value[i] === '"') {
          text += '"';
          i++;
        } else break;
      }
      if (i < value.length && value[i] !== ',') throw new InputError(field, `${written}: text after a closing quote`);
    } else {
      const end = value.indexOf(',', i);
      text = value.slice(i, end < 0 ? value.length : end);
      if (text.includes('"')) throw new InputError(field, `${written}: a quote inside an unquoted field`);
      i = end < 0 ? value.length : end;
    }
    fields.push(text);
    if (i >= value.length) return fields;
    i++; // the comma
  }
}

export interface Mount {
  /** Host path, or null for a mount with no host source (tmpfs, anonymous volume, scratch). */
  source: string | null;
  target: string;
}

/** key=value fields of a --mount value; a key given twice is refused (the runtimes would keep only one). */
export function mountFields(value: string, field: string, written: string): Map<string, string> {
  const keys = new Map<string, string>();
  const synonyms: Record<string, string> = { source: 'src', destination: 'dst', target: 'dst', readonly: 'ro' };
  for (const item of csvFields(value, field, written)) {
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const canonicalKey = synonyms[key] ?? key;
    if (keys.has(canonicalKey)) throw new InputError(field, `${written}: ${key} is given twice`);
    keys.set(canonicalKey, eq < 0 ? '' : item.slice(eq + 1));
  }
  return keys;
}

/** Split `a:b:c` with at most `max` parts (more is an error in both runtimes). */
export function colonParts(spec: string, max: number, field: string, written: string): string[] {
  const parts = spec.split(':');
  if (parts.length > max) throw new InputError(field, `${written}: too many ':' (paths with ':' cannot be mounted)`);
  return parts;
}


/** The mount one `--mount` value makes (both runtimes read it alike; the types allowed differ). */
export function mountOption(parsed: ParsedOption, allowedTypes: readonly string[]): Mount[] {
  const { value = '', field, written } = parsed;
  // Apptainer: several mounts may be given in one value only with APPTAINER_MOUNT; one here.
  const keys = mountFields(value, field, written);
  const type = keys.get('type') ?? 'bind';
  if (!allowedTypes.includes(type)) throw new InputError(field, `${written}: type=${type} is not allowed here (allowed: ${allowedTypes.join(', ')})`);
  const target = keys.get('dst');
  if (target === undefined) throw new InputError(field, `${written}: no dst (destination, target)`);
  const source = keys.get('src');
  if (type === 'tmpfs' || (type === 'volume' && source === undefined)) return [{ source: null, target }];
  if (source === undefined) throw new InputError(field, `${written}: no src (source)`);
  return [{ source, target }];
}
