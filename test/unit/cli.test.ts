// The `liquidmesh` client commands' own logic: argument parsing, call parameters, step
// syntax, progress output and the multipart bodies they upload.
import Busboy from 'busboy';
import { expect } from 'chai';
import { Readable } from 'node:stream';
import { parseArgs } from '../../node-host/cli/args.ts';
import { callParams } from '../../node-host/cli/call-inspect.ts';
import { CliError } from '../../node-host/cli/cli-error.ts';
import { encodeForm } from '../../node-host/cli/gateway-client.ts';
import { table } from '../../node-host/cli/output.ts';
import { ProgressBar } from '../../node-host/cli/progress.ts';
import { parseStep } from '../../node-host/cli/publish-deploy.ts';

function usageError(f: () => unknown): CliError {
  try {
    f();
  } catch (e) {
    return e as CliError;
  }
  throw new Error('expected a usage error');
}

describe('liquidmesh client commands', () => {
  it('parses positionals, values, repeated options and flags, and refuses unknown options with exit code 2', () => {
    const a = parseArgs(['fibo', '--file', 'a=1', '--file=b=2', '--json', '--out', 'dir', '--', '--literal'], { values: ['file', 'out'], flags: ['json'], repeat: ['file'] });
    expect(a.positionals).to.deep.equal(['fibo', '--literal']);
    expect(a.lists.file).to.deep.equal(['a=1', 'b=2']);
    expect(a.values.out).to.equal('dir');
    expect(a.flags.has('json')).to.equal(true);
    const unknown = usageError(() => parseArgs(['--nope'], {}));
    expect(unknown.code).to.equal('ERR_USAGE');
    expect(unknown.exitCode).to.equal(2);
    expect(unknown.message).to.contain('--nope');
    expect(usageError(() => parseArgs(['--out'], { values: ['out'] })).message).to.contain('needs a value');
  });

  it('maps bare call arguments to param0, param1, … and keeps named ones', () => {
    expect(callParams(['12', 'x=3', '7'])).to.deep.equal({ param0: '12', x: '3', param1: '7' });
    expect(callParams(['a=b=c'])).to.deep.equal({ a: 'b=c' });
    expect(callParams(['=5'])).to.deep.equal({ param0: '=5' });
  });

  it('reads steps as module:function[@device] and names a malformed one', () => {
    expect(parseStep('camera:take_image@node-1')).to.deep.equal({ module: 'camera', func: 'take_image', device: 'node-1' });
    expect(parseStep('fibo:fibo')).to.deep.equal({ module: 'fibo', func: 'fibo', device: null });
    const bad = usageError(() => parseStep('fibo'));
    expect(bad.code).to.equal('ERR_USAGE');
    expect(bad.message).to.contain('"fibo"');
  });

  it('prints progress as a few milestone lines when stderr is not a terminal, and nothing with --json', () => {
    const lines: string[] = [];
    const bar = new ProgressBar('upload fibo.wasm', { mode: 'lines', sink: { write: (t: string) => lines.push(t) } });
    for (let sent = 0; sent <= 1000; sent += 10) bar.update(sent, 1000);
    bar.done('1000 bytes');
    expect(lines).to.deep.equal([
      'upload fibo.wasm: 0% 0 B/1000 B\n',
      'upload fibo.wasm: 25% 250 B/1000 B\n',
      'upload fibo.wasm: 50% 500 B/1000 B\n',
      'upload fibo.wasm: 75% 750 B/1000 B\n',
      'upload fibo.wasm: 100% 1000 B/1000 B\n',
      'upload fibo.wasm: 1000 bytes\n',
    ]);
    const silent: string[] = [];
    const quiet = new ProgressBar('x', { mode: 'silent', sink: { write: (t: string) => silent.push(t) } });
    quiet.update(1, 2);
    quiet.done('ok');
    expect(silent).to.deep.equal([]);
  });

  it('redraws one line in place on a terminal', () => {
    const out: string[] = [];
    const bar = new ProgressBar('deploy d', { mode: 'bar', unit: 'count', sink: { isTTY: true, columns: 80, write: (t: string) => out.push(t) } });
    bar.update(1, 2, 'grayscale loading');
    expect(out[0]).to.match(/^\r\x1b\[2Kdeploy d \[#+-+\]  50% 1\/2 grayscale loading$/);
  });

  it('encodes multipart bodies that a standard parser reads back byte for byte', async () => {
    const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 13, 10, 45, 45]);
    const { body, contentType } = encodeForm([
      { name: 'name', value: 'fibo' },
      { name: 'wasm', value: wasm, filename: 'fibo.wasm', contentType: 'application/wasm' },
    ]);
    const fields: Record<string, string> = {};
    const files: Record<string, { bytes: Buffer; filename: string; mimeType: string }> = {};
    await new Promise<void>((resolve, reject) => {
      const bb = Busboy({ headers: { 'content-type': contentType } });
      bb.on('field', (name, value) => (fields[name] = value));
      bb.on('file', (name, stream, info) => {
        const parts: Buffer[] = [];
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('end', () => (files[name] = { bytes: Buffer.concat(parts), filename: info.filename ?? '', mimeType: info.mimeType }));
      });
      bb.on('close', resolve);
      bb.on('error', reject);
      Readable.from([body]).pipe(bb);
    });
    expect(fields).to.deep.equal({ name: 'fibo' });
    expect(files.wasm!.filename).to.equal('fibo.wasm');
    expect(files.wasm!.mimeType).to.equal('application/wasm');
    expect([...files.wasm!.bytes]).to.deep.equal([...wasm]);
  });

  it('lays out tables with aligned columns and a dash for missing cells', () => {
    expect(table(['NAME', 'STATE', 'ID'], [['node-1', 'alive', 'ab12'], ['chromium-1', null, 'cd34']])).to.equal(
      'NAME        STATE  ID\nnode-1      alive  ab12\nchromium-1  -      cd34',
    );
  });
});
