/**
 * Dispatch of the gateway client commands (`publish`, `deploy`, `call`, `ls`, `history`,
 * `migrate`); each lives beside this file.
 */
import { callCommand, historyCommand, lsCommand, migrateCommand } from './call-inspect.ts';
import { CliError } from './cli-error.ts';
import type { GatewayClient } from './gateway-client.ts';
import type { Output } from './output.ts';
import type { ProgressMode } from './progress.ts';
import { deployCommand, publishCommand } from './publish-deploy.ts';

/** Run one client command. */
export async function run(command: string, args: string[], client: GatewayClient, out: Output, mode: ProgressMode): Promise<void> {
  switch (command) {
    case 'publish':
      return publishCommand(args, client, out, mode);
    case 'deploy':
      return deployCommand(args, client, out, mode);
    case 'call':
      return callCommand(args, client, out, mode);
    case 'ls':
      return lsCommand(args, client, out);
    case 'history':
      return historyCommand(args, client, out);
    case 'migrate':
      return migrateCommand(args, client, out, mode);
    default:
      throw new CliError('ERR_USAGE', `unknown command ${command}`);
  }
}
