// The one error type of the runtime's loading path. Every message names the driver (or probe
// module) and, for loads, the chunk, so a failure in the field says what to look at.

export type DriverErrorCode = 'unknown-driver' | 'not-available' | 'load-failed' | 'not-registered' | 'wrong-build';

/** Typed errors: every message names the driver and, for loads, the chunk. */
export class DriverError extends Error {
  override readonly name = 'DriverError';
  constructor(
    readonly code: DriverErrorCode,
    readonly driver: string,
    message: string,
    /** The chunk involved: its URL when loaded through a build manifest, else its file. */
    readonly chunk?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
