import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { startGateway, type Gateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { sha256Hex, toHex } from '../../shared/bytes.ts';
import { Identity } from '../../shared/identity/identity.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { defaultCapabilityPolicy } from '../../shared/trust/capability-policy.ts';
import { requireSigned, signModule, verifyModuleSignature } from '../../shared/trust/module-signature.ts';
import { waitFor } from '../acceptance/wait.ts';

const dir = new URL('../../modules/fibo/', import.meta.url);
const fibo = async (): Promise<{ wasm: Uint8Array; description: { name: string; version: string; functions: never } }> => ({
  wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))),
  description: JSON.parse(await readFile(new URL('description.json', dir), 'utf8')),
});

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('module signatures', () => {
  it('covers the content hash, name and version: a renamed or re-versioned copy does not verify', async () => {
    const publisher = await Identity.generate();
    const m = { id: 'ab'.repeat(32), name: 'fibo', version: '1.0.0' };
    const sig = await signModule(m, publisher);
    expect(sig.publisher).to.equal(toHex(publisher.publicKey));
    expect(await verifyModuleSignature(m, sig)).to.equal(true);
    expect(await verifyModuleSignature({ ...m, name: 'fib0' }, sig)).to.equal(false);
    expect(await verifyModuleSignature({ ...m, version: '1.0.1' }, sig)).to.equal(false);
    expect(await verifyModuleSignature({ ...m, id: 'cd'.repeat(32) }, sig)).to.equal(false);
    expect(await verifyModuleSignature(m, { ...sig, signature: 'zz' })).to.equal(false);
  });

  it('refuses, with a named error, an unsigned module, a bad signature and an untrusted publisher where signatures are required', async () => {
    const [trusted, stranger] = [await Identity.generate(), await Identity.generate()];
    const m = { id: 'ab'.repeat(32), name: 'fibo', version: '1.0.0' };
    const keys = [toHex(trusted.publicKey)];
    expect((await rejection(requireSigned(m, keys))).code).to.equal('ERR_MODULE_UNSIGNED');
    const bySigner = await signModule(m, stranger);
    expect((await rejection(requireSigned({ ...m, signature: bySigner }, keys))).code).to.equal('ERR_MODULE_SIGNATURE_INVALID');
    const forged = { publisher: keys[0]!, signature: bySigner.signature };
    expect((await rejection(requireSigned({ ...m, signature: forged }, keys))).code).to.equal('ERR_MODULE_SIGNATURE_INVALID');
    expect(await requireSigned({ ...m, signature: await signModule(m, trusted) }, keys)).to.equal(keys[0]);
  });
});

describe('--require-signed devices in a mesh (peers in one process)', () => {
  const running: SupervisedPeer[] = [];
  let gateway: Gateway | undefined;
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    await Promise.all(running.splice(0).map((p) => p.stop()));
  });

  it('hosts an unsigned module nowhere, a module signed by a trusted publisher on the strict device, and refuses a forged claim at load', async () => {
    const publisher = await Identity.generate();
    const key = toHex(publisher.publicKey);
    const network = new MemoryNetwork();
    const strict = await startNodePeer({ name: 'strict', transports: [network.createTransport()], policy: { ...defaultCapabilityPolicy(), requireSigned: [key] } });
    running.push(strict);
    await waitFor(() => strict.peer.registry.devices.size === 1, 'the device');
    const { wasm, description } = await fibo();

    const unsigned = await strict.orchestrator.packages.publish({ wasm, description });
    const refused = await rejection(Promise.resolve().then(() => strict.orchestrator.deploy({ name: 'u', sequence: [{ module: unsigned.id, func: 'fibo', device: null }] })));
    expect(refused.code).to.equal('ERR_CAPABILITY_NOT_OFFERED');
    expect(refused.message).to.contain('hosts only signed modules');

    const id = await sha256Hex(wasm);
    const signature = await signModule({ id, name: description.name, version: description.version }, publisher);
    // A signature over another version is refused at publish, storing nothing new.
    const wrong = await signModule({ id, name: description.name, version: '9.9.9' }, publisher);
    expect((await rejection(strict.orchestrator.packages.publish({ wasm, description, signature: wrong }))).code).to.equal('ERR_MODULE_SIGNATURE_INVALID');
    await strict.orchestrator.packages.publish({ wasm, description, signature });
    const dep = strict.orchestrator.deploy({ name: 's', sequence: [{ module: id, func: 'fibo', device: null }] });
    const answer = await strict.orchestrator.execute(dep.id, { args: [12] }, { readyTimeoutMs: 30_000 });
    expect(answer.result.value).to.equal(233);

    // A record that claims the trusted publisher with a signature over something else:
    // placement takes the claim, the device checks it and fails the step, naming why.
    const claimed = { ...strict.peer.registry.modules.get(id)!, version: '2.0.0', signature };
    strict.peer.registry.modules.set(claimed);
    const forged = strict.orchestrator.deploy({ name: 'f', sequence: [{ module: id, func: 'fibo', device: null }] });
    const view = await strict.orchestrator.waitFor(forged.id, (v) => v.record.status === 'failed' || v.record.status === 'ready');
    expect(view.record.status).to.equal('failed');
    expect(JSON.stringify([view.phases, view.record.reason])).to.contain('ERR_MODULE_SIGNATURE_INVALID');
  });

  it('takes a signature with an upload (header or form field) and shows who signed the module', async () => {
    const publisher = await Identity.generate();
    const network = new MemoryNetwork();
    const peer = await startNodePeer({ name: 'gw', transports: [network.createTransport()] });
    running.push(peer);
    gateway = await startGateway({ peer, port: 0 });
    const { wasm, description } = await fibo();
    const id = await sha256Hex(wasm);
    const create = new FormData();
    create.set('name', description.name);
    create.set('wasm', new Blob([new Uint8Array(wasm)], { type: 'application/wasm' }), 'fibo.wasm');
    const created = await fetch(`${gateway.url}/file/module`, { method: 'POST', body: create });
    expect(created.status).to.equal(201);

    const sig = await signModule({ id, name: description.name, version: description.version }, publisher);
    const describe = (signature: string): FormData => {
      const f = new FormData();
      f.set('description', JSON.stringify(description));
      f.set('signature', signature);
      return f;
    };
    const bad = await fetch(`${gateway.url}/file/module/${id}/upload`, { method: 'POST', body: describe(`${sig.publisher}:${'0'.repeat(128)}`) });
    expect([bad.status, ((await bad.json()) as { code: string }).code]).to.deep.equal([403, 'ERR_MODULE_SIGNATURE_INVALID']);
    const good = await fetch(`${gateway.url}/file/module/${id}/upload`, { method: 'POST', body: describe(`${sig.publisher}:${sig.signature}`) });
    expect(good.status).to.equal(200);
    const [shown] = (await (await fetch(`${gateway.url}/file/module/${id}`)).json()) as { signedBy: string | null }[];
    expect(shown!.signedBy).to.equal(sig.publisher);

    const viaHeader = await fetch(`${gateway.url}/file/module/${id}/upload`, { method: 'POST', headers: { 'x-liquidmesh-signature': `${sig.publisher}:${sig.signature}` }, body: describe('') });
    expect(viaHeader.status).to.equal(200);
  });
});
