import type { PolicySnapshot } from '../core/index.js';

/**
 * Holds the snapshot in force. A reload builds a complete new snapshot elsewhere and
 * swaps it in here in one step; listeners (the broker's live re-check) run after.
 */
export class PolicyStore {
  private snapshot: PolicySnapshot;
  private readonly listeners = new Set<(next: PolicySnapshot, previous: PolicySnapshot) => void>();

  constructor(initial: PolicySnapshot) {
    this.snapshot = initial;
  }

  get current(): PolicySnapshot {
    return this.snapshot;
  }

  swap(next: PolicySnapshot): void {
    const previous = this.snapshot;
    this.snapshot = next;
    for (const l of this.listeners) l(next, previous);
  }

  onSwap(listener: (next: PolicySnapshot, previous: PolicySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
