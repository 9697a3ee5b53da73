/** Sizes as people read them: 512 B, 1.5 KiB, 12.3 MiB, 1.02 GiB. */
export const fmtBytes = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1024 ** 3
        ? `${(n / 1024 ** 2).toFixed(1)} MiB`
        : `${(n / 1024 ** 3).toFixed(2)} GiB`;

/** `n` and the word, in the plural unless n is 1 ("1 row", "2 rows"). */
export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
