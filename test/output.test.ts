/** The human lines' helpers (src/cli/output.ts): what reaches a terminal. */
import { describe, expect, it } from 'vitest';
import { table, terminalSafe } from '../src/cli/output.js';

describe('table()', () => {
  it('aligns names as they are shown: a control character is escaped before the column is padded', () => {
    expect(
      table([
        ['new\nline', '1 row'],
        ['users', '2 rows'],
      ]),
    ).toEqual(['  new\\u000aline  1 row', '  users          2 rows']);
  });

  it('a table named "" is shown as "", not as a blank', () => {
    expect(
      table([
        ['', '1 row'],
        ['a', '2 rows'],
      ]),
    ).toEqual(['  ""  1 row', '  a   2 rows']);
  });

  it('escaping is idempotent: a line escaped twice reads the same', () => {
    expect(terminalSafe(terminalSafe('a\u001b[31mb\u202e'))).toBe(terminalSafe('a\u001b[31mb\u202e'));
  });
});
