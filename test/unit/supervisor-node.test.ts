import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { createNodeSandbox } from '../../node-host/sandbox/node-sandbox.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import { serveSupervisor } from '../../shared/supervisor/serve.ts';
import { Supervisor } from '../../shared/supervisor/supervisor.ts';
import { runSupervisorTests } from '../acceptance/supervisor.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { createMesh } from '../helpers/mesh.ts';

runSupervisorTests({
  name: 'Node worker threads',
  create: (limits) => createNodeSandbox(limits ? { limits } : {}),
  moduleFile: async (path) => new Uint8Array(await readFile(new URL(`../../modules/${path}`, import.meta.url))),
});

describe('Supervisor over RPC', () => {
  it('lets another peer call a deployed function and read the history', async () => {
    const mesh = await createMesh(['caller', 'host']);
    const [caller, host] = mesh.peers as [(typeof mesh.peers)[0], (typeof mesh.peers)[0]];
    const supervisor = new Supervisor({ sandbox: createNodeSandbox(), kv: new MemoryKeyValueStore() });
    try {
      serveSupervisor(host.rpc, supervisor);
      const dir = new URL('../../modules/fibo/', import.meta.url);
      await supervisor.deploy({
        deploymentId: 'dep',
        name: 'fibo',
        wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))),
        description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')),
        grants: ['wasi_snapshot_preview1.*'],
      });
      await waitFor(() => caller.linked().includes(host.id), 'the link');
      const out = await caller.call(host.id, 'supervisor.call', { deploymentId: 'dep', module: 'fibo', fn: 'fibo', args: { param0: '12' } });
      expect(out.value).to.equal(233);
      const history = await caller.call(host.id, 'supervisor.history', { deploymentId: 'dep' });
      expect(history.map((h) => [h.method, h.result])).to.deep.equal([['rpc', 233]]);
      const error = await rejectionOf(caller.call(host.id, 'supervisor.call', { deploymentId: 'nope', module: 'fibo', fn: 'fibo' }));
      expect(error.code).to.equal('ERR_DEPLOYMENT_NOT_FOUND');
    } finally {
      await supervisor.stop();
      await mesh.stopAll();
    }
  });
});
