// Multipart bodies the gateway parses: one that ends inside a file part is refused by name,
// and the process lives on (the parser destroys that file's stream with its error).
import { expect } from 'chai';
import { parseMultipart } from '../../node-host/gateway/multipart.ts';

const BOUNDARY = 'lm-boundary';
const headers = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };

describe('Multipart bodies', () => {
  it('reads a file part and a field', async () => {
    const body = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\nfibo\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="wasm"; filename="fibo.wasm"\r\nContent-Type: application/wasm\r\n\r\n\0asm\r\n` +
        `--${BOUNDARY}--\r\n`,
    );
    const form = await parseMultipart(headers, body);
    expect(form.fields).to.deep.equal([['name', 'fibo']]);
    expect(form.files.map((f) => [f.field, f.filename, Buffer.from(f.bytes).toString()])).to.deep.equal([['wasm', 'fibo.wasm', '\0asm']]);
  });

  it('refuses a body that ends inside a file part with ERR_BAD_MULTIPART, and nothing is thrown past it', async () => {
    const uncaught: Error[] = [];
    const listener = (error: Error): void => void uncaught.push(error);
    process.on('uncaughtException', listener);
    try {
      const body = Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="wasm"; filename="fibo.wasm"\r\n\r\n\0asm and then nothing`);
      const error = await parseMultipart(headers, body).then(() => null, (e: { code?: string }) => e);
      expect(error?.code).to.equal('ERR_BAD_MULTIPART');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(uncaught.map((e) => e.message)).to.deep.equal([]);
    } finally {
      process.off('uncaughtException', listener);
    }
  });
});
