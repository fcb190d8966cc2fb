/** What schedule/ offers the rest of Celerity: an explicit list; a new export is a decision. */
export { ScheduleAdmin, type RunView, type ScheduleChanges, type ScheduleView } from './schedule-admin.js';
export { type RunningBeat, startBeat } from './beat-process.js';
