/**
 * Node's timer limit, which every wait and deadline in Celerity runs into: setTimeout takes at
 * most 2^31 - 1 ms (about 24.8 days) and fires a longer delay after 1 ms instead.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;
