/**
 * The `liquidmesh` command line: `start` (the main job), `signal`, `peer`, `version`,
 * `help`. Commands that need WebRTC load lazily, after their globals are installed.
 */
import { enableDebug } from '../shared/log.ts';
import { HOST_VERSION } from '../shared/peer.ts';
import { SIGNAL_USAGE, signalCommand } from './signal/signal-command.ts';

enableDebug(process.env.DEBUG);

const USAGE = `usage: liquidmesh <command>
  start [--host H] [--signal-port P] [--web-port P] [--mesh M] [--secret S] [--no-chromium]
                      signaling + the PWA + two headless peers with the sample modules
  ${SIGNAL_USAGE}
  peer --name N [--engine node|chromium] [--signal URL] [--mesh M] [--secret S] [--data-dir D] [--pwa URL] [--kiosk] [--json]
                      run one peer of a mesh (a Node process or a headless Chromium)
  version             print the version
  help                this text`;

const [command = 'help', ...rest] = process.argv.slice(2);
try {
  switch (command) {
    case 'start': {
      const { startCommand } = await import('./start-command.ts');
      await startCommand(rest);
      break;
    }
    case 'signal':
      await signalCommand(rest);
      break;
    case 'peer': {
      const { peerCommand } = await import('./peer-command.ts');
      await peerCommand(rest);
      break;
    }
    case 'version':
      console.log(HOST_VERSION);
      break;
    case 'help':
    case '--help':
      console.log(USAGE);
      break;
    default:
      console.error(`unknown command: ${command}\n${USAGE}`);
      process.exitCode = 2;
  }
} catch (error) {
  console.error(`liquidmesh ${command}: ${(error as Error).message}`);
  process.exitCode = 1;
}
