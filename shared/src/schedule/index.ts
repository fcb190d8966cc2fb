/** What schedule/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export { Beat, type BeatOptions } from './beat.js';
export { BACKFILL_MAX_RUNS, ScheduleAdmin, type RunView, type ScheduleChanges, type ScheduleView } from './schedule-admin.js';
export { type RunningBeat, startBeat, type StartBeatOptions } from './beat-process.js';
