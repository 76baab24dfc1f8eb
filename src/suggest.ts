// "Did you mean ...?" for a mistyped key, value or command: the nearest known word, if near.

/** Lower case without _ and -: `reuse_sif`, `reuse-sif` and `ReuseSif` all read as `reusesif`. */
function folded(word: string): string {
  return word.toLowerCase().replace(/[_-]/g, '');
}

/** Optimal string alignment distance (Damerau-Levenshtein with adjacent swaps). */
function distance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[];
      const above = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The known word nearest to `word` (ignoring case, _ and -), if it is near enough to be a typo. */
export function nearest(word: string, known: readonly string[]): string | undefined {
  const target = folded(word);
  let best: { word: string; distance: number } | undefined;
  for (const candidate of known) {
    const d = distance(target, folded(candidate));
    if (!best || d < best.distance) best = { word: candidate, distance: d };
  }
  if (!best || best.distance > Math.max(1, Math.floor(target.length / 3))) return undefined;
  return best.word;
}

/** ` (did you mean X?)`, or nothing. */
export function didYouMean(word: string, known: readonly string[]): string {
  const match = nearest(word, known);
  return match === undefined ? '' : ` (did you mean ${match}?)`;
}
