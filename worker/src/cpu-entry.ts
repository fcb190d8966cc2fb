// Entry file of the worker's thread pool (piscina loads it in each thread; not run directly).
// Runs one CPU-bound task by name and returns its result to the main thread.
import { CPU_TASKS } from './tasks/cpu.js';

export interface CpuJob {
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export default function runCpuTask(job: CpuJob): unknown {
  const fn = CPU_TASKS[job.name];
  if (!fn) throw new Error(`No CPU task named ${job.name} in the thread pool`);
  return fn(job.args, job.kwargs);
}
