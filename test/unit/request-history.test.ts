import { describe, expect, it } from 'vitest';
import { fromUtf8, utf8 } from '../../shared/bytes.ts';
import { MemoryKeyValueStore } from '../../shared/memory/memory-key-value-store.ts';
import { type HistoryEntry, RequestHistory } from '../../shared/supervisor/history.ts';
import { decodeBatch, encodeBatch } from '../../shared/supervisor/history-format.ts';

function entry(requestId: string, functionName = 'fibo'): HistoryEntry {
  return { requestId, deploymentId: 'd', moduleName: 'm', functionName, method: 'GET', args: [Number(requestId)], inputFiles: [], success: true, result: Number(requestId) * 2, startedAt: 1, durationMs: 0.5 };
}

async function recordMany(history: RequestHistory, n: number, functionName?: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = await history.nextId();
    ids.push(id);
    await history.record(entry(id, functionName));
  }
  return ids;
}

describe('RequestHistory', () => {
  it('answers queries at once and writes the entries behind, many to a record', async () => {
    const kv = new MemoryKeyValueStore();
    const history = new RequestHistory(kv, { flushMs: 60_000 });
    const ids = await recordMany(history, 5);
    expect((await history.query()).map((e) => e.requestId)).to.deep.equal([...ids].reverse());
    expect(await kv.keys('history/')).to.deep.equal([]);
    await history.flush();
    const keys = await kv.keys('history/');
    expect(keys).to.have.length(1);
    expect(decodeBatch(fromUtf8((await kv.get(keys[0]!))!)).map((e) => e.requestId)).to.deep.equal(ids);
  });

  it('writes by itself within flushMs', async () => {
    const kv = new MemoryKeyValueStore();
    const history = new RequestHistory(kv, { flushMs: 5 });
    await recordMany(history, 3);
    const deadline = Date.now() + 5000;
    while ((await kv.keys('history/')).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(await kv.keys('history/')).to.have.length(1);
  });

  it('comes back after a restart with every entry and without reusing an id', async () => {
    const kv = new MemoryKeyValueStore();
    const first = new RequestHistory(kv, { flushMs: 60_000 });
    const before = await recordMany(first, 3, 'a');
    await first.flush();
    const second = new RequestHistory(kv);
    const [after] = await recordMany(second, 1, 'b');
    expect(Number(after)).to.be.greaterThan(Number(before[2]));
    expect((await second.query({ functionName: 'a' })).map((e) => e.requestId)).to.deep.equal([...before].reverse());
    expect(await second.get(before[0]!)).to.include({ result: Number(before[0]) * 2, success: true });
  });

  it('reads records of one entry each, as earlier versions wrote them', async () => {
    const kv = new MemoryKeyValueStore();
    await kv.set('history/000000000007', utf8(JSON.stringify(entry('7'))));
    await kv.set('history-next', utf8('1007'));
    const history = new RequestHistory(kv);
    expect((await history.query()).map((e) => e.requestId)).to.deep.equal(['7']);
    expect(await history.nextId()).to.equal('1007');
  });

  it('reads batches of entry objects, as earlier versions wrote them, beside the current rows', async () => {
    const kv = new MemoryKeyValueStore();
    await kv.set('history/000000000007', utf8(JSON.stringify([entry('7'), entry('8')])));
    await kv.set('history/000000000009', utf8(encodeBatch([entry('9')])));
    await kv.set('history-next', utf8('1009'));
    const history = new RequestHistory(kv);
    expect((await history.query()).map((e) => e.requestId)).to.deep.equal(['9', '8', '7']);
  });

  it('stores every field of an entry, failures and output files included, and reads it back the same', () => {
    const ok: HistoryEntry = { ...entry('1'), outputFiles: [{ name: 'out.png', size: 3, sha256: 'ab'.repeat(32), mediaType: 'image/png' }], inputFiles: [{ name: 'in.jpg', size: 9, sha256: 'cd'.repeat(32) }] };
    const failed: HistoryEntry = { requestId: '2', deploymentId: 'other', moduleName: 'm2', functionName: 'f2', method: 'POST', args: ['x', 1.5], inputFiles: [], success: false, error: { code: 'ERR_WASM_TRAP', message: 'unreachable', data: { at: 3 } }, startedAt: 5, durationMs: 0.25 };
    const text = encodeBatch([ok, failed, entry('3')]);
    expect(decodeBatch(text)).to.deep.equal([ok, failed, entry('3')]);
    // Names are stored once per batch.
    expect(text.match(/other/g)).to.have.length(1);
  });

  it('skips a damaged record and keeps the others', async () => {
    const kv = new MemoryKeyValueStore();
    const errors: unknown[] = [];
    await kv.set('history/000000000001', utf8('{"v": 2, "rows": ['));
    await kv.set('history/000000000002', utf8(encodeBatch([entry('2')])));
    const history = new RequestHistory(kv, { onError: (e) => errors.push(e) });
    expect((await history.query()).map((e) => e.requestId)).to.deep.equal(['2']);
    expect(errors).to.have.length(1);
  });

  it('keeps the newest `keep` entries and drops whole old records from the store', async () => {
    const kv = new MemoryKeyValueStore();
    const history = new RequestHistory(kv, { keep: 10, flushMs: 60_000 });
    for (let round = 0; round < 5; round++) {
      await recordMany(history, 4);
      await history.flush();
    }
    const all = await history.query({ limit: 1000 });
    expect(all).to.have.length(10);
    expect(all[0]!.requestId).to.equal('20');
    // 5 records of 4: the oldest two go, the three left hold 12 ≥ keep.
    expect(await kv.keys('history/')).to.have.length(3);
    const reloaded = await new RequestHistory(kv, { keep: 10 }).query({ limit: 1000 });
    expect(reloaded.map((e) => e.requestId)).to.deep.equal(all.map((e) => e.requestId));
  });

  it('keeps entries a failing store could not take and writes them with the next batch', async () => {
    const kv = new MemoryKeyValueStore();
    const errors: unknown[] = [];
    const history = new RequestHistory(kv, { flushMs: 60_000, onError: (e) => errors.push(e) });
    await recordMany(history, 2);
    const set = kv.set.bind(kv);
    kv.set = async () => {
      throw new Error('disk full');
    };
    await history.flush();
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['disk full']);
    kv.set = set;
    await recordMany(history, 1);
    await history.flush();
    const keys = await kv.keys('history/');
    expect(keys).to.have.length(1);
    expect(decodeBatch(fromUtf8((await kv.get(keys[0]!))!)).map((e) => e.requestId)).to.deep.equal(['1', '2', '3']);
  });

  it('writes i64 arguments as decimal text', async () => {
    const kv = new MemoryKeyValueStore();
    const history = new RequestHistory(kv, { flushMs: 60_000 });
    const id = await history.nextId();
    await history.record({ ...entry(id), args: [2n ** 63n - 1n] });
    await history.flush();
    const reloaded = await new RequestHistory(kv).get(id);
    expect(reloaded!.args).to.deep.equal(['9223372036854775807']);
  });

  it('hands out copies: changing an answer does not change the history', async () => {
    const history = new RequestHistory(new MemoryKeyValueStore(), { flushMs: 60_000 });
    const [id] = await recordMany(history, 1);
    const [first] = await history.query();
    first!.args.push('changed');
    expect((await history.get(id!))!.args).to.deep.equal([Number(id)]);
  });
});
