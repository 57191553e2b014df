// The service worker's side of the sandbox bridge without shared memory
// (sw/sandbox-bridge.ts): requests and answers meet whichever comes first, anything that
// is not the bridge's is left to the other listeners, and a malformed answer is dropped.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { acceptBridgeAnswer, type BridgeFetchEvent, serveBridgeRequest } from '../../sw/sandbox-bridge.ts';
import { BRIDGE_HOLD_MS, BRIDGE_STATUS_HEADER } from '../../shared/sandbox/async-bridge.ts';
import { BRIDGE_ERROR, BRIDGE_NAMED_ERROR, BRIDGE_OK } from '../../shared/sandbox/protocol.ts';

const BASE = 'https://phone.local:8443/__liquidmesh/bridge';

/** A fetch event for `url`; `response` is what the listener answered, if it did. */
function fetchEvent(url: string, method = 'GET'): BridgeFetchEvent & { response: Promise<Response> | null } {
  const event = {
    request: new Request(url, { method }),
    response: null as Promise<Response> | null,
    respondWith(r: Response | Promise<Response>) {
      event.response = Promise.resolve(r);
    },
  };
  return event;
}

const answer = (id: string, status: number, data: Uint8Array) => ({ t: 'liquidmesh-bridge-answer', id, status, data });

async function read(response: Promise<Response> | null): Promise<[string | null, number[]]> {
  const r = await response!;
  return [r.headers.get(BRIDGE_STATUS_HEADER), [...new Uint8Array(await r.arrayBuffer())]];
}

describe('sandbox bridge in the service worker', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands the page answer to the request that waits for it, and keeps one that comes first', async () => {
    const waiting = fetchEvent(`${BASE}/0f1e2d3c-aaaa-4bbb-8ccc-000000000001`);
    expect(serveBridgeRequest(waiting)).toBe(true);
    expect(acceptBridgeAnswer(answer('0f1e2d3c-aaaa-4bbb-8ccc-000000000001', BRIDGE_OK, new Uint8Array([1, 2, 3])))).toBe(true);
    expect(await read(waiting.response)).toEqual(['ok', [1, 2, 3]]);

    // The answer first (the page was quicker than the worker's request): kept for it.
    const view = new Uint8Array([9, 7, 5, 3, 1]).subarray(1, 3);
    expect(acceptBridgeAnswer(answer('0f1e2d3c-aaaa-4bbb-8ccc-000000000002', BRIDGE_NAMED_ERROR, view))).toBe(true);
    const late = fetchEvent(`${BASE}/0f1e2d3c-aaaa-4bbb-8ccc-000000000002`);
    expect(serveBridgeRequest(late)).toBe(true);
    expect(await read(late.response)).toEqual(['named-error', [7, 5]]);
  });

  it('answers under any scope, and says `again` to a request that waited too long, which then still gets its answer', async () => {
    vi.useFakeTimers();
    const id = '0f1e2d3c-aaaa-4bbb-8ccc-000000000003';
    const first = fetchEvent(`https://host/app/sub/__liquidmesh/bridge/${id}`);
    serveBridgeRequest(first);
    await vi.advanceTimersByTimeAsync(BRIDGE_HOLD_MS + 1);
    expect(await read(first.response)).toEqual(['again', []]);
    const second = fetchEvent(`https://host/app/sub/__liquidmesh/bridge/${id}`);
    serveBridgeRequest(second);
    acceptBridgeAnswer(answer(id, BRIDGE_ERROR, new TextEncoder().encode('no camera')));
    const [status, bytes] = await read(second.response);
    expect([status, new TextDecoder().decode(new Uint8Array(bytes))]).toEqual(['error', 'no camera']);
  });

  it('answers the probe, and leaves every other request to the other listeners', async () => {
    const probe = fetchEvent(`${BASE}/probe`);
    expect(serveBridgeRequest(probe)).toBe(true);
    expect((await probe.response!).headers.get(BRIDGE_STATUS_HEADER)).toBe('probe');
    for (const [url, method] of [['https://host/index.html', 'GET'], ['https://host/__liquidmesh/signal', 'GET'], [`${BASE}/0f1e2d3c`, 'POST']] as const) {
      const other = fetchEvent(url, method);
      expect(serveBridgeRequest(other), url).toBe(false);
      expect(other.response).toBe(null);
    }
  });

  it('drops messages that are not a well-formed answer, so they answer no request', async () => {
    vi.useFakeTimers();
    const id = '0f1e2d3c-aaaa-4bbb-8ccc-000000000004';
    const waiting = fetchEvent(`${BASE}/${id}`);
    serveBridgeRequest(waiting);
    for (const bad of [null, 'answer', { type: 'SKIP_WAITING' }, answer(id, 7, new Uint8Array(1)), answer(id, BRIDGE_OK, [1, 2] as unknown as Uint8Array), answer('../../etc', BRIDGE_OK, new Uint8Array(1)), { ...answer(id, BRIDGE_OK, new Uint8Array(1)), id: 42 }]) {
      expect(acceptBridgeAnswer(bad)).toBe(false);
    }
    await vi.advanceTimersByTimeAsync(BRIDGE_HOLD_MS + 1);
    expect(await read(waiting.response)).toEqual(['again', []]);
  });
});
