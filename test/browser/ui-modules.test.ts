// The modules view in real Chromium: pick a .wasm, see its exports and imports, describe
// its function with the form, publish with a progress bar, and find the version listed.
import { expect } from 'chai';
import type { ModulesView } from '../../web/ui/modules-view.ts';
import '../../web/ui/modules-view.ts';
import { waitFor } from '../acceptance/wait.ts';
import { button, choose, find, findAll, Fixture, moduleAsFile, pickFiles, textOf, type } from './ui-helpers.ts';

describe('Modules view', function () {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });
  afterEach(() => f.dispose());

  it('shows a picked binary, describes its function with a form and publishes it', async () => {
    const a = await f.peer('desk');
    const view = await f.mount<ModulesView>('lm-modules-view', { node: a });
    expect(textOf(view)).to.contain('No module is published yet.');

    pickFiles(find<HTMLInputElement>(view, 'input[name=wasm]'), [await moduleAsFile('fibo/fibo.wasm')]);
    await waitFor(() => findAll(view, 'lm-function-form').length === 1, 'the form of fibo');
    expect(findAll(view, '.exports .chip').map((c) => c.textContent)).to.include('fibo (function)');
    expect(find<HTMLInputElement>(view, 'input[name=name]').value).to.equal('fibo');
    expect(find<HTMLInputElement>(view, 'input[name=version]').value).to.equal('1.0.0');
    // Prefilled from the signature: one integer parameter, an integer result.
    expect(find<HTMLInputElement>(view, 'input[aria-label="fibo parameter 1 name"]').value).to.equal('param0');
    expect(find<HTMLSelectElement>(view, 'select[aria-label="fibo parameter 1 type"]').value).to.equal('integer');
    expect(find<HTMLSelectElement>(view, 'select[aria-label="fibo result type"]').value).to.equal('integer');

    type(find<HTMLInputElement>(view, 'input[aria-label="fibo parameter 1 name"]'), 'n');
    choose(find<HTMLSelectElement>(view, 'select[aria-label="fibo method"]'), 'POST');
    button(view, 'Add mount').click();
    await view.updateComplete;
    type(find<HTMLInputElement>(view, 'input[aria-label="fibo mount 1 name"]'), 'log.txt');
    choose(find<HTMLSelectElement>(view, 'select[aria-label="fibo mount 1 stage"]'), 'output');
    type(find<HTMLInputElement>(view, 'input[name=version]'), '1.2.0');
    button(view, 'Publish').click();

    await waitFor(() => textOf(view).includes('Published fibo 1.2.0'), 'the published notice');
    const record = a.orchestrator.packages.resolve('fibo');
    expect(record.version).to.equal('1.2.0');
    expect(record.functions.fibo).to.deep.equal({ method: 'POST', params: [{ name: 'n', type: 'integer' }], result: { type: 'integer' }, mounts: [{ name: 'log.txt', stage: 'output' }] });
    await waitFor(() => findAll(view, 'article.module-card').length === 1, 'the module listed');
    const card = find(view, 'article.module-card');
    expect(textOf(card)).to.contain('1.2.0').and.contain('POST fibo(n: integer) → integer').and.contain('log.txt [output]').and.contain('desk');
  });

  it('loads a description.json into the form, asks for data files and says what is wrong', async () => {
    const a = await f.peer('desk');
    const view = await f.mount<ModulesView>('lm-modules-view', { node: a });
    pickFiles(find<HTMLInputElement>(view, 'input[name=wasm]'), [new File([new Uint8Array([1, 2, 3])], 'junk.wasm')]);
    await waitFor(() => textOf(view).includes('junk.wasm is not a WebAssembly module'), 'the error about junk.wasm');
    expect(find(view, '[role=alert]')).to.exist;

    pickFiles(find<HTMLInputElement>(view, 'input[name=wasm]'), [await moduleAsFile('wasi-reader/wasi-reader.wasm')]);
    await waitFor(() => findAll(view, 'lm-function-form').length > 0, 'the forms of wasi-reader');
    expect(textOf(find(view, '.imports'))).to.contain('wasi_snapshot_preview1.');
    const description = {
      name: 'reader',
      version: '0.3.0',
      functions: { count_lines: { method: 'GET', params: [], result: { type: 'integer' }, mounts: [{ name: 'config.txt', stage: 'deployment' }] } },
    };
    pickFiles(find<HTMLInputElement>(view, 'input[name=description]'), [new File([JSON.stringify(description)], 'description.json')]);
    await waitFor(() => findAll(view, 'label.data-file').length === 1, 'a data file picker for config.txt');
    expect(find<HTMLInputElement>(view, 'input[name=name]').value).to.equal('reader');
    button(view, 'Publish').click();
    await waitFor(() => textOf(view).includes('Publishing failed'), 'the missing data file refused');
    expect(textOf(find(view, '[role=alert]'))).to.contain('config.txt');

    pickFiles(find<HTMLInputElement>(view, 'input[aria-label="Data file config.txt"]'), [new File(['threshold=3\n'], 'config.txt')]);
    button(view, 'Publish').click();
    await waitFor(() => textOf(view).includes('Published reader 0.3.0'), 'reader published');
    expect(Object.keys(a.orchestrator.packages.resolve('reader').dataFiles)).to.deep.equal(['config.txt']);
  });
});
