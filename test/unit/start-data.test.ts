// Where `liquidmesh start` keeps its data, and the mesh's name and secret kept between runs.
import { expect } from 'chai';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultDataDir } from '../../node-host/data-dir.ts';
import { meshSettings, peerDataDir, startDataDir } from '../../node-host/start-data.ts';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(() => undefined, (e: { code?: string }) => e.code);
}

describe('liquidmesh start: data directory and mesh settings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lm-start-data-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps data in the default directory, in --data-dir, or nowhere with --ephemeral', () => {
    expect(startDataDir([], { LIQUIDMESH_DATA_DIR: dir })).to.equal(dir);
    expect(startDataDir(['--no-chromium'], { XDG_DATA_HOME: '/x/share' })).to.equal('/x/share/liquidmesh');
    expect(startDataDir([])).to.equal(defaultDataDir());
    expect(startDataDir(['--data-dir', 'rel/dir'])).to.equal(join(process.cwd(), 'rel/dir'));
    expect(startDataDir(['--ephemeral'])).to.equal(null);
    expect(() => startDataDir(['--ephemeral', '--data-dir', dir])).to.throw().with.property('code', 'ERR_MESH_SETTINGS');
    expect(() => startDataDir(['--data-dir'])).to.throw().with.property('code', 'ERR_MESH_SETTINGS');
  });

  it('makes up a secret once, keeps it in a private mesh.json, and reuses it unless told otherwise', async () => {
    const data = join(dir, 'data');
    const first = await meshSettings(data, {});
    expect(first.mesh).to.equal('liquidmesh');
    expect(first.secret).to.match(/^[0-9a-f]{12}$/);
    expect((await stat(join(data, 'mesh.json'))).mode & 0o777).to.equal(0o600);
    expect((await stat(data)).mode & 0o777).to.equal(0o700);
    expect(await meshSettings(data, {})).to.deep.equal(first);
    // Given on the command line: used, and remembered for the next start.
    expect(await meshSettings(data, { secret: 's3cret' })).to.deep.equal({ mesh: 'liquidmesh', secret: 's3cret' });
    expect(await meshSettings(data, { mesh: 'home' })).to.deep.equal({ mesh: 'home', secret: 's3cret' });
    expect(JSON.parse(await readFile(join(data, 'mesh.json'), 'utf8'))).to.deep.equal({ mesh: 'home', secret: 's3cret' });
    expect((await readdir(data)).sort()).to.deep.equal(['mesh.json']);
  });

  it('writes nothing when ephemeral', async () => {
    const settings = await meshSettings(null, {});
    expect(settings.secret).to.match(/^[0-9a-f]{12}$/);
    expect(await readdir(dir)).to.deep.equal([]);
  });

  it('refuses a mesh.json others can read, or one that is damaged, with a named error', async () => {
    await meshSettings(dir, { secret: 'kept' });
    await chmod(join(dir, 'mesh.json'), 0o644);
    expect(await codeOf(meshSettings(dir, {}))).to.equal('ERR_UNSAFE_DATA_DIR');
    await chmod(join(dir, 'mesh.json'), 0o600);
    await writeFile(join(dir, 'mesh.json'), '{"mesh": "home"');
    expect(await codeOf(meshSettings(dir, {}))).to.equal('ERR_MESH_SETTINGS');
    await writeFile(join(dir, 'mesh.json'), '{"mesh": "home"}');
    expect(await codeOf(meshSettings(dir, {}))).to.equal('ERR_MESH_SETTINGS');
    // Nothing was overwritten: the user fixes it.
    expect(await readFile(join(dir, 'mesh.json'), 'utf8')).to.equal('{"mesh": "home"}');
  });

  it('gives each peer a private directory in the documented layout', async () => {
    expect(await peerDataDir(dir, 'peers', 'node-1')).to.equal(join(dir, 'peers', 'node-1'));
    expect(await peerDataDir(dir, 'chromium', 'chromium-1')).to.equal(join(dir, 'chromium', 'chromium-1'));
    for (const path of ['peers', 'peers/node-1', 'chromium/chromium-1']) expect((await stat(join(dir, path))).mode & 0o777).to.equal(0o700);
  });
});
