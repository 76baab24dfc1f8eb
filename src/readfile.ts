// Reading the user's files (spec, site config) with errors that name the file.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { InputError, oneLine } from './errors';

/** Read a YAML or JSON file (JSON is YAML); bad syntax or a missing file is bad input. */
export function readYamlFile(file: string, field: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(field, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return parse(text, { uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    throw new InputError(field, `${file} is not valid YAML or JSON: ${oneLine((err as Error).message)}`);
  }
}
