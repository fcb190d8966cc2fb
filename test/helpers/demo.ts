/** The demo app and the `celerity` CLI as the tests reach them (compiled, under dist/). */
import { loadApp, type LoadedApp } from '../../shared/src/app/load-app.js';

/** Path of the compiled demo app module: what `--app` gets. */
export const DEMO_APP = new URL('../../examples/demo/tasks.js', import.meta.url).pathname;
/** Path of the compiled `celerity` command. */
export const CELERITY_CLI = new URL('../../cli.js', import.meta.url).pathname;

let demo: Promise<LoadedApp> | undefined;

/** The demo app, loaded through the same loader as `--app` (once per test process). */
export function demoApp(): Promise<LoadedApp> {
  demo ??= loadApp(DEMO_APP);
  return demo;
}
