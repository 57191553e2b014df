import { expect } from 'chai';
import { ManualClock } from '../../shared/memory/manual-clock.ts';
import { MemoryNetwork } from '../../shared/memory/memory-network.ts';
import { Peer } from '../../shared/mesh/peer.ts';
import { memoryStore } from '../helpers/mesh.ts';

describe('Telemetry', () => {
  it('reports the sampled load in presence, clamped to 0..1, for placement to read', async () => {
    const clock = new ManualClock();
    let load = { cpu: 0.25, memory: 0.5 };
    const peer = new Peer({
      transports: [new MemoryNetwork().createTransport()],
      store: memoryStore(),
      clock,
      device: { name: 'measured', engine: 'node' },
      sampleLoad: () => load,
      timing: { antiEntropyMs: 1000 },
    });
    await peer.start();
    try {
      clock.advance(1000);
      expect(peer.presenceOf(peer.id)?.telemetry).to.include({ cpu: 0.25, memory: 0.5 });
      load = { cpu: 3, memory: Number.NaN };
      clock.advance(1000);
      expect(peer.presenceOf(peer.id)?.telemetry).to.include({ cpu: 1, memory: 0 });
    } finally {
      await peer.stop();
    }
  });
});
