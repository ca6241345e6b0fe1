/** Throws the signal's reason (or an error saying `what`) once a stage has been cancelled. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(what);
}
