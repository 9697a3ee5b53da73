import type { DumpEvent } from '../../format/reader.js';
import type { GovernorOptions } from '../../memory.js';

/**
 * What a restore reads, whatever its format: the events of a v1 dump (format/reader.ts). A legacy JSON backup is
 * adapted to the same events (inputs/legacy.ts), without checksums, so everything after the input exists once.
 */
export interface RestoreInput {
  readonly kind: 'dump' | 'legacy-json';
  /** What the operator should know about this input (e.g. what a JSON backup cannot carry). */
  readonly warnings: string[];
  /**
   * One pass over the input, from the start. Everything the format can verify is verified as it goes; `checksums:
   * false` skips the SHA-256s (a second pass whose result is verified on the target instead). `memory`: when to
   * collect garbage as the pass goes (memory.ts passMemory; a remote target's restore collects less often). An
   * event is valid until the next one is requested: its bytes may then be used again.
   */
  read(opts: { checksums: boolean; memory?: GovernorOptions }): AsyncGenerator<DumpEvent>;
}
