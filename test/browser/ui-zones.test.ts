// Zones and risk levels in the PWA, in real Chromium: each device's zone from its node card
// in the mesh view, and each deployment's certificate — valid or not, with every step's
// zone, risks and reasons — in the deployments view, following the cards as they change.
// Nothing of it shows while the mesh has no cards.
import { expect } from 'chai';
import { cardKey, parseModuleCard, parseNodeCard } from '../../shared/orchestrator/policy.ts';
import type { CardRecord } from '../../shared/registry/schema.ts';
import type { BrowserPeer } from '../../web/browser-peer.ts';
import type { DeploymentsView } from '../../web/ui/deployments-view.ts';
import type { MeshView } from '../../web/ui/mesh-view.ts';
import '../../web/ui/deployments-view.ts';
import '../../web/ui/mesh-view.ts';
import { moduleCard, nodeCard, zoneCard } from '../helpers/odrl-cards.ts';
import { waitFor } from '../acceptance/wait.ts';
import { find, findAll, Fixture, publishSample, textOf } from './ui-helpers.ts';

/** Store a card in the registry as the gateway's card routes do. */
function putCard(peer: BrowserPeer, kind: CardRecord['kind'], card: Record<string, unknown>): void {
  const parsed = kind === 'node' ? parseNodeCard(card) : kind === 'module' ? parseModuleCard(card) : null;
  if (typeof parsed === 'string') throw new Error(parsed);
  peer.peer.registry.cards.set({ id: cardKey(kind, parsed), kind, json: JSON.stringify(card), updatedAt: Date.now() });
}

describe('Zones and certificates in the PWA', function () {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });
  afterEach(() => f.dispose());

  it('shows each device’s zone and each deployment’s certificate, and follows a device moving zone', async () => {
    const desk = await f.peer('desk');
    const phone = await f.peer('phone');
    await f.meshed();
    await publishSample(desk, 'fibo');
    const fibo = desk.orchestrator.packages.resolve('fibo').id;
    const record = desk.orchestrator.deploy({ name: 'fib', sequence: [{ module: 'fibo', func: 'fibo', device: desk.peer.id }] });
    await desk.orchestrator.waitFor(record.id);

    const mesh = await f.mount<MeshView>('lm-mesh-view', { node: desk });
    const deployments = await f.mount<DeploymentsView>('lm-deployments-view', { node: desk });
    await waitFor(() => findAll(mesh, 'article.device').length === 2 && findAll(deployments, 'article.deployment').length === 1, 'two devices and one deployment');
    // No cards in the mesh: no zones, no certificates.
    expect(findAll(mesh, '.badge.zone')).to.deep.equal([]);
    expect(findAll(deployments, 'details.certificate')).to.deep.equal([]);

    putCard(desk, 'zones', zoneCard());
    putCard(desk, 'node', nodeCard(desk.peer.id, 'safe'));
    putCard(desk, 'node', nodeCard(phone.peer.id, 'unsafe'));
    putCard(desk, 'module', moduleCard(fibo, 'high', 'temp', 'low'));
    const zoneOf = (name: string): string => textOf(find(mesh, `article.device[aria-label="Device ${name}"] header`));
    await waitFor(() => zoneOf('desk').includes('zone safe') && zoneOf('phone').includes('zone unsafe'), `both zones shown (${textOf(mesh)})`);
    await waitFor(() => findAll(deployments, 'details.certificate').length === 1, 'the certificate');
    const certificate = find<HTMLDetailsElement>(deployments, 'details.certificate');
    expect(textOf(find(certificate, 'summary'))).to.contain('Certificate').and.contain('valid').and.not.contain('not valid');
    certificate.open = true;
    expect(textOf(find(certificate, 'ul.validation'))).to.contain('Step 1 on desk: valid · zone safe · module risk high · input none · output low');

    // The desk moves to the unsafe zone: the certificate says why fib is no longer valid there.
    putCard(desk, 'node', nodeCard(desk.peer.id, 'unsafe'));
    await waitFor(() => zoneOf('desk').includes('zone unsafe'), 'the desk in its new zone');
    await waitFor(() => textOf(find(deployments, 'details.certificate summary')).includes('not valid'), 'the certificate no longer valid');
    expect(textOf(find(deployments, 'details.certificate ul.validation'))).to.contain('Step 1 on desk: module risk high is not allowed in zone unsafe');
    // Every peer reads the same cards: the phone's own view shows the same zone.
    const phoneMesh = await f.mount<MeshView>('lm-mesh-view', { node: phone });
    await waitFor(() => textOf(find(phoneMesh, 'article.device[aria-label="Device desk"] header')).includes('zone unsafe'), 'the phone sees the desk’s zone');
  });
});
