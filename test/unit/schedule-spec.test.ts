/**
 * Schedules as written: `every` and `cron` parsing, the refusals that name the schedule, and
 * the load-time checks against the app's tasks.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nextRunAfter, parseDuration, parseScheduleSpec, runsBetween } from '../../shared/src/app/schedule-spec.js';
import { checkSchedule, defineSchedule } from '../../shared/src/app/define-schedule.js';
import { loadApp } from '../../shared/src/app/load-app.js';
import { CelerityError } from '../../shared/src/core/errors.js';
import { add } from '../../examples/demo/tasks.js';
import { demoApp } from '../helpers/demo.js';

const refusal = (code: string, ...parts: string[]) => (err: unknown) => {
  assert.ok(err instanceof CelerityError, String(err));
  assert.equal(err.code, code);
  for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" names ${part}`);
  return true;
};

describe('every', () => {
  it('takes a whole number and a unit', () => {
    assert.equal(parseDuration('1s'), 1_000);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('2d'), 172_800_000);
    for (const bad of ['', '1', 's', '1.5s', '-1s', '1 s', '1w', '0s', 10]) assert.equal(parseDuration(bad), undefined, String(bad));
  });

  it('runs at whole multiples of the interval since the epoch', () => {
    const spec = parseScheduleSpec('t', { every: '10s' });
    assert.equal(nextRunAfter(spec, new Date('2026-01-01T00:00:03Z'))?.toISOString(), '2026-01-01T00:00:10.000Z');
    assert.equal(nextRunAfter(spec, new Date('2026-01-01T00:00:10Z'))?.toISOString(), '2026-01-01T00:00:20.000Z');
  });

  it('refuses what does not parse, or less than a second, naming the schedule', () => {
    assert.throws(() => parseScheduleSpec('nightly', { every: '10 seconds' }), refusal('INVALID_SCHEDULE', '"nightly"', 'every must be'));
    assert.throws(() => parseScheduleSpec('fast', { every: '500ms' }), refusal('INVALID_SCHEDULE', '"fast"', 'at least 1s'));
    assert.throws(() => parseScheduleSpec('both', { every: '1s', cron: '* * * * *' }), refusal('INVALID_SCHEDULE', '"both"', 'exactly one'));
    assert.throws(() => parseScheduleSpec('none', {}), refusal('INVALID_SCHEDULE', '"none"', 'exactly one'));
    assert.throws(() => parseScheduleSpec('tz', { every: '1s', timezone: 'Europe/Paris' }), refusal('INVALID_SCHEDULE', '"tz"', 'cron only'));
  });
});

describe('cron', () => {
  it('takes 5 fields (minutes) or 6 (seconds first)', () => {
    const five = parseScheduleSpec('t', { cron: '*/15 * * * *' });
    assert.equal(nextRunAfter(five, new Date('2026-01-01T10:07:00Z'))?.toISOString(), '2026-01-01T10:15:00.000Z');
    const six = parseScheduleSpec('t', { cron: '*/5 * * * * *' });
    assert.equal(nextRunAfter(six, new Date('2026-01-01T10:07:01Z'))?.toISOString(), '2026-01-01T10:07:05.000Z');
  });

  it('runs in its time zone', () => {
    const spec = parseScheduleSpec('t', { cron: '0 9 * * *', timezone: 'Europe/Paris' });
    // 09:00 in Paris in January is 08:00 UTC.
    assert.equal(nextRunAfter(spec, new Date('2026-01-01T00:00:00Z'))?.toISOString(), '2026-01-01T08:00:00.000Z');
  });

  it('refuses what does not parse, naming the schedule', () => {
    assert.throws(() => parseScheduleSpec('bad', { cron: '61 * * * *' }), refusal('INVALID_SCHEDULE', '"bad"', '61 * * * *'));
    assert.throws(() => parseScheduleSpec('short', { cron: '* * *' }), refusal('INVALID_SCHEDULE', '"short"', '5 fields'));
    assert.throws(() => parseScheduleSpec('long', { cron: '0 0 0 * * * 2030' }), refusal('INVALID_SCHEDULE', '"long"', 'got 7'));
    assert.throws(() => parseScheduleSpec('zone', { cron: '* * * * *', timezone: 'Mars/Olympus' }), refusal('INVALID_SCHEDULE', '"zone"', 'Mars/Olympus'));
  });

  it('lists the runs of a range, in order', () => {
    const spec = parseScheduleSpec('t', { cron: '0 * * * *' });
    const { runs, more } = runsBetween(spec, new Date('2026-01-01T00:30:00Z'), new Date('2026-01-01T03:00:00Z'), 10);
    assert.deepEqual(runs.map((r) => r.toISOString()), ['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z', '2026-01-01T03:00:00.000Z']);
    assert.equal(more, false);
    assert.equal(runsBetween(spec, new Date('2026-01-01T00:30:00Z'), new Date('2026-01-01T03:00:00Z'), 2).more, true);
  });
});

describe('defineSchedule', () => {
  it('takes a task value or a name, with defaults for the policies', () => {
    const s = defineSchedule({ name: 'demo.tick', task: add, every: '10s', args: [1, 2] });
    assert.equal(s.task, 'demo.add');
    assert.deepEqual([s.overlap, s.catchUp, s.catchUpWindow], ['allow', 'once', '1h']);
    assert.equal(checkSchedule({ name: 'x', task: 'demo.add', cron: '0 * * * *' }).task, 'demo.add');
  });

  it('refuses a bad name, policy or window, naming the schedule', () => {
    assert.throws(() => defineSchedule({ name: 'has space', task: add, every: '1s' }), refusal('INVALID_SCHEDULE', 'name must be'));
    assert.throws(() => defineSchedule({ name: 'p', task: add, every: '1s', overlap: 'never' as never }), refusal('INVALID_SCHEDULE', '"p"', 'overlap'));
    assert.throws(() => defineSchedule({ name: 'c', task: add, every: '1s', catchUp: 'some' as never }), refusal('INVALID_SCHEDULE', '"c"', 'catchUp'));
    assert.throws(() => defineSchedule({ name: 'w', task: add, every: '1s', catchUpWindow: 'long' }), refusal('INVALID_SCHEDULE', '"w"', 'catchUpWindow'));
    assert.throws(() => defineSchedule({ name: 'a', task: add, every: '1s', args: {} as never }), refusal('INVALID_SCHEDULE', '"a"', 'args'));
  });
});

describe('the app loader', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'celerity-schedules-'));
  const entry = new URL('../../index.js', import.meta.url).href;
  const write = (file: string, body: string): string => {
    const full = path.join(dir, file);
    writeFileSync(full, `import { defineTask, defineSchedule, z } from ${JSON.stringify(entry)};\n` +
      "export const add = defineTask({ name: 't.add', args: z.tuple([z.number(), z.number()]), run: ([a, b]) => a + b });\n" + body);
    return full;
  };

  it('collects the schedules of the demo app', async () => {
    const app = await demoApp();
    assert.deepEqual(app.schedules.map((s) => [s.name, s.task]), [['demo.add-every-10s', 'demo.add']]);
  });

  it('refuses a schedule of an unknown task, naming it', async () => {
    await assert.rejects(loadApp(write('unknown.mjs', "export const s = defineSchedule({ name: 'nightly', task: 't.nope', every: '1h' });\n")), refusal('INVALID_APP', 'schedule "nightly"', 't.nope'));
  });

  it('refuses a schedule whose arguments the task refuses', async () => {
    await assert.rejects(loadApp(write('args.mjs', "export const s = defineSchedule({ name: 'sum', task: add, every: '1h', args: ['a'] });\n")), refusal('INVALID_APP', 'schedule "sum"'));
  });

  it('refuses a cron that does not parse when the module loads, naming the schedule', async () => {
    await assert.rejects(loadApp(write('cron.mjs', "export const s = defineSchedule({ name: 'broken', task: add, cron: '99 * * * *', args: [1, 2] });\n")), refusal('INVALID_APP', 'schedule "broken"'));
  });

  it('refuses two schedules of one name', async () => {
    await assert.rejects(
      loadApp(write('twice.mjs', "export const a = defineSchedule({ name: 'same', task: add, every: '1h', args: [1, 2] });\nexport const b = defineSchedule({ name: 'same', task: add, every: '2h', args: [1, 2] });\n")),
      refusal('INVALID_APP', '"same"'),
    );
  });
});
