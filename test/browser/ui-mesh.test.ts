// The mesh view in real Chromium: device cards with engine, capabilities, telemetry and
// the modules placed on each; moving a module by drag and drop and by the keyboard menu
// when the orchestrator can migrate, and saying so when it cannot.
import { expect } from 'chai';
import type { MeshView, MigrationOutcome } from '../../web/ui/mesh-view.ts';
import '../../web/ui/mesh-view.ts';
import { waitFor } from '../acceptance/wait.ts';
import { EXPECTED_SELF } from './test-engine.ts';
import { choose, find, findAll, Fixture, publishSample, textOf } from './ui-helpers.ts';

describe('Mesh view', function () {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });
  afterEach(() => f.dispose());

  it('shows every device with its engine, capabilities, telemetry and placed modules', async () => {
    const a = await f.peer('desk');
    const b = await f.peer('phone');
    await f.meshed();
    await publishSample(a, 'stateful-fibo', 'stateful-fibo/stateful-fibo.wasm');
    const dep = a.orchestrator.deploy({ name: 'counter', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'phone' }] });
    await a.orchestrator.waitFor(dep.id);

    // An orchestrator without live migration (the capability the view checks for).
    (a.orchestrator as unknown as { migrate?: unknown }).migrate = undefined;
    const view = await f.mount<MeshView>('lm-mesh-view', { node: a });
    await waitFor(() => findAll(view, 'article.device').length === 2, 'two device cards');
    const cards = findAll(view, 'article.device');
    expect(cards.map((c) => find(c, '.name').textContent)).to.deep.equal(['desk', 'phone']);
    expect(textOf(cards[0]!)).to.contain('(this device)');
    expect(textOf(find(cards[0]!, '.engine'))).to.match(EXPECTED_SELF.label);
    expect(findAll(cards[0]!, '.caps .chip').map((c) => c.textContent!.trim())).to.include.members(['dht (simulated)', 'wasi']);
    expect(findAll(cards[0]!, 'lm-sparkline').map((s) => s.getAttribute('label'))).to.deep.equal(['cpu', 'memory', 'calls/s']);
    await waitFor(() => findAll(cards[1]!, '.module').length === 1, 'the module chip on the phone');
    expect(textOf(find(cards[1]!, '.module'))).to.contain('stateful-fibo').and.contain('counter');
    expect(textOf(cards[0]!)).to.contain('no modules');
    // No migrate on this orchestrator: nothing can be dragged and the view says why.
    expect(textOf(view)).to.contain('Live migration is not available');
    expect(find(cards[1]!, '.module').getAttribute('draggable')).to.equal('false');
    expect(b.peer.id).to.equal(cards[1]!.dataset.peer);
  });

  it('moves a module by drag and drop and with the Move to… menu, showing the outcome', async () => {
    const a = await f.peer('desk');
    const b = await f.peer('phone');
    await f.meshed();
    await publishSample(a, 'stateful-fibo', 'stateful-fibo/stateful-fibo.wasm');
    const dep = a.orchestrator.deploy({ name: 'counter', sequence: [{ module: 'stateful-fibo', func: 'stateful_fibo', device: 'desk' }] });
    await a.orchestrator.waitFor(dep.id);
    // A stand-in migrate: the view's wiring is what is under test here.
    const calls: unknown[][] = [];
    let fail = false;
    (a.orchestrator as unknown as { migrate: (...args: unknown[]) => Promise<MigrationOutcome> }).migrate = async (...args) => {
      calls.push(args);
      if (fail) throw new Error('the target refused the snapshot');
      return { deploymentId: dep.id, module: 'stateful-fibo', from: a.peer.id, to: b.peer.id, mode: 'move', durationMs: 42 };
    };
    const view = await f.mount<MeshView>('lm-mesh-view', { node: a });
    await waitFor(() => findAll(view, '.module').length === 1, 'the module chip');
    const [desk, phone] = findAll(view, 'article.device');
    const chip = find(desk!, '.module');
    expect(chip.getAttribute('draggable')).to.equal('true');

    const transfer = new DataTransfer();
    chip.dispatchEvent(new DragEvent('dragstart', { dataTransfer: transfer, bubbles: true, composed: true }));
    const over = new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true, composed: true });
    phone!.dispatchEvent(over);
    expect(over.defaultPrevented, 'the phone accepts the drop').to.equal(true);
    phone!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true, composed: true }));
    await waitFor(() => textOf(view).includes('Moved stateful-fibo from desk to phone in 42 ms'), 'the outcome of the drop');
    expect(calls).to.deep.equal([[dep.id, 'stateful-fibo', b.peer.id, { mode: 'move' }]]);

    fail = true;
    const menu = find<HTMLSelectElement>(desk!, 'select.move-to');
    expect(menu.getAttribute('aria-label')).to.equal('Move stateful-fibo of counter to…');
    expect(Array.from(menu.options, (o) => o.textContent)).to.deep.equal(['Move to…', 'phone']);
    choose(menu, b.peer.id);
    await waitFor(() => textOf(view).includes('Moving stateful-fibo to phone failed: the target refused the snapshot'), 'the failure of the menu move');
    expect(calls).to.have.length(2);
    expect(findAll(view, '.move.failed')).to.have.length(1);
  });
});
