/**
 * SQL names compare as SQLite compares them: ASCII letters folded, nothing else (db/schema.ts foldName). Unicode
 * case folding would match names SQLite keeps apart.
 */
import { describe, expect, it } from 'vitest';
import { appCollations, caseHint, foldName, hiddenRowidName } from '../src/db/schema.js';

describe('names compared as SQLite compares them', () => {
  it('folds ASCII letters only', () => {
    expect(foldName('MediaAsset')).toBe('mediaasset');
    expect(foldName('Ünï')).toBe('Ünï');
    // The Kelvin sign lower-cases to an ASCII "k" in Unicode; SQLite keeps it apart from "k".
    expect(foldName('\u212Aey')).not.toBe(foldName('key'));
  });

  it('hints at a table in other letter case only where SQLite would have taken it', () => {
    expect(caseHint('tag', ['Tag', 'items'])).toBe(' (did you mean "Tag"? names are matched exactly)');
    expect(caseHint('ünï', ['Ünï'])).toBe('');
    expect(caseHint('key', ['\u212Aey'])).toBe('');
  });

  it("names the hidden rowid by SQLite's rule", () => {
    expect(hiddenRowidName(['id', 'ROWID'])).toBe('_rowid_');
    expect(hiddenRowidName(['RowId', '_ROWID_', 'Oid'])).toBeNull();
  });
});

describe('collations only an application has', () => {
  it('are the COLLATE names SQLite has not built in, read from the tokens (quotes and comments are not names)', () => {
    expect(appCollations('CREATE TABLE t (a TEXT COLLATE NoCase, b TEXT collate rtrim, c TEXT COLLATE "BINARY")')).toEqual([]);
    expect(appCollations('CREATE TABLE t (a TEXT COLLATE unicase, b TEXT COLLATE [my coll], c TEXT COLLATE unicase)')).toEqual(['unicase', 'my coll']);
    expect(appCollations('CREATE TABLE t (a TEXT DEFAULT \'x COLLATE unicase\' /* COLLATE other */, "COLLATE" TEXT) -- COLLATE third')).toEqual([]);
    expect(appCollations('CREATE INDEX i ON t (a COLLATE "Uni""case" DESC)')).toEqual(['Uni"case']);
  });
});
