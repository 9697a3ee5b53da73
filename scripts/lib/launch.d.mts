/** Runs `turso-backup <command>` with this process's arguments in a plain node child (see launch.mjs). */
export declare function launch(command: string): Promise<void>;
/** The file the child runs: bin/turso-backup.mjs when dist/ is the current sources, else their bundle. */
export declare function entryPoint(): Promise<string>;

/** Whether the command's database looks remote (`--db`/`--target`, TURSO_DATABASE_URL, `./.env`): a heap size hangs on it. */
export declare function remoteDatabase(argv: string[], env?: NodeJS.ProcessEnv, cwd?: string): boolean;

/** node's flags for the process that runs a command (bin/relaunch.mjs); given on its command line, the bin runs the command in that process. */
export declare const NODE_FLAGS: readonly string[];
