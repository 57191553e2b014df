import { expect } from 'chai';
import { checkTopic } from '../../shared/protocol/topics.ts';

describe('sandbox topic grants', () => {
  const allowed = (kind: 'publish' | 'subscribe', topic: string, patterns: string[]): boolean => {
    try {
      checkTopic(kind, topic, { publish: kind === 'publish' ? patterns : [], subscribe: kind === 'subscribe' ? patterns : [] });
      return true;
    } catch (error) {
      expect(error).to.have.property('code', 'ERR_TOPIC_DENIED');
      expect((error as Error).message).to.contain(topic);
      return false;
    }
  };

  it('grants a topic matched by a pattern: * is one segment, a trailing # the rest', () => {
    expect(allowed('publish', 'poly/request', ['poly/request'])).to.equal(true);
    expect(allowed('publish', 'poly/request', ['poly/*'])).to.equal(true);
    expect(allowed('publish', 'poly/request/x', ['poly/*'])).to.equal(false);
    expect(allowed('publish', 'poly/request/x', ['poly/#'])).to.equal(true);
    expect(allowed('publish', 'polyx/request', ['poly/#'])).to.equal(false);
    expect(allowed('publish', 'other', ['poly/#', '*'])).to.equal(true);
  });

  it('refuses publishing to a pattern, and a subscription broader than its grant', () => {
    expect(allowed('publish', 'poly/*', ['#'])).to.equal(false);
    expect(allowed('subscribe', 'poly/*', ['poly/*'])).to.equal(true);
    expect(allowed('subscribe', 'poly/*/x', ['poly/#'])).to.equal(true);
    expect(allowed('subscribe', 'poly/#', ['poly/*'])).to.equal(false);
    expect(allowed('subscribe', 'poly/*', ['poly/request'])).to.equal(false);
  });

  it('denies every topic when the deployment has no topic grants', () => {
    expect(() => checkTopic('subscribe', 'poly/request', undefined)).to.throw(/poly\/request/).with.property('code', 'ERR_TOPIC_DENIED');
  });
});
