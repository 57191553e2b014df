/**
 * The table of host imports a module may use, denied by default. Each entry says
 * whether the worker serves it alone (clock, printing, WASI) or needs a host service
 * (camera, sensors, rpc) reached through the blocking bridge. A module importing
 * anything not in the table, or not granted to its deployment, is refused at load with
 * an error naming the import — never given a silent stub.
 * @module
 */
import type { HostServices } from '../ports/sandbox.ts';
import type { ModuleInfo } from '../wasm/binary.ts';
import { ImportDeniedError, ImportNotSupportedError } from './errors.ts';

/** Host import name → the service it needs, or null when the worker serves it itself. */
export const HOST_IMPORTS: Readonly<Record<string, keyof HostServices | null>> = {
  'sys.millis': null,
  'sys.delay': null,
  'sys.print': null,
  'sys.println': null,
  'sys.printInt': null,
  'camera.takeImageDynamicSize': 'captureImage',
  'camera.takeImageStaticSize': 'captureImage',
  'dht.getTemperature': 'readTemperature',
  'dht.getHumidity': 'readHumidity',
  'communication.rpcCall': 'rpcCall',
};

/** The WASI module name; all of preview 1 is served by the shim inside the worker. */
export const WASI_MODULE = 'wasi_snapshot_preview1';

/** Import names this peer can serve given its services, wildcards for whole modules. */
export function grantableImports(services: HostServices): string[] {
  const out = [`${WASI_MODULE}.*`];
  for (const [name, need] of Object.entries(HOST_IMPORTS)) if (need === null || services[need]) out.push(name);
  return out;
}

/** True when `name` (`module.field`) matches one of the grant patterns (`module.field` or `module.*`). */
export function isGranted(name: string, grants: readonly string[]): boolean {
  const module = name.slice(0, name.indexOf('.'));
  return grants.includes(name) || grants.includes(`${module}.*`) || grants.includes('*');
}

/**
 * Check a module's function imports: each must be servable here (ERR_IMPORT_NOT_SUPPORTED)
 * and granted (ERR_IMPORT_DENIED). Non-function imports (memory, tables, globals) are not
 * provided by any host and are refused as unsupported.
 */
export function checkImports(info: ModuleInfo, grants: readonly string[], services: HostServices): void {
  const servable = grantableImports(services);
  for (const imp of info.imports) {
    const name = `${imp.module}.${imp.name}`;
    if (imp.kind !== 'function' || !isGranted(name, servable)) {
      throw new ImportNotSupportedError(`module imports ${imp.kind} ${name}, which this peer cannot provide`, { import: name });
    }
    if (!isGranted(name, grants)) {
      throw new ImportDeniedError(`module imports ${name}, which its deployment was not granted`, { import: name });
    }
  }
}
