/** Quoting for identifiers in generated SQL: every name is quoted, whatever it holds. */
export const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;
