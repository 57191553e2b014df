import { expect } from 'chai';
import { advertisedUrl, isLoopbackHost, isWildcardHost, servedNames, type MachineFacts } from '../../node-host/host-address.ts';

const pi: MachineFacts = { hostname: () => 'Kitchen-Pi', addresses: () => ['192.168.1.20', '10.99.0.1', 'fe80::1%eth0', 'FD00::5'] };

describe('host addresses', () => {
  it('a host bound to one address serves that address, the host name, its .local name and loopback', () => {
    expect(servedNames('192.168.1.20', pi)).to.deep.equal(['192.168.1.20', 'kitchen-pi', 'kitchen-pi.local', 'localhost', '127.0.0.1', '::1']);
  });

  it('a host bound to every interface serves every interface address, without link-local ones', () => {
    const names = servedNames('0.0.0.0', pi);
    expect(names).to.include.members(['192.168.1.20', '10.99.0.1', 'fd00::5', 'kitchen-pi', 'kitchen-pi.local', 'localhost', '127.0.0.1', '::1']);
    expect(names.some((n) => n.startsWith('fe80'))).to.equal(false);
    expect(servedNames('[::]', pi)).to.deep.equal(names);
  });

  it('a bracketed IPv6 address and a host name that is already .local are given plainly, once', () => {
    const names = servedNames('[FD00::5]', { hostname: () => 'pi.local', addresses: () => [] });
    expect(names).to.deep.equal(['fd00::5', 'pi.local', 'localhost', '127.0.0.1', '::1']);
  });

  it('a loopback host serves only loopback names besides the host name', () => {
    expect(servedNames('127.0.0.1', pi)).to.deep.equal(['127.0.0.1', 'kitchen-pi', 'kitchen-pi.local', 'localhost', '::1']);
  });

  it('tells loopback and wildcard addresses apart', () => {
    expect(['localhost', '127.0.0.1', '127.8.0.2', '[::1]', '::ffff:127.0.0.1'].every(isLoopbackHost)).to.equal(true);
    expect(['10.0.0.1', '0.0.0.0', 'pi.local', '::'].some(isLoopbackHost)).to.equal(false);
    expect(['0.0.0.0', '::', '[::]'].every(isWildcardHost)).to.equal(true);
    expect(isWildcardHost('10.0.0.1')).to.equal(false);
  });
});

describe('advertisedUrl', () => {
  const lan: MachineFacts = { hostname: () => 'kitchen-pi', addresses: () => ['fe80::1', '2001:db8::5', '192.168.1.20'] };
  it('names a LAN address in links to a server bound to every interface', () => {
    expect(advertisedUrl('https://0.0.0.0:8080', lan)).to.equal('https://192.168.1.20:8080');
    expect(advertisedUrl('https://0.0.0.0:8080/', lan)).to.equal('https://192.168.1.20:8080/');
    expect(advertisedUrl('http://[::]:8081/ca.crt', lan)).to.equal('http://192.168.1.20:8081/ca.crt');
    expect(advertisedUrl('http://0.0.0.0:1', { hostname: () => 'x', addresses: () => ['2001:db8::5'] })).to.equal('http://[2001:db8::5]:1');
  });
  it('leaves a link to a named address as it is', () => {
    expect(advertisedUrl('https://10.0.0.5:8080', lan)).to.equal('https://10.0.0.5:8080');
    expect(advertisedUrl('http://127.0.0.1:4444', lan)).to.equal('http://127.0.0.1:4444');
  });
});
