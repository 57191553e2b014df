/**
 * The `liquidmesh` command line. Running a mesh: `start` (the main job), `signal`, `peer`.
 * Working with a running mesh, through its HTTP gateway: `publish`, `deploy`, `call`,
 * `ls`, `history`, `migrate` (node-host/cli/). Commands that need WebRTC load lazily,
 * after their globals are installed.
 */
import { enableDebug } from '../shared/log.ts';
import { HOST_VERSION } from '../shared/mesh/peer.ts';
import { DEFAULT_GATEWAY, GatewayClient } from './cli/gateway-client.ts';
import { clientToken } from './gateway/token.ts';
import { consoleOutput, reportError } from './cli/output.ts';
import { progressMode } from './cli/progress.ts';

enableDebug(process.env.DEBUG);

/** The help text; the commands' own parts load with it (a peer at rest holds neither the signaling server nor the key tools). */
async function usage(): Promise<string> {
  const [{ SIGNAL_USAGE }, { KEYS_USAGE }] = await Promise.all([import('./signal/signal-command.ts'), import('./keys/keys-command.ts')]);
  return `usage: liquidmesh <command>
  start [--host H] [--signal-port P] [--web-port P] [--gateway-port P] [--trust-port P] [--mesh M] [--secret S] [--no-chromium]
        [--data-dir DIR | --ephemeral] [--cert F --key F] [--allow-origin O]… [--allow-host H]… [--allow-fetch-from H|H:P|CIDR]… [--gui-dir DIR]
        [--enforce-policies]  (place steps only where the zone and risk-level cards allow)
                      signaling + the PWA + two headless peers + the HTTP gateway, samples deployed
                      (off loopback: HTTPS from the host's local CA, and the CA's trust page on port 8081);
                      kept in DIR (default ~/.local/share/liquidmesh) unless --ephemeral
  ${SIGNAL_USAGE}
  peer --name N [--engine node|chromium] [--signal URL] [--mesh M] [--secret S] [--data-dir D] [--pwa URL] [--kiosk] [--json] [--gateway-port P [--gateway-host H]] + the access flags of start
       [--trust URL | --ca FILE] [--max-links N] [--invitation TOKEN [--owner KEY]…]  (roles: see keys invite)
                      run one peer of a mesh (--max-links: at most N WebRTC connections; peers beyond them are
                      reached through linked peers) (a Node process or a headless Chromium)
  start and peer also take the owner's capability policy: --offer camera|sensors|network|PATTERN[=any|operator:KEY|publisher:KEY]
       (repeatable; by default only WASI, clock, printing, pub/sub, rpc and wasi-nn are offered, start's node-1 also offers
       camera and sensors), --require-signed PUBLISHER-KEY (repeatable: host only modules it signed), --policy FILE (JSON)
  start and peer also take the NATS backbone: --nats URL[,URL…] (repeatable) with --nats-user U --nats-pass P,
       --nats-token T or --nats-creds F, and --nats-bus (registry and presence over the backbone's mesh bus: give it to
       every peer of the mesh on the backbone, or to none); peer: --mqtt-bridge (modules' pub/sub to MQTT devices), --nats-max-links N
       (at most N backbone links: a bounded overlay for hundreds of peers), and with --nats but no --signal/--pwa
       a Node peer uses the backbone alone

Working with a running mesh (through its HTTP gateway: --gateway URL, or LIQUIDMESH_GATEWAY,
default ${DEFAULT_GATEWAY}; beyond loopback its token from LIQUIDMESH_TOKEN or <--data-dir>/gateway-token;
an https:// gateway is verified against LIQUIDMESH_CA, else the local CA in the data directory);
every command takes --json for scripts:
  publish <module-dir | file.wasm> [--name N] [--description F] [--data mount=path]… [--sign [--key NAME]]
                      upload a module (binary, description.json, data files) to the package manager;
                      --sign signs its hash, name and version with a key of liquidmesh keys (default "default")
  deploy <manifest.json | -> | --step module:func[@device]… [--name N]
                      create and deploy a deployment, following each step's phase
  call <deployment> [module.function] [value | name=value]… [--file mount=path]… [--out DIR]
                      run a deployment's chain (or one function of it) and print the result
  ls devices|modules|deployments
  history [--device D|all] [--limit N]
                      the request history of the gateway's device (or another, or all)
  migrate <deployment> <module> <device> [--clone]
                      move (or copy) a running module with its state to another device
  ${KEYS_USAGE}
  version             print the version
  help                this text`;
}

/** Run a gateway client command; returns the exit code. */
async function clientCommand(command: string, args: string[]): Promise<number> {
  const json = args.includes('--json');
  try {
    const at = args.findIndex((a) => a === '--gateway' || a.startsWith('--gateway='));
    const gateway = at < 0 ? (process.env.LIQUIDMESH_GATEWAY ?? DEFAULT_GATEWAY) : args[at]!.includes('=') ? args[at]!.slice('--gateway='.length) : (args[at + 1] ?? '');
    // --data-dir only says where the gateway token is; the commands never see it.
    const dirAt = args.findIndex((a) => a === '--data-dir' || a.startsWith('--data-dir='));
    const dataDir = dirAt < 0 ? undefined : args[dirAt]!.includes('=') ? args[dirAt]!.slice('--data-dir='.length) : args[dirAt + 1];
    if (dirAt >= 0) args.splice(dirAt, args[dirAt]!.includes('=') ? 1 : 2);
    // An HTTPS gateway's certificate comes from its host's local CA: trust the one in the
    // data directory (or LIQUIDMESH_CA), as well as any NODE_EXTRA_CA_CERTS.
    if (gateway.startsWith('https:')) await (await import('./tls/node-trust.ts')).trustLocalCa(process.env, dataDir);
    const client = new GatewayClient(gateway, await clientToken(process.env, dataDir));
    const out = consoleOutput(json);
    const mode = progressMode(json);
    const commands = await import('./cli/commands.ts');
    await commands.run(command, args, client, out, mode);
    return 0;
  } catch (error) {
    return reportError(command, error, json);
  }
}

const [command = 'help', ...rest] = process.argv.slice(2);
try {
  switch (command) {
    case 'start': {
      const { startCommand } = await import('./start-command.ts');
      await startCommand(rest);
      break;
    }
    case 'signal': {
      const { signalCommand } = await import('./signal/signal-command.ts');
      await signalCommand(rest);
      break;
    }
    case 'peer': {
      const { peerCommand } = await import('./peer-command.ts');
      await peerCommand(rest);
      break;
    }
    case 'publish':
    case 'deploy':
    case 'call':
    case 'ls':
    case 'history':
    case 'migrate':
      process.exitCode = await clientCommand(command, rest);
      break;
    case 'keys': {
      const { keysCommand } = await import('./keys/keys-command.ts');
      process.exitCode = await keysCommand(rest);
      break;
    }
    case 'version':
      console.log(HOST_VERSION);
      break;
    case 'help':
    case '--help':
      console.log(await usage());
      break;
    default:
      console.error(`unknown command: ${command}\n${await usage()}`);
      process.exitCode = 2;
  }
} catch (error) {
  const code = (error as { code?: unknown }).code;
  console.error(`liquidmesh ${command}: ${(error as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`);
  process.exitCode = 1;
}
