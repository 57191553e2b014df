// The deployments and run views in real Chromium: compose fibo on a chosen device,
// deploy, follow its phase, run it with 12 and read 233 with the step's timing and the
// device's request history; redeploy and delete; a failed deployment shows its reason.
import { expect } from 'chai';
import type { DeploymentsView } from '../../web/ui/deployments-view.ts';
import type { RunView } from '../../web/ui/run-view.ts';
import '../../web/ui/deployments-view.ts';
import '../../web/ui/run-view.ts';
import { waitFor } from '../acceptance/wait.ts';
import { button, choose, find, findAll, Fixture, publishSample, textOf, type } from './ui-helpers.ts';

describe('Deployments and run views', function () {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });
  afterEach(() => f.dispose());

  it('composes, deploys and runs fibo on the chosen device, then redeploys and deletes it', async () => {
    const a = await f.peer('desk');
    const b = await f.peer('phone');
    await f.meshed();
    await publishSample(a, 'fibo');
    const view = await f.mount<DeploymentsView>('lm-deployments-view', { node: a });
    expect(textOf(view)).to.contain('No deployment yet.');

    button(view, 'Deploy').click();
    await view.updateComplete;
    expect(textOf(find(view, '[role=alert]'))).to.contain('Pick a module and a function');

    type(find<HTMLInputElement>(view, 'input[name=deployment-name]'), 'fib');
    choose(find<HTMLSelectElement>(view, 'select[aria-label="Step 1 module"]'), 'fibo');
    await view.updateComplete;
    choose(find<HTMLSelectElement>(view, 'select[aria-label="Step 1 function"]'), 'fibo');
    const devices = find<HTMLSelectElement>(view, 'select[aria-label="Step 1 device"]');
    expect(Array.from(devices.options, (o) => o.textContent)).to.deep.equal(['auto', 'desk', 'phone']);
    choose(devices, b.peer.id);
    button(view, 'Deploy').click();

    await waitFor(() => findAll(view, 'article.deployment .status')[0]?.textContent === 'ready', `fib to be ready (${textOf(view)})`, 20_000);
    const card = find(view, 'article.deployment');
    expect(textOf(find(card, 'table.steps'))).to.contain('fibo.fibo').and.contain('phone').and.contain('ready');
    expect(textOf(find(card, 'details.explanation'))).to.contain('Step 1 → phone');

    const run = await f.mount<RunView>('lm-run-view', { node: a, deployment: card.dataset.id! });
    type(find<HTMLInputElement>(run, 'input[name="param:param0"]'), '12');
    button(run, 'Run').click();
    await waitFor(() => findAll(run, '.final .value').length === 1, 'the result');
    expect(find(run, '.final .value').textContent).to.equal('233');
    const steps = textOf(find(run, '.result table.steps'));
    expect(steps).to.contain('fibo.fibo').and.contain('phone').and.match(/\d ms/);
    await waitFor(() => findAll(run, '.history table tr').length === 2, 'one call in the history of phone');
    expect(textOf(find(run, '.history table'))).to.contain('fibo.fibo').and.contain('233');

    button(view, 'Redeploy fib').click();
    await waitFor(() => textOf(card).includes('revision 2') && find(card, '.status').textContent === 'ready', 'revision 2 ready', 20_000);
    button(view, 'Delete fib').click();
    await waitFor(() => findAll(view, 'article.deployment').length === 0, 'fib gone from the list');
    expect(textOf(view)).to.contain('Deleted fib.');
  });

  it('composes a graph in which one step feeds two, and shows the links', async () => {
    const a = await f.peer('desk');
    await publishSample(a, 'fibo');
    const view = await f.mount<DeploymentsView>('lm-deployments-view', { node: a });
    type(find<HTMLInputElement>(view, 'input[name=deployment-name]'), 'fan');
    button(view, 'Add step').click();
    button(view, 'Add step').click();
    await view.updateComplete;
    for (const i of [1, 2, 3]) {
      choose(find<HTMLSelectElement>(view, `select[aria-label="Step ${i} module"]`), 'fibo');
      await view.updateComplete;
      choose(find<HTMLSelectElement>(view, `select[aria-label="Step ${i} function"]`), 'fibo');
    }
    const graph = find<HTMLInputElement>(view, 'input[name=graph]');
    graph.click();
    await view.updateComplete;
    // The chain 1 → 2 → 3 is kept as links; make it 1 → 2 and 1 → 3.
    expect(find<HTMLInputElement>(view, 'input[aria-label="Step 1 then step 2"]').checked).to.equal(true);
    find<HTMLInputElement>(view, 'input[aria-label="Step 1 then step 3"]').click();
    await view.updateComplete;
    find<HTMLInputElement>(view, 'input[aria-label="Step 2 then step 3"]').click();
    await view.updateComplete;
    button(view, 'Deploy').click();

    await waitFor(() => findAll(view, 'article.deployment .status')[0]?.textContent === 'ready', `fan to be ready (${textOf(view)})`, 20_000);
    const record = a.orchestrator.list().find((d) => d.record.name === 'fan')!.record;
    expect(record.steps!.map((s) => s.next)).to.deep.equal([[1, 2], [], []]);
    const rows = findAll(find(view, 'article.deployment'), 'table.steps tr').map((r) => textOf(r));
    expect(rows[1]).to.contain('2, 3');
    expect(rows[2]).to.contain('result');
  });

  it('shows a failed deployment with its reason and the placement explanation', async () => {
    const a = await f.peer('desk');
    await publishSample(a, 'fibo');
    const module = a.orchestrator.packages.resolve('fibo');
    const now = Date.now();
    a.peer.registry.deployments.put({
      id: 'broken',
      name: 'broken-fib',
      manifest: { name: 'broken-fib', sequence: [{ module: 'fibo', func: 'fibo' }] },
      steps: [{ module: module.id, name: 'fibo', func: 'fibo', next: [], providers: [], grants: [], pin: null }],
      solution: { '0': a.peer.id },
      explanation: { '0': { peer: a.peer.id, verdicts: [{ peer: a.peer.id, name: 'desk', accepted: true, score: 61.5, reasons: ['cpu idle'] }, { peer: 'f'.repeat(32), name: 'pi', accepted: false, reasons: ['not alive'] }] } },
      revision: 1,
      coordinator: a.peer.id,
      status: 'failed',
      reason: 'step 0 on desk failed: ERR_LOAD_FAILED out of memory',
      createdAt: now,
      updatedAt: now,
    });
    const view = await f.mount<DeploymentsView>('lm-deployments-view', { node: a });
    await waitFor(() => findAll(view, 'article.deployment').length === 1, 'the failed deployment listed');
    const card = find(view, 'article.deployment');
    expect(find(card, '.status').textContent).to.equal('failed');
    expect(textOf(find(card, '.reason'))).to.equal('Failed: step 0 on desk failed: ERR_LOAD_FAILED out of memory');
    const explanation = textOf(find(card, 'details.explanation'));
    expect(explanation).to.contain('score 61.5 desk: cpu idle').and.contain('refused pi: not alive');
    expect(button(view, 'Run broken-fib').disabled).to.equal(true);
  });
});
