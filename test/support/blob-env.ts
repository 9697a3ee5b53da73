/**
 * Test helpers to point the real `@vercel/blob` client at the stand-in server (blob-server.ts).
 *
 * The client reads its configuration from the environment on every call (getApiUrl(), resolveBlobAuth()), so
 * setting process.env after importing `@vercel/blob` is enough.
 */
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';

/** Variables the client reads; `undefined` means "must be unset". */
export type BlobEnv = {
  VERCEL_BLOB_API_URL: string;
  BLOB_READ_WRITE_TOKEN: string;
  /** With BLOB_STORE_ID set, an OIDC token would win over BLOB_READ_WRITE_TOKEN (resolveBlobAuth). */
  VERCEL_OIDC_TOKEN: undefined;
  BLOB_STORE_ID: undefined;
  /** Only consulted when VERCEL_BLOB_API_URL is empty; cleared so nothing else can redirect the client. */
  NEXT_PUBLIC_VERCEL_BLOB_API_URL: undefined;
};

/**
 * The env for a server. Spreading it into a child's env works as is: child_process drops undefined values.
 *   spawn(cmd, args, { env: { ...process.env, ...withBlobEnv(server) } })
 */
export function withBlobEnv(server: { url: string; token: string }): BlobEnv {
  return {
    VERCEL_BLOB_API_URL: server.url,
    BLOB_READ_WRITE_TOKEN: server.token,
    VERCEL_OIDC_TOKEN: undefined,
    BLOB_STORE_ID: undefined,
    NEXT_PUBLIC_VERCEL_BLOB_API_URL: undefined,
  };
}

/** Sets (or deletes, for undefined) each variable on `env`; returns a function restoring the previous values. */
export function applyEnv(vars: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): () => void {
  const previous = Object.fromEntries(Object.keys(vars).map((k) => [k, env[k]]));
  assign(env, vars);
  return () => assign(env, previous);
}

/** applyEnv(withBlobEnv(server)): typical use is `restore = applyBlobEnv(server)` in beforeAll, `restore()` after. */
export function applyBlobEnv(server: { url: string; token: string }, env: NodeJS.ProcessEnv = process.env): () => void {
  return applyEnv(withBlobEnv(server), env);
}

function assign(env: NodeJS.ProcessEnv, vars: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(vars)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
}

/**
 * `get()` of @vercel/blob 2.x never uses the API url: it fetches `https://<storeId>.<access>.blob.vercel-storage.com/
 * <pathname>` (and rejects urls on other hosts). This installs an undici global dispatcher, in this process only,
 * that sends requests for this store's hosts to the stand-in's `/store/<pathname>` instead. Global `fetch` shares
 * that dispatcher, so it also makes 'vercel'-style urls (BlobServerOptions.urlStyle) fetchable. Other hosts pass
 * through untouched. Returns an async function restoring the previous dispatcher.
 */
export function routeBlobHostsTo(server: { origin: string; storeId: string }): () => Promise<void> {
  const previous = getGlobalDispatcher();
  const router = new BlobHostRouter(server.origin, server.storeId);
  setGlobalDispatcher(router);
  return async () => {
    setGlobalDispatcher(previous);
    await router.close();
  };
}

class BlobHostRouter extends Agent {
  constructor(
    private readonly target: string,
    private readonly storeId: string,
  ) {
    super();
  }

  override dispatch(options: Agent.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
    const origin = options.origin === undefined ? undefined : new URL(String(options.origin));
    const ours =
      origin?.hostname === `${this.storeId}.public.blob.vercel-storage.com` || origin?.hostname === `${this.storeId}.private.blob.vercel-storage.com`;
    if (!ours) return super.dispatch(options, handler);
    return super.dispatch({ ...options, origin: this.target, path: `/store${options.path}` }, handler);
  }
}
