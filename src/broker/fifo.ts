/**
 * A first-in, first-out queue with O(1) `push` and `shift`: a ring buffer whose
 * capacity doubles when full. `Array.prototype.shift()` moves every remaining element,
 * so a queue kept in an array costs O(n) per message once it holds a backlog; this one
 * costs the same at any length.
 *
 * The buffer shrinks back to its initial size once it is empty again, so a burst does
 * not keep its peak memory for the life of the process.
 */
const INITIAL_CAPACITY = 16;
/** Above this capacity an emptied buffer is replaced by a small one. */
const SHRINK_ABOVE = 1024;

export class Fifo<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(INITIAL_CAPACITY);
  /** Index of the first element. */
  private head = 0;
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(item: T): number {
    if (this.size === this.items.length) this.grow();
    // Capacity is a power of two: `& (capacity - 1)` is the index modulo capacity.
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    return ++this.size;
  }

  /** Removes and returns the first element, or `undefined` when empty (as arrays do). */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size--;
    if (this.size === 0) {
      this.head = 0;
      if (this.items.length > SHRINK_ABOVE) this.items = new Array<T | undefined>(INITIAL_CAPACITY);
    }
    return item;
  }

  /** The first element without removing it. */
  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  private grow(): void {
    const old = this.items;
    const next = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.items = next;
    this.head = 0;
  }
}
