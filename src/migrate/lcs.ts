/**
 * Token alignment: which tokens of one text survive, unchanged, in another. SQLite edits stored schema text in
 * place (ALTER TABLE RENAME rewrites names, ADD COLUMN inserts a column, DROP COLUMN cuts one out); aligning the
 * token sequences before and after finds where a given token went.
 */

/** For each index of `a` that is matched in a longest common subsequence of `a` and `b`, its index in `b`. */
export function alignTokens(a: readonly string[], b: readonly string[]): Map<number, number> {
  const n = a.length;
  const m = b.length;
  // lengths[i][j] = LCS length of a[i..] and b[j..], one flat row-major array.
  const lengths = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => i * (m + 1) + j;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[at(i, j)] = a[i] === b[j] ? lengths[at(i + 1, j + 1)]! + 1 : Math.max(lengths[at(i + 1, j)]!, lengths[at(i, j + 1)]!);
    }
  }
  const out = new Map<number, number>();
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (a[i] === b[j]) out.set(i++, j++);
    else if (lengths[at(i + 1, j)]! >= lengths[at(i, j + 1)]!) i++;
    else j++;
  }
  return out;
}
