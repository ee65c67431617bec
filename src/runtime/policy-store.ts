import type { IotPart, PolicySnapshot } from '../core/index.js';

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

  /**
   * A new configuration (Greengrass device groups). The AWS IoT policies in force, which
   * come from the registry, carry over unless `next` brings its own.
   */
  swap(next: PolicySnapshot): void {
    if (next.iot === undefined && this.snapshot.iot !== undefined) next = next.withIot(this.snapshot.iot);
    this.replace(next);
  }

  /** New AWS IoT policies or attachments (the registry changed); the configuration stays. */
  setIot(iot: IotPart | undefined): void {
    this.replace(this.snapshot.withIot(iot));
  }

  private replace(next: PolicySnapshot): void {
    const previous = this.snapshot;
    this.snapshot = next;
    for (const l of this.listeners) l(next, previous);
  }

  onSwap(listener: (next: PolicySnapshot, previous: PolicySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
