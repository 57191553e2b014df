// Manifest parsing: the three accepted forms (WasmIoT sequence, supervisor
// DeploymentNode old and new, graph), their normalisation, the named errors with the
// JSON path in the message, and topic matching.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../shared/orchestrator/manifest.ts';
import { isTopicGranted, topicMatches } from '../../shared/protocol/topics.ts';

const URL_BASE = 'http://wasm-server:8000';

/** Run `f`, expecting an error; return it. */
function thrown(f: () => unknown): { code: string; message: string; data: unknown } {
  try {
    f();
  } catch (error) {
    return error as { code: string; message: string; data: unknown };
  }
  throw new Error('expected an error');
}

/** Expect `parseManifest(value)` to fail with ERR_INVALID_MANIFEST and a message matching `message`. */
function expectInvalid(value: unknown, message: string | RegExp): void {
  expect(() => parseManifest(value)).toThrow(message);
  expect(thrown(() => parseManifest(value)).code).toBe('ERR_INVALID_MANIFEST');
}

describe('parseManifest: WasmIoT sequence form', () => {
  it('normalises a sequence into a chain with defaults', () => {
    const m = parseManifest({
      name: 'fibo-dep',
      sequence: [
        { device: '0123456789abcdef0123456789abcdef', module: 'fibo', func: 'fibo' },
        { device: null, module: 'camera', func: 'take_image' },
        { module: 'grayscale', func: 'convert2Grayscale', device: '' },
        { module: 'sink', func: 'store' },
      ],
    });
    expect(m).toEqual({
      name: 'fibo-dep',
      form: 'sequence',
      steps: [
        { module: 'fibo', func: 'fibo', device: '0123456789abcdef0123456789abcdef', next: [1] },
        { module: 'camera', func: 'take_image', device: null, next: [2] },
        { module: 'grayscale', func: 'convert2Grayscale', device: null, next: [3] },
        { module: 'sink', func: 'store', device: null, next: [] },
      ],
      topics: {},
      antiAffinity: false,
      engines: [],
      replicas: 0,
    });
  });

  it('lets the orchestrator choose for a step device of "", "null", "any" or null, as WasmIoT 2026 sends them', () => {
    const m = parseManifest({ name: 'x', sequence: ['', 'null', 'any', null].map((device) => ({ device, module: 'fibo', func: 'fibo' })) });
    expect(m.steps.map((s) => s.device)).toEqual([null, null, null, null]);
    expect(parseManifest({ name: 'x', sequence: [{ device: 'anything', module: 'fibo', func: 'fibo' }] }).steps[0]!.device).toBe('anything');
  });

  it('reads step fields by name, whatever their order', () => {
    const expected = { module: 'fibo', func: 'fibo', device: 'rpi-1', next: [] };
    const orders = [
      { device: 'rpi-1', module: 'fibo', func: 'fibo' },
      { func: 'fibo', module: 'fibo', device: 'rpi-1' },
      { module: 'fibo', device: 'rpi-1', func: 'fibo' },
      { func: 'fibo', device: 'rpi-1', module: 'fibo' },
    ];
    for (const step of orders) expect(parseManifest({ name: 'x', sequence: [step] }).steps).toEqual([expected]);
  });

  it('ignores unknown keys and returns an object that shares nothing with its input', () => {
    const input = {
      name: 'x',
      whatever: { deep: true },
      sequence: [{ module: 'm', func: 'f', extra: 1 }],
      topics: { m: { publish: ['a/b'] } },
      engines: ['node', 'node', 'browser'],
    };
    const m = parseManifest(input);
    expect(m).not.toHaveProperty('whatever');
    expect(m.steps[0]).not.toHaveProperty('extra');
    expect(m.engines).toEqual(['node', 'browser']);
    m.topics['m']!.publish.push('changed');
    m.engines.push('chromium');
    expect(input.topics.m.publish).toEqual(['a/b']);
    expect(input.engines).toEqual(['node', 'node', 'browser']);
  });

  it('rejects a missing name with the reference phrase', () => {
    expectInvalid({ sequence: [{ module: 'm', func: 'f' }] }, 'manifest must have a name');
    expectInvalid({ name: '  ', sequence: [{ module: 'm', func: 'f' }] }, 'manifest.name: missing; manifest must have a name');
    expectInvalid({}, 'manifest must have a name');
    expectInvalid({ name: 42, sequence: [] }, 'manifest.name: expected a string');
  });

  it('names the JSON path and the problem', () => {
    expectInvalid({ name: 'x', sequence: [{ module: 'm', func: 'f' }, { module: 'm', func: 7 }] }, 'manifest.sequence[1].func: expected a string');
    expectInvalid({ name: 'x', sequence: [{ func: 'f' }] }, 'manifest.sequence[0].module: missing');
    expectInvalid({ name: 'x', sequence: [{ module: 'm', func: 'f', device: 3 }] }, 'manifest.sequence[0].device: expected a string or null');
    expectInvalid({ name: 'x', sequence: ['step'] }, 'manifest.sequence[0]: expected an object');
    expectInvalid({ name: 'x', sequence: 'a,b' }, 'manifest.sequence: expected an array');
    expectInvalid({ name: 'x', sequence: [] }, 'manifest.sequence: must have at least one step');
    expectInvalid('name', 'manifest: expected an object');
    expectInvalid(null, 'manifest: expected an object');
    expectInvalid({ name: 'x' }, /^manifest\.sequence: missing/);
  });

  it('limits a manifest to 256 steps', () => {
    const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ module: 'm', func: `f${i}` }));
    expect(parseManifest({ name: 'x', sequence: steps(256) }).steps).toHaveLength(256);
    expectInvalid({ name: 'x', sequence: steps(257) }, 'manifest.sequence: more than 256 items');
  });

  it('validates the common optional fields', () => {
    const base = { name: 'x', sequence: [{ module: 'm', func: 'f' }] };
    expect(parseManifest({ ...base, antiAffinity: true }).antiAffinity).toBe(true);
    expectInvalid({ ...base, antiAffinity: 'yes' }, 'manifest.antiAffinity: expected a boolean');
    expectInvalid({ ...base, engines: ['node', 'deno'] }, 'manifest.engines[1]: expected one of browser, chromium, node');
    expectInvalid({ ...base, steps: [] }, 'manifest: has both "sequence" and "steps"');
  });

  it('reads the number of hot standbys, 0 to 3, and refuses anything else by name', () => {
    const base = { name: 'x', sequence: [{ module: 'm', func: 'f' }] };
    expect(parseManifest(base).replicas).toBe(0);
    expect(parseManifest({ ...base, replicas: 1 }).replicas).toBe(1);
    expect(parseManifest({ ...base, replicas: 3 }).replicas).toBe(3);
    expect(parseManifest({ name: 'g', steps: [{ id: 'a', module: 'm', func: 'f' }], replicas: 2 }).replicas).toBe(2);
    expect(parseManifest({ deploymentId: 'd', instructions: { modules: { m: { f: { to: null } } } }, replicas: 1 }).replicas).toBe(1);
    expectInvalid({ ...base, replicas: 4 }, 'manifest.replicas: expected 0 to 3');
    expectInvalid({ ...base, replicas: -1 }, 'manifest.replicas: expected 0 to 3');
    expectInvalid({ ...base, replicas: 1.5 }, 'manifest.replicas: expected a whole number of standbys');
    expectInvalid({ ...base, replicas: '1' }, 'manifest.replicas: expected a whole number of standbys');
  });
});

describe('parseManifest: topics', () => {
  const base = { name: 'x', sequence: [{ module: 'sensor', func: 'read' }] };

  it('normalises topic grants per module', () => {
    const m = parseManifest({ ...base, topics: { sensor: { publish: ['poly/temperature', 'poly/*'] }, logger: { subscribe: ['poly/#'] } } });
    expect(m.topics).toEqual({
      sensor: { publish: ['poly/temperature', 'poly/*'], subscribe: [] },
      logger: { publish: [], subscribe: ['poly/#'] },
    });
  });

  it('rejects malformed topics with their path', () => {
    expectInvalid({ ...base, topics: { sensor: { publish: ['has space'] } } }, 'manifest.topics.sensor.publish[0]: a topic must not contain whitespace');
    expectInvalid({ ...base, topics: { sensor: { publish: [''] } } }, 'manifest.topics.sensor.publish[0]: string too short');
    expectInvalid({ ...base, topics: { sensor: { subscribe: ['x'.repeat(201)] } } }, 'manifest.topics.sensor.subscribe[0]: string too long');
    expectInvalid({ ...base, topics: { sensor: { subscribe: ['poly*'] } } }, '"*" must be a whole segment');
    expectInvalid({ ...base, topics: { sensor: { subscribe: ['#/a'] } } }, '"#" may only be the whole last segment');
    expectInvalid({ ...base, topics: { sensor: { publish: 'a' } } }, 'manifest.topics.sensor.publish: expected an array');
    expectInvalid({ ...base, topics: ['a'] }, 'manifest.topics: expected an object');
  });
});

describe('parseManifest: supervisor form', () => {
  // Seed 001's fibo manifest verbatim, with ${WASM_SERVER_HOST} replaced.
  const fibo = JSON.parse(`{
"deploymentId":"0",
"modules":[
{
"id":"0",
"name":"fiboMod",
"urls":{
"binary":"${URL_BASE}/wasm-binaries/wasm32-unknown-unknown/fibo.wasm",
"description":"${URL_BASE}/fibo/open-api-description.json",
"other":[]
}
}
],
"instructions": {
"modules": {
"fiboMod": {
"fibo": {
"paths": {
"": {
"get": {
"parameters": [{
"name": "iterations",
"in": "query",
"required": true,
"schema": {
"type": "integer",
"format": "int64"
}
}],
"responses": {
"200": {
"content": {
"application/json": {
"schema": {
"type": "integer",
"format": "int64"
}
}
}
}
}
}
}
},
"to": null
}
}
}
}
}`);

  it("accepts seed 001's fibo manifest", () => {
    expect(parseManifest(fibo)).toEqual({
      name: '0',
      form: 'supervisor',
      steps: [{ module: 'fiboMod', func: 'fibo', device: null, next: [] }],
      topics: {},
      antiAffinity: false,
      engines: [],
      replicas: 0,
      deploymentId: '0',
      sources: {
        fiboMod: {
          binary: `${URL_BASE}/wasm-binaries/wasm32-unknown-unknown/fibo.wasm`,
          description: `${URL_BASE}/fibo/open-api-description.json`,
          other: [],
        },
      },
    });
  });

  it('accepts the older data-file list and a numeric deployment id', () => {
    const m = parseManifest({
      deploymentId: 1,
      modules: [{ id: '1', name: 'mobilenet', urls: { binary: `${URL_BASE}/ml.wasm`, other: [`${URL_BASE}/ml.pb`] } }],
      instructions: { modules: { mobilenet: { infer_from_ptrs: { paths: {}, to: null } } } },
    });
    expect(m.name).toBe('1');
    expect(m.deploymentId).toBe('1');
    expect(m.sources).toEqual({ mobilenet: { binary: `${URL_BASE}/ml.wasm`, other: [`${URL_BASE}/ml.pb`] } });
  });

  /** A DeploymentNode with camera → grayscale → store, written out of order. */
  function node(to: { camera: unknown; grayscale: unknown }): unknown {
    const endpoint = (module: string, func: string) => ({ url: 'http://10.0.0.5:5000', path: `/{deployment}/modules/${module}/${func}`, method: 'post' });
    return {
      deploymentId: 'dep-7',
      modules: [
        { id: 'a', name: 'camera', urls: { binary: `${URL_BASE}/camera.wasm`, description: `${URL_BASE}/camera.json`, other: {} } },
        { id: 'b', name: 'grayscale', urls: { binary: `${URL_BASE}/gray.wasm`, description: `${URL_BASE}/gray.json`, other: { model: `${URL_BASE}/model` } } },
      ],
      endpoints: { camera: { take_image: endpoint('camera', 'take_image') }, grayscale: { convert: endpoint('grayscale', 'convert') } },
      instructions: {
        modules: {
          store: { save: { from: 'x', to: null } },
          grayscale: { convert: { from: 'x', to: to.grayscale } },
          camera: { take_image: { from: 'x', to: to.camera } },
        },
      },
      mounts: { camera: { take_image: { deployment: [], execution: [], output: [{ path: 'image.jpeg', media_type: 'image/jpeg', stage: 'output' }] } } },
    };
  }

  const chained = [
    { module: 'camera', func: 'take_image', device: null, next: [1] },
    { module: 'grayscale', func: 'convert', device: null, next: [2] },
    { module: 'store', func: 'save', device: null, next: [] },
  ];

  it('chains DeploymentNode steps through `to` paths and orders them from the entry', () => {
    const m = parseManifest(node({ camera: '/dep-7/modules/grayscale/convert', grayscale: 'http://10.0.0.6:5000/dep-7/modules/store/save?x=1' }));
    expect(m.steps).toEqual(chained);
    expect(m.sources!['grayscale']).toEqual({ binary: `${URL_BASE}/gray.wasm`, description: `${URL_BASE}/gray.json`, other: { model: `${URL_BASE}/model` } });
  });

  it('chains through endpoint objects and {module, func} objects alike', () => {
    const viaEndpoint = node({ camera: { url: 'http://10.0.0.5:5000', path: '/{deployment}/modules/grayscale/convert', method: 'post' }, grayscale: { module: 'store', func: 'save' } });
    expect(parseManifest(viaEndpoint).steps).toEqual(chained);
  });

  it('leaves steps unchained when `to` names no step of the deployment', () => {
    const m = parseManifest(node({ camera: '/dep-7/modules/elsewhere/f', grayscale: 'http://example.com/' }));
    expect(m.steps.map((s) => `${s.module}:${s.next.join(',')}`)).toEqual(['store:', 'grayscale:', 'camera:']);
  });

  it('rejects malformed supervisor manifests with their path', () => {
    const good = { deploymentId: 'd', instructions: { modules: { m: { f: { to: null } } } } };
    expect(parseManifest(good).steps).toHaveLength(1);
    expectInvalid({ instructions: good.instructions }, 'manifest.deploymentId: missing; manifest must have a name');
    expectInvalid({ deploymentId: 'd' }, 'manifest.instructions: missing');
    expectInvalid({ deploymentId: 'd', instructions: { modules: {} } }, 'manifest.instructions.modules: must name at least one function');
    expectInvalid({ ...good, instructions: { modules: { m: { f: { to: 5 } } } } }, 'manifest.instructions.modules.m.f.to: expected an endpoint');
    expectInvalid({ ...good, modules: [{ id: '1', urls: {} }] }, 'manifest.modules[0].name: missing');
    expectInvalid({ ...good, modules: [{ name: 'm', urls: { other: 'x' } }] }, 'manifest.modules[0].urls.other: expected an array of URLs');
    expectInvalid({ deploymentId: 'd', instructions: { modules: { m: { f: { to: '/d/modules/m/f' } } } } }, 'manifest.instructions: steps form a cycle: m.f -> m.f');
  });
});

describe('parseManifest: graph form', () => {
  it('allows fan-out and orders steps topologically, ties by declaration order', () => {
    const m = parseManifest({
      name: 'fan',
      steps: [
        { id: 'sink', module: 'store', func: 'save' },
        { id: 'left', module: 'gray', func: 'convert', next: ['sink'] },
        { id: 'cam', module: 'camera', func: 'take', device: 'rpi-cam', next: ['left', 'right'] },
        { id: 'right', module: 'ml', func: 'infer', next: ['sink'] },
      ],
    });
    expect(m.form).toBe('graph');
    expect(m.steps).toEqual([
      { module: 'camera', func: 'take', device: 'rpi-cam', next: [1, 2] },
      { module: 'gray', func: 'convert', device: null, next: [3] },
      { module: 'ml', func: 'infer', device: null, next: [3] },
      { module: 'store', func: 'save', device: null, next: [] },
    ]);
  });

  it('puts a declared entry first', () => {
    const m = parseManifest({
      name: 'two-sources',
      entry: 'b',
      steps: [
        { id: 'a', module: 'ma', func: 'f', next: ['c'] },
        { id: 'b', module: 'mb', func: 'f', next: ['c'] },
        { id: 'c', module: 'mc', func: 'f' },
      ],
    });
    expect(m.steps.map((s) => s.module)).toEqual(['mb', 'ma', 'mc']);
    expect(m.steps.map((s) => s.next)).toEqual([[2], [2], []]);
  });

  it('gives the same result for every declaration of the same graph edges', () => {
    const steps = [
      { id: 'a', module: 'ma', func: 'f', next: ['b'] },
      { id: 'b', module: 'mb', func: 'f' },
    ];
    const forward = parseManifest({ name: 'g', steps });
    const backward = parseManifest({ name: 'g', steps: [...steps].reverse() });
    expect(backward.steps).toEqual(forward.steps);
  });

  it('detects cycles and names them', () => {
    const error = thrown(() =>
      parseManifest({
        name: 'loop',
        steps: [
          { id: 'start', module: 'm', func: 'f', next: ['a'] },
          { id: 'a', module: 'm', func: 'g', next: ['b'] },
          { id: 'b', module: 'm', func: 'h', next: ['a'] },
        ],
      }),
    );
    expect(error.code).toBe('ERR_INVALID_MANIFEST');
    expect(error.message).toBe('manifest.steps: steps form a cycle: a -> b -> a');
    expect(error.data).toMatchObject({ cycle: ['a', 'b', 'a'] });
    expectInvalid({ name: 'self', steps: [{ id: 'a', module: 'm', func: 'f', next: ['a'] }] }, 'cycle: a -> a');
  });

  it('rejects duplicate ids, dangling edges and bad entries', () => {
    const a = { id: 'a', module: 'm', func: 'f' };
    expectInvalid({ name: 'g', steps: [a, { ...a }] }, 'manifest.steps[1].id: duplicate id "a"');
    expectInvalid({ name: 'g', steps: [{ ...a, next: ['nope'] }] }, 'manifest.steps[0].next[0]: no step with id "nope"');
    expectInvalid({ name: 'g', steps: [{ ...a, next: 'b' }] }, 'manifest.steps[0].next: expected an array');
    expectInvalid({ name: 'g', steps: [a], entry: 'z' }, 'manifest.entry: no step with id "z"');
    expectInvalid({ name: 'g', steps: [{ module: 'm', func: 'f' }] }, 'manifest.steps[0].id: missing');
    expectInvalid({ name: 'g', steps: [] }, 'manifest.steps: must have at least one step');
    expectInvalid({ steps: [a] }, 'manifest must have a name');
  });
});

describe('topic matching', () => {
  it('matches segments exactly, * one segment, trailing # the rest', () => {
    expect(topicMatches('poly/temp', 'poly/temp')).toBe(true);
    expect(topicMatches('poly/temp', 'poly/temperature')).toBe(false);
    expect(topicMatches('poly/*', 'poly/temp')).toBe(true);
    expect(topicMatches('poly/*', 'poly/temp/kitchen')).toBe(false);
    expect(topicMatches('poly/*', 'poly')).toBe(false);
    expect(topicMatches('*/temp', 'house/temp')).toBe(true);
    expect(topicMatches('poly/#', 'poly/temp/kitchen')).toBe(true);
    expect(topicMatches('poly/#', 'poly')).toBe(true);
    expect(topicMatches('poly/#', 'other/temp')).toBe(false);
    expect(topicMatches('#', 'anything/at/all')).toBe(true);
  });

  it('grants a wildcard subscription only to a pattern at least as broad', () => {
    expect(topicMatches('poly/*', 'poly/*')).toBe(true);
    expect(topicMatches('poly/#', 'poly/*')).toBe(true);
    expect(topicMatches('poly/*', 'poly/#')).toBe(false);
    expect(topicMatches('poly/temp', 'poly/*')).toBe(false);
  });

  it('grants a topic when any pattern matches', () => {
    expect(isTopicGranted('poly/temp', ['other', 'poly/*'])).toBe(true);
    expect(isTopicGranted('poly/temp', ['other', 'poly/hum'])).toBe(false);
    expect(isTopicGranted('poly/temp', [])).toBe(false);
  });
});
