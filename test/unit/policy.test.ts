// Zones and risk levels: reading ODRL cards and validating placed steps against them.
import { parseDataSourceCard, parseModuleCard, parseNodeCard, parseZoneCard, policyAdmission, policyCards, validateSteps } from '../../shared/orchestrator/policy.ts';
import type { CardRecord } from '../../shared/registry/schema.ts';
import { dataSourceCard, moduleCard, nodeCard, zoneCard } from '../helpers/odrl-cards.ts';

const record = (kind: CardRecord['kind'], card: unknown, id = `${kind}:${Math.random()}`): CardRecord => ({ id, kind, json: JSON.stringify(card), updatedAt: 0 });

describe('ODRL cards', () => {
  it('reads the fields the reference reads', () => {
    expect(parseNodeCard(nodeCard('dev-1', 'safe', 'kitchen pi'))).toEqual({ deviceId: 'dev-1', name: 'kitchen pi', zone: 'safe' });
    expect(parseDataSourceCard(dataSourceCard('dev-1', 'camera', 'high'))).toEqual({ deviceId: 'dev-1', type: 'camera', riskLevel: 'high' });
    expect(parseModuleCard(moduleCard('mod-1', 'medium', 'temp', 'inherit', 'grayscale'))).toEqual({ moduleId: 'mod-1', action: 'grayscale', riskLevel: 'medium', inputType: 'temp', outputRisk: 'inherit' });
    expect(parseZoneCard(zoneCard())).toEqual({ safe: ['high', 'medium', 'low'], unsafe: ['medium', 'low'] });
  });

  it('says what a card lacks', () => {
    expect(parseNodeCard({ asset: [{ title: 'x' }] })).toContain('asset[0].uid');
    expect(parseNodeCard({ asset: [{ uid: 'd' }] })).toContain('memberOf');
    expect(parseDataSourceCard({ asset: [{ relation: [{ type: 'type', value: 'camera' }] }] })).toContain('risk-level');
    expect(parseModuleCard({ permission: [{ target: 'm', constraint: [] }] })).toContain('risk-level');
    expect(parseZoneCard({ permission: [] })).toContain('zone');
    expect(parseNodeCard('not a card')).toContain('asset');
  });
});

describe('deployment validation', () => {
  const cards = policyCards([
    record('node', nodeCard('safe-dev', 'safe')),
    record('node', nodeCard('unsafe-dev', 'unsafe')),
    record('datasource', dataSourceCard('safe-dev', 'camera', 'high')),
    record('datasource', dataSourceCard('unsafe-dev', 'camera', 'medium')),
    record('module', moduleCard('camera-mod', 'low', 'camera', 'inherit')),
    record('module', moduleCard('gray-mod', 'medium', 'temp', 'inherit')),
    record('module', moduleCard('blur-mod', 'low', 'temp', 'low')),
    record('zones', zoneCard(), 'zones'),
    record('node', { broken: true }),
  ]);
  const chain = (...modules: string[]) => modules.map((module, i) => ({ module, next: i + 1 < modules.length ? [i + 1] : [] }));

  it('passes a high-risk camera chain kept in the safe zone', () => {
    const logs = validateSteps(chain('camera-mod', 'gray-mod'), { 0: 'safe-dev', 1: 'safe-dev' }, cards);
    expect(logs.map((l) => l.valid)).toEqual([true, true]);
    expect(logs[0]).toMatchObject({ node_zone: 'safe', module_risk: 'low', input_risk: 'high', output_risk: 'high' });
    expect(logs[1]).toMatchObject({ input_risk: 'high', output_risk: 'high' });
  });

  it('refuses high-risk data flowing into the unsafe zone, and says why', () => {
    const logs = validateSteps(chain('camera-mod', 'gray-mod'), { 0: 'safe-dev', 1: 'unsafe-dev' }, cards);
    expect(logs.map((l) => l.valid)).toEqual([true, false]);
    expect(logs[1]!.reasons).toEqual(['input risk high is not allowed in zone unsafe', 'output risk high is not allowed in zone unsafe']);
    // A step that lowers the risk first makes the same hop valid.
    expect(validateSteps(chain('camera-mod', 'blur-mod', 'gray-mod'), { 0: 'safe-dev', 1: 'safe-dev', 2: 'unsafe-dev' }, cards).every((l) => l.valid)).toBe(true);
  });

  it('needs a node card, a module card and the data-source card a module reads', () => {
    const logs = validateSteps(chain('camera-mod', 'unknown-mod'), { 0: 'nowhere', 1: 'safe-dev' }, cards);
    expect(logs[0]!.reasons).toEqual(['Node card not found']);
    expect(logs[1]!.reasons).toEqual(['Module card not found']);
    const noSource = policyCards([record('node', nodeCard('d', 'safe')), record('module', moduleCard('camera-mod', 'low', 'camera', 'inherit')), record('zones', zoneCard(), 'zones')]);
    expect(validateSteps(chain('camera-mod'), { 0: 'd' }, noSource)[0]!.reasons).toEqual(['no data-source card for camera on this device']);
  });

  it('lets a first step that reads the previous output start with no risk (the reference always fails it)', () => {
    expect(validateSteps(chain('blur-mod'), { 0: 'unsafe-dev' }, cards)[0]).toMatchObject({ valid: true, input_risk: 'none', output_risk: 'low' });
  });

  it('admits a device for a step only where the step validates after the steps before it', () => {
    const admit = policyAdmission(chain('camera-mod', 'gray-mod'), cards);
    expect(admit({ index: 0 }, 'safe-dev', {})).toBeNull();
    expect(admit({ index: 1 }, 'unsafe-dev', { 0: 'safe-dev' })).toContain('input risk high');
    expect(admit({ index: 1 }, 'unsafe-dev', { 0: 'unsafe-dev' })).toBeNull();
  });
});
