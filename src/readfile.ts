// Reading the user's files (spec, site config) with errors that name the file.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { InputError, oneLine } from './errors';

/** Read a YAML or JSON file (JSON is YAML); bad syntax or a missing file is bad input. */
export function readYamlFile(file: string, field: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(field, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const error = doc.errors[0];
  if (error) throw new InputError(field, `${file} is not valid YAML or JSON: ${oneLine(error.message)}`);
  return plain(doc.toJS({ mapAsMap: true }));
}

// Maps become objects with every key as an own property: a plain assignment of a key named
// __proto__ would set the prototype instead, and the key would vanish without a word.
function plain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, item]) => [String(key), plain(item)]));
  if (Array.isArray(value)) return value.map(plain);
  return value;
}
