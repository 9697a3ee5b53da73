/**
 * A remote target over HTTP: the load is ONE transaction on ONE server-side stream with foreign keys off on that
 * stream's connection, pipelined and retried by the baton rule (db/remote.ts). A remote database is never created
 * by a restore, so nothing is ever discarded.
 */
import { openRemoteDb, type RemoteDb } from '../db/remote.js';
import type { Target, TargetFactory } from './types.js';

/** A remote database as a restore's target; `signal` ends its requests (an interrupted restore). */
export function remoteTargetFactory(url: string, authToken?: string, signal?: AbortSignal): TargetFactory {
  return {
    missing: false,
    async open() {
      return remoteTarget(openRemoteDb(url, { authToken, signal }));
    },
    async discardCreated() {},
  };
}

/** A Target over a remote Db. */
export function remoteTarget(db: RemoteDb): Target & { db: RemoteDb } {
  return {
    db,
    displayUrl: db.displayUrl,
    identity: db.identity,
    beginLoad: () => db.beginWrite({ foreignKeys: false }),
    commit: () => db.commit(),
    rollback: () => db.rollback(),
    close: () => db.close(),
  };
}
