/**
 * `liquidmesh signal [--host H] [--port P]`: run the mesh's signaling server until
 * SIGINT or SIGTERM. Listens on 127.0.0.1 unless another interface is named explicitly,
 * and warns when that makes it reachable from the network; there it serves HTTPS/WSS with
 * the local CA's certificate (or `--cert`/`--key`) and the CA's trust page on
 * `--trust-port` (node-host/tls/).
 * @module
 */
import { InvalidParamsError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { startSignalServer } from './signal-server.ts';
import { defaultDataDir } from '../data-dir.ts';
import { isLoopbackHost } from '../host-address.ts';
import { keepTlsFresh, resolveServerTls } from '../tls/server-tls.ts';
import { DEFAULT_TRUST_PORT, startTrustServer } from '../tls/trust-server.ts';

/** Port the command listens on unless `--port` says otherwise. */
export const DEFAULT_SIGNAL_PORT: number = 4444;

/** Usage line of the command. */
export const SIGNAL_USAGE: string = 'signal [--host H] [--port P] [--trust-port P] [--data-dir D] [--cert F --key F]\n                      run the signaling server (y-webrtc + PeerJS) on 127.0.0.1:4444 (HTTPS off loopback)';

/** The command's parsed arguments. */
export interface SignalArgs {
  host: string;
  port: number;
  /** Port of the CA's trust page (off loopback). */
  trustPort: number;
  dataDir?: string;
  cert?: string;
  key?: string;
}

/** Parse `--host H`, `--port P`, `--trust-port P` (0: any free port), `--data-dir D`, `--cert F`, `--key F` (also as `--name=value`); anything else is `ERR_INVALID_PARAMS`. */
export function parseSignalArgs(args: string[]): SignalArgs {
  const parsed: SignalArgs = { host: '127.0.0.1', port: DEFAULT_SIGNAL_PORT, trustPort: DEFAULT_TRUST_PORT };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (!['--host', '--port', '--trust-port', '--data-dir', '--cert', '--key'].includes(name)) throw new InvalidParamsError(`unknown argument ${arg}; usage: ${SIGNAL_USAGE}`, { arg });
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new InvalidParamsError(`${name} needs a value`, { arg: name });
    if (name === '--host') parsed.host = value;
    else if (name === '--data-dir') parsed.dataDir = value;
    else if (name === '--cert') parsed.cert = value;
    else if (name === '--key') parsed.key = value;
    else {
      const port = Number(value);
      if (!/^\d+$/.test(value) || port > 65535) throw new InvalidParamsError(`${name} wants an integer from 0 (any free port) to 65535`, { port: value });
      if (name === '--port') parsed.port = port;
      else parsed.trustPort = port;
    }
  }
  return parsed;
}

export { isLoopbackHost };

/** Hooks for embedding and testing {@link signalCommand}; the defaults suit the CLI. */
export interface SignalCommandOptions {
  /** Stop when this aborts, instead of on SIGINT/SIGTERM. */
  stop?: AbortSignal;
  /** Prints the banner. Default `console.log`. */
  print?: (line: string) => void;
  /** Prints warnings. Default `console.warn`. */
  warn?: (line: string) => void;
  logger?: Logger;
}

/**
 * Run the signaling server until SIGINT/SIGTERM (or `options.stop`), then close it.
 * Resolves once it is closed; rejects with `ERR_INVALID_PARAMS` for bad arguments or
 * `ERR_LISTEN_FAILED` when the port cannot be bound.
 */
export async function signalCommand(args: string[], options: SignalCommandOptions = {}): Promise<void> {
  const { host, port, trustPort, dataDir, cert, key } = parseSignalArgs(args);
  const print = options.print ?? ((line: string) => console.log(line));
  const warn = options.warn ?? ((line: string) => console.warn(line));
  const tls = await resolveServerTls({ host, dataDir: dataDir ?? defaultDataDir(), cert, key });
  const server = await startSignalServer({ host, port, ...(options.logger ? { logger: options.logger } : {}), ...(tls ? { tls: tls.material } : {}) });
  const trust = tls?.local ? await startTrustServer({ caCert: tls.local.caCert, host, port: trustPort }).catch(async (error: unknown) => {
    await server.close();
    throw error;
  }) : null;
  if (!isLoopbackHost(host)) warn(`warning: listening on ${host}: the signaling server is reachable from the network`);
  print(`signaling on ${server.url} (y-webrtc: ${server.signalUrl}, PeerJS: ${server.peerjsPath})`);
  if (trust && tls?.local) print(`trust page (the CA, SHA-256 ${tls.local.caFingerprint}): ${trust.url}; peers: --trust ${trust.url}`);
  const stopRenewal = tls?.local ? keepTlsFresh({ host, dataDir: dataDir ?? defaultDataDir(), apply: (renewed) => server.setTls(renewed), onError: (error) => warn(`certificate renewal failed: ${(error as Error).message}`) }) : null;
  await stopRequested(options.stop);
  await stopRenewal?.();
  await trust?.close();
  await server.close();
  print('signaling stopped');
}

function stopRequested(stop: AbortSignal | undefined): Promise<void> {
  if (stop) {
    return new Promise((resolve) => {
      if (stop.aborted) resolve();
      else stop.addEventListener('abort', () => resolve(), { once: true });
    });
  }
  return new Promise((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
