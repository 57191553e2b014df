/**
 * `liquidmesh keys`: the user key store on this machine (node-host/keys/key-store.ts).
 *
 *   keys list                 every key: name, id, public key
 *   keys create <name>        make a key (refused if the name is taken)
 *   keys show [name]          one key (default `default`); made if it is `default` and missing
 *   keys invite               an invitation token signed by an owner key
 *   keys revoke <member>      an owner's revocation of a member (device name, peer id or
 *                             public key), signed here and handed to the mesh through
 *                             its gateway (node-host/keys/revoke.ts)
 *
 * Only public halves are ever printed; a private key never leaves its 0600 file.
 */
import { MeshError } from '../../shared/errors.ts';
import { parseArgs } from '../cli/args.ts';
import { CliError } from '../cli/cli-error.ts';
import { consoleOutput, reportError, table } from '../cli/output.ts';
import { defaultDataDir } from '../data-dir.ts';
import { inviteToken } from './invite.ts';
import { revokeThroughGateway } from './revoke.ts';
import { DEFAULT_KEY_NAME, keysDir, listUserKeys, loadOrCreateUserKey, loadUserKey, OWNER_KEY_NAME, type UserKey } from './key-store.ts';

/** Usage line of `keys` for the CLI's help. */
export const KEYS_USAGE = `keys [list | create <name> | show [name]] [--data-dir DIR] [--json]
                      the signing keys of owners, operators and publishers, kept 0600 in DIR/keys
  keys invite [--key owner] [--mesh M] [--role device|operator|owner] [--hours H] [--reusable]
                      an invitation token signed by an owner key (single use unless --reusable),
                      for \`liquidmesh peer --invitation TOKEN\`
  keys revoke <device name | peer id | public key> [--key owner] [--gateway URL]
                      revoke a member: signed with the owner key here, relayed by the gateway;
                      every peer disconnects it and refuses it from then on`;

function describe(key: UserKey): { name: string; id: string; publicKey: string } {
  return { name: key.name, id: key.id, publicKey: key.publicKeyHex };
}

/** Run `liquidmesh keys …`; returns the exit code. */
export async function keysCommand(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    const args = parseArgs(argv, { values: ['data-dir', 'key', 'mesh', 'role', 'hours', 'gateway'], flags: ['json', 'reusable'] });
    const dataDir = args.values['data-dir'] ?? defaultDataDir();
    const out = consoleOutput(json);
    const [action = 'list', name, ...extra] = args.positionals;
    if (extra.length > 0) throw new CliError('ERR_USAGE', `unexpected ${extra.join(' ')}`);
    switch (action) {
      case 'list': {
        const keys = await listUserKeys(dataDir);
        out.data(keys.map(describe));
        out.say(keys.length === 0 ? `no keys in ${keysDir(dataDir)} (liquidmesh keys create <name>)` : table(['NAME', 'ID', 'PUBLIC KEY'], keys.map((k) => [k.name, k.id, k.publicKeyHex])));
        return 0;
      }
      case 'create': {
        if (!name) throw new CliError('ERR_USAGE', 'keys create needs a name');
        const exists = (await listUserKeys(dataDir)).some((k) => k.name === name);
        if (exists) throw new CliError('ERR_KEY_EXISTS', `a key named "${name}" already exists in ${keysDir(dataDir)}`);
        const key = await loadOrCreateUserKey(name, dataDir);
        out.data(describe(key));
        out.say(`created key ${key.name}\n  id          ${key.id}\n  public key  ${key.publicKeyHex}`);
        return 0;
      }
      case 'show': {
        const wanted = name ?? DEFAULT_KEY_NAME;
        const key = wanted === DEFAULT_KEY_NAME ? await loadOrCreateUserKey(wanted, dataDir) : await loadUserKey(wanted, dataDir);
        out.data(describe(key));
        out.say(`${key.name}\n  id          ${key.id}\n  public key  ${key.publicKeyHex}`);
        return 0;
      }
      case 'invite': {
        const owner = await loadUserKey(args.values.key ?? OWNER_KEY_NAME, dataDir);
        const mesh = args.values.mesh ?? 'liquidmesh';
        let token: string;
        try {
          token = inviteToken(owner, { mesh, ...(args.values.role ? { role: args.values.role } : {}), ...(args.values.hours ? { hours: Number(args.values.hours) } : {}), reusable: args.flags.has('reusable') });
        } catch (error) {
          if (error instanceof RangeError) throw new CliError('ERR_USAGE', error.message);
          throw error;
        }
        out.data({ token, mesh, role: args.values.role ?? 'device', owner: owner.publicKeyHex });
        out.say(token);
        return 0;
      }
      case 'revoke': {
        if (!name) throw new CliError('ERR_USAGE', 'keys revoke needs a member: a device name, peer id or public key');
        const owner = await loadUserKey(args.values.key ?? OWNER_KEY_NAME, dataDir);
        const revoked = await revokeThroughGateway(owner, name, { dataDir, ...(args.values.gateway ? { gateway: args.values.gateway } : {}) });
        out.data(revoked);
        out.say(`revoked ${revoked.name || revoked.id} (key ${revoked.key}): every peer disconnects it and refuses it from now on`);
        return 0;
      }
      default:
        throw new CliError('ERR_USAGE', `unknown keys action "${action}" (list, create, show, invite, revoke)`);
    }
  } catch (error) {
    const cliError = error instanceof MeshError ? new CliError(error.code, error.message) : error;
    return reportError('keys', cliError, json);
  }
}
