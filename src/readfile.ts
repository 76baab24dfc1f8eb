// Reading the user's files (spec, site config) with errors that name the file.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { InputError, oneLine } from './errors';

/** A parsed YAML or JSON file, and where each value is in it. */
export interface YamlFile {
  /** The file exactly as it was read (and parsed): once, so a pipe works and nothing changes between. */
  bytes: Buffer;
  value: unknown;
  /** The 1-based line of the value at `path` (e.g. ['env', 0]), if it is in the file. */
  lineOf: (path: readonly (string | number)[]) => number | undefined;
}

/**
 * Read a YAML or JSON file. A syntax error is reported as `FILE:LINE:COL: ...`, every one of
 * them, one line each, as compilers do (editors jump to it).
 */
export function readYamlDocument(file: string, field: string): YamlFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new InputError(field, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const text = bytes.toString('utf8');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const lines = new LineCounter(text);
  if (doc.errors.length) {
    throw InputError.of(
      doc.errors.map((error) => {
        const { line, col } = lines.at(error.pos[0]);
        return { field: `${file}:${line}:${col}`, problem: `not valid YAML or JSON: ${oneLine(error.message)}` };
      }),
    );
  }
  return {
    bytes,
    value: plain(doc.toJS({ mapAsMap: true })),
    lineOf: (path) => {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      return node?.range ? lines.at(node.range[0]).line : undefined;
    },
  };
}

/**
 * `err` with each problem's line in the file, found from its field (`env.0` -> ['env', 0], or
 * the top-level key), in the file's order. `prefix` is left out of fields first (`site.`).
 */
export function withLinesOf(err: InputError, lineOf: YamlFile['lineOf'], prefix = ''): InputError {
  return err
    .map((problem) => {
      const field = problem.field.startsWith(prefix) ? problem.field.slice(prefix.length) : problem.field;
      const path = field.split('.').map((part) => (/^[0-9]+$/.test(part) ? Number(part) : part));
      const line = problem.line ?? lineOf(path) ?? lineOf(path.slice(0, 1));
      return line === undefined ? problem : { ...problem, line };
    })
    .sorted();
}

/** Line and column (1-based) of an offset in `text`. */
class LineCounter {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  at(offset: number): { line: number; col: number } {
    let line = 0;
    while (line + 1 < this.starts.length && (this.starts[line + 1] as number) <= offset) line++;
    return { line: line + 1, col: offset - (this.starts[line] as number) + 1 };
  }
}

// Maps become objects with every key as an own property: a plain assignment of a key named
// __proto__ would set the prototype instead, and the key would vanish without a word.
function plain(value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries([...value].map(([key, item]) => [String(key), plain(item)]));
  if (Array.isArray(value)) return value.map(plain);
  return value;
}
