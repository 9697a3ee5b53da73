/** Types of dotenv.mjs beside this file, for the TypeScript that imports it (src/cli/env-file.ts). */

/** A `.env` that cannot be used as it is. The message names variables, never a value (values are often secrets). */
export declare class DotEnvError extends Error {}

/**
 * The variables `text` (a `.env` file's contents) sets that are not already set in `env`, with `${NAME}` expanded
 * as Prisma expanded it. Throws DotEnvError when a variable refers to itself, directly or through others.
 */
export declare function dotEnvValues(text: string, env: Readonly<Record<string, string | undefined>>): Record<string, string>;
