/**
 * The hot call route's short cuts read and write exactly what the general code does: a
 * query split in place gives URLSearchParams' pairs, a call's answer made from constant
 * keys is JSON.stringify's text, and arguments sent in order land where the matching
 * by name puts them; over real HTTP, every way of writing the query reaches the function.
 */
import { readFile } from 'node:fs/promises';
import { callAnswerJson } from '../../node-host/gateway/call-answer.ts';
import { startGateway } from '../../node-host/gateway/gateway.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import type { ModuleDescription } from '../../shared/registry/description.ts';
import { positionalArgs, type ResultBody } from '../../node-host/gateway/context.ts';
import { queryEntries } from '../../node-host/gateway/query.ts';

/** A small seeded generator, so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('the gateway hot route', () => {
  it('reads a query as URLSearchParams does, whatever it holds', () => {
    const cases = ['', 'param0=12', 'a=1&b=2', 'a=1&&b=2&', '&&', 'a', 'a=', '=1', 'a==b', 'a=1=2', 'x=%41', 'x=a+b', '?a=1', 'a=é&b=ü', 'iterations=7&param0=3', '&a=1'];
    const next = random(23);
    const alphabet = ['a', 'b', '=', '&', '%', '+', '?', '0', 'é', '%2', '%zz'];
    for (let i = 0; i < 2000; i++) {
      let q = '';
      const length = Math.floor(next() * 12);
      for (let j = 0; j < length; j++) q += alphabet[Math.floor(next() * alphabet.length)];
      cases.push(q);
    }
    for (const q of cases) expect(queryEntries(q), `query ${JSON.stringify(q)}`).toEqual([...new URLSearchParams(q).entries()]);
  });

  it('answers a call with the text JSON.stringify gives of the same answer', () => {
    const device = { id: 'a6f64020f092ce085bd1082bcdba46c6', name: 'kiosk "one"' };
    const files = [{ name: 'out.png', mediaType: 'image/png', size: 3, url: 'http://127.0.0.1:3000/files/ab/out.png' }];
    const values: unknown[] = [233, 0, -1.5, 2 ** 60, '18446744073709551615', 'text with "quotes" and \u2028', null, undefined, Number.NaN, { nested: [1] }];
    const durations = [2.421596000000136, 0, 1e-7, Number.POSITIVE_INFINITY, Number.NaN];
    for (const value of values) {
      for (const durationMs of durations) {
        for (const f of [[], files]) {
          const answer = { result: f.length > 0 ? f[0]!.url : value, resultUrl: 'http://127.0.0.1:3000/request-history/7?device=x', value, files: f } as ResultBody;
          const expected = JSON.stringify({ result: answer.result, resultUrl: answer.resultUrl, value: answer.value, files: answer.files, requestId: '7', device, durationMs });
          expect(callAnswerJson(answer, { requestId: '7', durationMs }, JSON.stringify(device))).toBe(expected);
        }
      }
    }
  });

  it('puts arguments sent in order where the matching by name would', () => {
    const fn = (names: string[]): Parameters<typeof positionalArgs>[1] => ({ method: 'GET', params: names.map((name) => ({ name, type: 'integer' as const })), result: { type: 'integer' }, mounts: [] });
    expect(positionalArgs({ named: [['param0', '12']], files: {} }, fn(['param0']))).toEqual(['12']);
    expect(positionalArgs({ named: [['a', '1'], ['b', '2']], files: {} }, fn(['a', 'b']))).toEqual(['1', '2']);
    // Not in order, repeated, or a parameter named twice: matched by name as before.
    expect(positionalArgs({ named: [['b', '2'], ['a', '1']], files: {} }, fn(['a', 'b']))).toEqual(['1', '2']);
    expect(positionalArgs({ named: [['a', '1'], ['a', '2']], files: {} }, fn(['a', 'a']))).toEqual(['2', undefined]);
    expect(positionalArgs({ named: [['param0', '1'], ['param0', '2']], files: {} }, fn(['param0', 'param1']))).toEqual(['2', undefined]);
  });

  it('answers fibo over HTTP whichever way the query is written, each call apart, a bad one alone refused', async () => {
    const node = await startNodePeer({ name: 'hot-route', transports: [new MemoryNetwork().createTransport()] });
    const gateway = await startGateway({ peer: node, port: 0 });
    try {
      const dir = new URL('../../modules/fibo/', import.meta.url);
      const description = JSON.parse(await readFile(new URL('description.json', dir), 'utf8')) as ModuleDescription;
      await node.orchestrator.packages.publish({ wasm: new Uint8Array(await readFile(new URL('fibo.wasm', dir))), description });
      const dep = node.orchestrator.deploy({ name: 'hot', sequence: [{ module: 'fibo', func: 'fibo', device: node.peer.id }] });
      await node.orchestrator.waitFor(dep.id, (v) => v.record.status === 'ready');
      const base = `${gateway.url}/${dep.id}/modules/fibo/fibo`;
      // Sent together, so that they travel to the sandbox in one batch; the bad one fails alone.
      const queries = ['?param0=12', '?param0=1%32', '?param0=+12', '??param0=12', '?iterations=12&&', '?param0=12&param0=7', '?param0=x', '?param0=10'];
      const answers = await Promise.all(queries.map(async (q) => {
        const res = await fetch(base + q);
        return { status: res.status, text: await res.text() };
      }));
      const bodies = answers.map((a) => JSON.parse(a.text) as Record<string, unknown>);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200, 400, 200]);
      expect(bodies.map((b) => b.result ?? b.code)).toEqual([233, 233, 233, 233, 233, 21, 'ERR_INVALID_PARAMS', 89]);
      const ok = bodies[0]!;
      expect(Object.keys(ok)).toEqual(['result', 'resultUrl', 'value', 'files', 'requestId', 'device', 'durationMs']);
      expect(ok).toMatchObject({ value: 233, files: [], device: { id: node.peer.id, name: 'hot-route' } });
      expect(ok.resultUrl).toBe(`${gateway.url}/request-history/${String(ok.requestId)}`);
      // Durations to the microsecond, as the history stores them.
      expect(String(ok.durationMs)).toMatch(/^\d+(\.\d{1,3})?$/);
      expect(new Set(bodies.filter((b) => b.requestId).map((b) => b.requestId)).size).toBe(7);
      const history = await (await fetch(String(ok.resultUrl))).json() as Record<string, unknown>;
      expect(history).toMatchObject({ result: 233, success: true });
      // Arguments nested beyond the limits are refused as a rejection, never a throw out of call().
      let deep: unknown = '12';
      for (let i = 0; i < 10_000; i++) deep = [deep];
      const refused = node.supervisor.call(dep.id, 'fibo', 'fibo', { args: [deep] });
      await expect(refused).rejects.toMatchObject({ code: 'ERR_INVALID_PARAMS' });
    } finally {
      await gateway.close();
      await node.stop();
    }
  });
});
