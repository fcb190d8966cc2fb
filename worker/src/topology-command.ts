/**
 * `celerity topology`: what Celerity declares on the broker for an app and a configuration,
 * printed without connecting to anything (see `describeTopology`). Text for an operator,
 * `--json` for scripts.
 */
import { SERVER_NAMED, type QueueSpec, type Topology } from '../../shared/src/broker/index.js';

/** How a queue is listed: the broker names the event monitor's. */
function queueName(name: string): string {
  return name === SERVER_NAMED ? '(named by the broker)' : name;
}

function flags(spec: { durable: boolean; autoDelete: boolean; exclusive?: boolean }): string {
  return [spec.durable ? 'durable' : 'transient', ...(spec.autoDelete ? ['auto-delete'] : []), ...(spec.exclusive ? ['exclusive'] : [])].join(',');
}

const WHEN: Record<QueueSpec['when'], string> = { connect: 'at connect', 'first-use': 'on first use' };

function args(values: Record<string, unknown>): string {
  const entries = Object.entries(values);
  return entries.map(([key, value]) => `${key}=${value === '' ? '""' : String(value)}`).join(' ');
}

/** Left-aligned columns, two spaces apart; trailing spaces trimmed. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd());
}

/** The description as JSON (`--json`) or as three aligned tables. */
export function renderTopology(topology: Topology, options: { json?: boolean } = {}): string {
  if (options.json) return `${JSON.stringify(topology, null, 2)}\n`;
  const lines = [
    `exchanges (${topology.exchanges.length})`,
    ...table(topology.exchanges.map((e) => [e.name, e.type, flags(e)])),
    `queues (${topology.queues.length})`,
    ...table(topology.queues.map((q) => [queueName(q.name), q.kind, flags(q), WHEN[q.when], args(q.arguments)])),
    `bindings (${topology.bindings.length})`,
    ...table(topology.bindings.map((b) => [b.exchange, '->', queueName(b.queue), b.routingKey === '' ? '' : `key ${b.routingKey}`, args(b.arguments)])),
  ];
  return `${lines.join('\n')}\n`;
}
