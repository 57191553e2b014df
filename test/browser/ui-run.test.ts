// The run view showing a camera → classify result in real Chromium: the picture the
// camera took, the label and score from classification.json with the top classes, the
// class index as the final value, and every step's device and timing. A result without
// pictures or JSON files shows none of that.
import { expect } from 'chai';
import type { ExecuteResult } from '../../shared/orchestrator/orchestrator.ts';
import { FakeCamera } from '../../shared/adapters/fake-camera.ts';
import { formatMs } from '../../web/ui/format.ts';
import type { RunView } from '../../web/ui/run-view.ts';
import '../../web/ui/run-view.ts';
import { find, findAll, Fixture, textOf } from './ui-helpers.ts';

const CLASSIFICATION = {
  class: 2,
  label: 'Neutral',
  top: [
    { index: 2, label: 'Neutral', score: 0.8125 },
    { index: 0, label: 'Drawing', score: 0.125 },
    { index: 4, label: 'Sexy', score: 0.0625 },
  ],
  scores: [0.125, 0, 0.8125, 0, 0.0625],
};

function chainResult(peer: string): ExecuteResult {
  const jpeg = new FakeCamera({ width: 64, height: 48 }).capture();
  const json = new TextEncoder().encode(JSON.stringify(CLASSIFICATION));
  return {
    deploymentId: 'see',
    revision: 1,
    result: { value: 2, files: [{ name: 'classification.json', mediaType: 'application/json', bytes: json }] },
    steps: [
      { step: 0, peer, module: 'camera', func: 'take_image_predefined_path', value: jpeg.byteLength, files: [{ name: 'image.jpeg', mediaType: 'image/jpeg', bytes: jpeg }], durationMs: 12.5, totalMs: 160, requestId: 'r1' },
      { step: 1, peer, module: 'classify', func: 'classify', value: 2, files: [{ name: 'classification.json', mediaType: 'application/json', bytes: json }], durationMs: 48.25, totalMs: 50, requestId: 'r2' },
    ],
    leaves: [1],
    totalMs: 171,
  };
}

describe('Run view: a classification chain', function () {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });
  afterEach(() => f.dispose());

  it('shows the picture, the label with its score, the top classes and each step timed', async () => {
    const a = await f.peer('desk');
    const run = await f.mount<RunView>('lm-run-view', { node: a });
    run.result = chainResult(a.peer.id);
    await run.updateComplete;
    expect(find(run, '.final .value').textContent).to.equal('2');
    const picture = find<HTMLImageElement>(run, '.result img.picture');
    expect(picture.alt).to.equal('image.jpeg');
    await picture.decode();
    expect([picture.naturalWidth, picture.naturalHeight]).to.deep.equal([64, 48]);
    expect(textOf(find(run, '.classification .label'))).to.match(/^Neutral\s+81\.3 %$/);
    expect(findAll(run, '.classification ol.top li').map((li) => textOf(li).replace(/\s+/g, ' ').trim())).to.deep.equal(['Neutral 81.3 %', 'Drawing 12.5 %', 'Sexy 6.3 %']);
    expect(textOf(find(run, '.output summary'))).to.equal('classification.json');
    const steps = textOf(find(run, '.result table.steps'));
    expect(steps).to.contain('camera.take_image_predefined_path').and.contain('classify.classify').and.contain('desk');
    expect(findAll(run, '.result table.steps tr')).to.have.length(3);
    expect(findAll(run, '.result table.steps td').map((td) => textOf(td))).to.include.members([formatMs(12.5), formatMs(48.25)]);

    run.result = { ...chainResult(a.peer.id), result: { value: 233, files: [] }, steps: [{ ...chainResult(a.peer.id).steps[1]!, files: [], value: 233 }], leaves: [0] };
    await run.updateComplete;
    expect(findAll(run, '.result img.picture')).to.have.length(0);
    expect(findAll(run, '.classification')).to.have.length(0);
  });
});

