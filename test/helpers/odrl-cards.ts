/**
 * ODRL cards shaped like those of WasmIoT's test environment (`odrl-*-cards/`), for the
 * zones-and-risk-levels tests: a node card, a data-source card, a module card and the
 * zone card (safe = high, medium, low; unsafe = medium, low).
 */

/** A node card putting `device` (id or name) in `zone`. */
export function nodeCard(device: string, zone: string, title = device): Record<string, unknown> {
  return {
    '@context': 'http://www.w3.org/ns/odrl.jsonld',
    '@type': 'Set',
    uid: `urn:node-card:${device}`,
    asset: [{ uid: device, title, relation: [{ type: 'memberOf', value: zone }] }],
  };
}

/** A data-source card: data of `type` on `device` has `risk`. */
export function dataSourceCard(device: string, type: string, risk: string): Record<string, unknown> {
  return {
    '@context': 'http://www.w3.org/ns/odrl.jsonld',
    '@type': 'Set',
    uid: `urn:datasource-card:${device}:${type}`,
    asset: [{ uid: `${device}-${type}`, relation: [{ type: 'type', value: type }, { type: 'risk-level', value: risk }, { type: 'nodeid', value: device }] }],
  };
}

/** A module card: `module` (id or name) has `risk`, reads `input` and outputs `output`. */
export function moduleCard(module: string, risk: string, input: string, output: string, action = 'run'): Record<string, unknown> {
  return {
    '@context': 'http://www.w3.org/ns/odrl.jsonld',
    '@type': 'Offer',
    uid: `urn:module-card:${module}`,
    permission: [{
      target: module,
      action,
      constraint: [
        { leftOperand: 'risk-level', operator: 'eq', rightOperand: risk },
        { leftOperand: 'input-type', operator: 'eq', rightOperand: input },
        { leftOperand: 'output-risk', operator: 'eq', rightOperand: output },
      ],
    }],
  };
}

/** The test environment's zone card: safe allows high, medium and low; unsafe medium and low. */
export function zoneCard(): Record<string, unknown> {
  return {
    '@context': 'http://www.w3.org/ns/odrl.jsonld',
    '@type': 'Policy',
    uid: 'urn:zone-risk-levels',
    permission: [
      { target: 'high', action: 'deploy', constraint: [{ leftOperand: 'zone', operator: 'eq', rightOperand: 'safe' }] },
      { target: 'medium', action: 'deploy', constraint: [{ leftOperand: 'zone', operator: 'isAnyOf', rightOperand: ['safe', 'unsafe'] }] },
      { target: 'low', action: 'deploy', constraint: [{ leftOperand: 'zone', operator: 'isAnyOf', rightOperand: ['safe', 'unsafe'] }] },
    ],
  };
}
