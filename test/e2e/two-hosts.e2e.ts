// Machines on a LAN, not loopback: `liquidmesh start --host <its address>` on one host and
// peers on other hosts (network namespaces joined by a bridge, test/e2e/hosts.ts) that join
// its mesh across the network, the way a second machine, a kiosk or a phone does.
import { expect } from 'chai';
import { requireLoopbackNamespace } from '../acceptance/netns.ts';
import { TestLan } from './hosts.ts';

requireLoopbackNamespace();

describe('two hosts on a LAN', () => {
  it('a Node peer on a second host joins the mesh of `liquidmesh start --host <address>`', async () => {
    const lan = await TestLan.create(['host', 'second']);
    try {
      const hostA = lan.host('host');
      const start = hostA.liquidmesh(['start', '--host', hostA.address, '--no-chromium', '--secret', 'lan-e2e']);
      const signal = (await start.waitForOutput(/signaling: +(\S+)/, 'the host to come up', 180_000))[1]!;
      await start.waitForOutput(/Ctrl-C stops everything/, 'the banner', 120_000);
      expect(signal).to.contain(hostA.address);
      const peer = lan.host('second').liquidmesh(['peer', '--name', 'second-node', '--signal', signal, '--secret', 'lan-e2e', '--mesh', 'liquidmesh']);
      await start.waitForOutput(/devices: .*second-node(?! \(gone\))/, 'the second host in the host\'s mesh', 60_000);
      await peer.waitForOutput(/^\+ \S+ joined$/m, 'the host seen from the second host', 30_000);
    } finally {
      await lan.close();
    }
  });
});
