/**
 * Work to undo when the process is interrupted (SIGINT/SIGTERM) in the middle of an operation: partial files to
 * remove, uploads to abort, transactions to roll back. Operations register while they run and unregister when done.
 */
type Undo = () => Promise<void> | void;
const pending = new Set<Undo>();

export function onInterrupt(undo: Undo): () => void {
  pending.add(undo);
  return () => pending.delete(undo);
}

export async function runInterruptCleanups(): Promise<void> {
  const all = [...pending];
  pending.clear();
  for (const undo of all.reverse()) {
    try {
      await undo();
    } catch {
      // best effort: the process is exiting
    }
  }
}
