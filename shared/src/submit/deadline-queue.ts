/**
 * Deadlines of many waiters in one structure, so that the waiters (waiters.ts) arm one timer
 * for the earliest deadline instead of a Node Timeout per waiting request: with 10,000 requests
 * held, that is 10,000 Timeout objects and their closures fewer (docs/performance.md, Memory).
 *
 * A binary min-heap ordered by deadline, then by insertion, so equal deadlines come out in the
 * order they went in. Each entry knows its index in the heap, so removing an entry that ended
 * early (a reply came, its request went away) is O(log n) and leaves nothing behind: a lazy
 * "mark as dead and skip when popped" would keep every answered waiter until its deadline.
 */

/** What the queue orders; `heapIndex` is -1 while the entry is not queued. */
export interface Deadlined {
  deadline: number;
  /** Position in the heap, maintained by the queue. */
  heapIndex: number;
  /** Insertion order, maintained by the queue: breaks ties between equal deadlines. */
  heapSeq: number;
}

export class DeadlineQueue<T extends Deadlined> {
  readonly #heap: T[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  /** The earliest deadline, or undefined when empty. */
  get nextDeadline(): number | undefined {
    return this.#heap[0]?.deadline;
  }

  /** Queues `entry` at `entry.deadline`. An entry is in at most one queue, once. */
  push(entry: T): void {
    entry.heapSeq = this.#seq++;
    entry.heapIndex = this.#heap.length;
    this.#heap.push(entry);
    this.#up(entry.heapIndex);
  }

  /** Takes `entry` out; a no-op when it is not queued (it was popped or removed before). */
  remove(entry: T): void {
    const i = entry.heapIndex;
    if (i < 0 || this.#heap[i] !== entry) return;
    entry.heapIndex = -1;
    const last = this.#heap.pop()!;
    if (last === entry) return;
    this.#heap[i] = last;
    last.heapIndex = i;
    this.#down(i);
    this.#up(last.heapIndex);
  }

  /** Takes out and returns the earliest entry if its deadline is at or before `now`. */
  popDue(now: number): T | undefined {
    const first = this.#heap[0];
    if (!first || first.deadline > now) return undefined;
    this.remove(first);
    return first;
  }

  /** Takes out every entry, in no particular order. */
  drain(): T[] {
    const all = this.#heap.splice(0);
    for (const entry of all) entry.heapIndex = -1;
    return all;
  }

  #before(a: T, b: T): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!this.#before(entry, parent)) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && this.#before(heap[right]!, heap[left]!) ? right : left;
      if (!this.#before(heap[child]!, entry)) break;
      heap[i] = heap[child]!;
      heap[i]!.heapIndex = i;
      i = child;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }
}
