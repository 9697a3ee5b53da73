/**
 * The values a `.env` file gives, read as Prisma (up to 6) and Next.js read it. Shared by the CLI
 * (src/cli/env-file.ts) and the launcher (relaunch.mjs, which must see the same TURSO_DATABASE_URL), and plain
 * JavaScript because the launcher imports nothing compiled: src/ reaches it as ../../bin/dotenv.mjs, from the
 * sources, dist/ and the scripts' bundle alike, and the package ships bin/.
 *
 * Parsed by dotenv's parse, the parser under both (Prisma 6 pinned dotenv 16.5.0 in packages/internals; @next/env
 * bundles 16.3.1): a UTF-8 byte order mark is skipped, CRLF and quoted values over several lines are read as they do.
 *
 * Then `${NAME}` is expanded as Prisma expanded it (packages/internals/src/dotenvExpand.ts, "does only expand ${ENV}
 * - curly braces but not without curly braces"): NAME from the environment if set there, else from the file (defined
 * before or after), expanded in turn; set nowhere, it is the empty string; `\${NAME}` is a literal `${NAME}`. Any
 * other `$` stays as written, so a password or hash with `$` in it is never mangled. That is also the common ground
 * with Next.js, whose dotenv-expand takes bare `$NAME` too; dotenv-expand has no option to leave those alone, hence
 * this function rather than the library. Where Prisma's copy misbehaves, this one does not: a value put in place is
 * never read again (Prisma's String.replace turned `$&` or `$$` in it into other text, and read `${` again in a value
 * taken from the environment), and a loop (`A=${B}`, `B=${A}`) is a DotEnvError, where Prisma overflowed the stack.
 */
import { createRequire } from 'node:module';

/** A `.env` that cannot be used as it is. The message names variables, never a value (values are often secrets). */
export class DotEnvError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DotEnvError';
  }
}

/** `${NAME}`, or `\${NAME}` (the escape), as Prisma's pattern has them: NAME of letters, digits and `_`, or empty. */
const REFERENCE = /(\\?)\$\{([A-Za-z0-9_]*)\}/g;

/** Whether `name` is set in `env`: a key present with an undefined value (a test's or caller's "unset") is not. */
const isSet = (env, name) => Object.hasOwn(env, name) && env[name] !== undefined;

/**
 * The variables `text` (a `.env` file's contents) sets that are not already set in `env`, with `${NAME}` expanded.
 * dotenv is required here rather than imported above: the callers call this only when there is a `.env`, and most
 * commands run where there is none (loading dotenv takes ~10 ms, paid by the launcher and the command alike).
 * @param {string} text
 * @param {Record<string, string | undefined>} env the environment: what is set there wins over the file.
 * @returns {Record<string, string>} name → value, in the file's order.
 * @throws {DotEnvError} when a variable refers to itself, directly or through others.
 */
export function dotEnvValues(text, env) {
  const parsed = createRequire(import.meta.url)('dotenv').parse(text);
  const done = new Map();
  const open = []; // the names being expanded, outermost first: a name met again closes a loop
  const resolve = (name) => {
    if (isSet(env, name)) return env[name]; // taken as it is: the shell has already done its expanding
    if (done.has(name)) return done.get(name);
    if (!Object.hasOwn(parsed, name)) return '';
    if (open.includes(name)) {
      const loop = [...open.slice(open.indexOf(name)), name].join(' → ');
      throw new DotEnvError(`${name} refers to itself (${loop})`);
    }
    open.push(name);
    // A function replacement: what it returns is inserted as it is, `$&` or `${` in it included.
    const value = parsed[name].replace(REFERENCE, (whole, escaped, ref) => (escaped ? whole.slice(1) : resolve(ref)));
    open.pop();
    done.set(name, value);
    return value;
  };
  const values = {};
  for (const name of Object.keys(parsed)) if (!isSet(env, name)) values[name] = resolve(name);
  return values;
}
