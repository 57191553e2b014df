// MQTT devices on the NATS backbone: a real nats-server with its MQTT listener (and the
// JetStream it needs), a Node peer with the topic bridge, and the `mqtt` client standing
// in for an ESP32 — the seed's polynomial-roots scenario with the device on either side.
import { connectAsync, type MqttClient } from 'mqtt';
import { expect } from 'chai';
import { NatsTransport } from '../../shared/adapters/nats-transport.ts';
import type { SupervisedPeer } from '../../shared/composition/supervised-peer.ts';
import { readModuleFiles, sampleModuleDir } from '../../node-host/module-files.ts';
import { topicToSubject } from '../../node-host/nats/mqtt-bridge.ts';
import { natsConnector, natsTopicBridgeFromArgs } from '../../node-host/nats/nats-connect.ts';
import { startNodePeer } from '../../node-host/node-peer.ts';
import { rejectionOf, waitFor } from '../acceptance/wait.ts';
import { type NatsCluster, startNatsCluster } from '../helpers/nats-server.ts';

const AUTH = { user: 'site', pass: 'site-password-3' };
let cluster: NatsCluster;
let node: SupervisedPeer;
let stopBridge: () => Promise<void>;
let device: MqttClient;

const f64 = (...values: number[]): Buffer => {
  const out = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => out.writeDoubleLE(v, i * 8));
  return out;
};
const readF64 = (bytes: Buffer): number[] => Array.from({ length: bytes.byteLength / 8 }, (_, i) => bytes.readDoubleLE(i * 8));

beforeAll(async () => {
  cluster = await startNatsCluster({ auth: AUTH, mqtt: true });
  const url = cluster.urls[0]!;
  const bridge = natsTopicBridgeFromArgs(['--nats', url, '--nats-user', AUTH.user, '--nats-pass', AUTH.pass, '--mqtt-bridge'], 'gateway-pi')!;
  node = await startNodePeer({
    name: 'gateway-pi',
    transports: [new NatsTransport({ connect: natsConnector({ servers: [url], ...AUTH }), mesh: 'plant', secret: 's' })],
    fakeCamera: false, simulatedSensors: false, inference: false,
    topicBridge: bridge,
  });
  await bridge.start(node);
  stopBridge = () => bridge.stop();
  device = await connectAsync(cluster.servers[0]!.mqttUrl!, { username: AUTH.user, password: AUTH.pass, clientId: 'esp32-sensor', reconnectPeriod: 0 });
  for (const module of ['poly-server', 'poly-client']) {
    const files = await readModuleFiles(sampleModuleDir(module));
    await node.orchestrator.packages.publish({ wasm: files.wasm, description: files.description!, dataFiles: {} });
  }
});
afterAll(async () => {
  await device?.endAsync();
  await stopBridge?.();
  await node?.stop();
  await cluster?.stop();
});

async function deploy(name: string, module: string, func: string, topics: { subscribe: string[]; publish: string[] }): Promise<string> {
  const d = node.orchestrator.deploy({ name, sequence: [{ module, func, device: 'gateway-pi' }], topics: { [module]: topics } });
  await node.orchestrator.waitFor(d.id, (v) => v.record.status === 'ready', 30_000);
  return d.id;
}

describe('MQTT devices through the NATS bridge', () => {
  it('maps module topics to NATS subjects as nats-server maps MQTT topics', () => {
    expect(topicToSubject('poly/request')).to.equal('poly.request');
    expect(topicToSubject('sensors/*/temp')).to.equal('sensors.*.temp');
    expect(topicToSubject('sensors/#')).to.equal('sensors.>');
    expect(topicToSubject('bad.segment/x')).to.equal(null);
    expect(topicToSubject('a//b')).to.equal(null);
  });

  it('answers a plain MQTT device: it asks poly-server for the roots of x² − 3x + 2 and gets 2 and 1', async () => {
    const server = await deploy('roots-server', 'poly-server', 'start', { subscribe: ['poly/request'], publish: ['poly/roots'] });
    await node.orchestrator.execute(server);
    const answers: Buffer[] = [];
    device.on('message', (topic, payload) => topic === 'poly/roots' && answers.push(payload));
    await device.subscribeAsync('poly/roots');
    // The bridge follows the module's subscription; ask until it is in place (a sensor repeats too).
    await waitFor(async () => {
      if (answers.length === 0) await device.publishAsync('poly/request', f64(1, -3, 2));
      return answers.length > 0;
    }, 'an answer on poly/roots', 15_000);
    expect(readF64(answers[0]!)).to.deep.equal([1, -3, 2, 2, 1]);
    // Gone, so that it does not answer the next case's requests before the device does.
    node.orchestrator.remove(server);
    await waitFor(() => node.supervisor.subscriptions().length === 0, 'poly-server to be undeployed here');
  });

  it('serves poly-client from an MQTT device that computes the roots itself', async () => {
    const onRequest = (topic: string, payload: Buffer): void => {
      if (topic !== 'poly/request' || payload.byteLength !== 24) return;
      const [a, b, c] = readF64(payload) as [number, number, number];
      const d = Math.sqrt(b * b - 4 * a * c);
      void device.publishAsync('poly/roots', Buffer.concat([payload, f64((-b + d) / (2 * a), (-b - d) / (2 * a))]));
    };
    device.on('message', onRequest);
    await device.subscribeAsync('poly/request');
    const client = await deploy('roots-client', 'poly-client', 'solve', { subscribe: ['poly/roots'], publish: ['poly/request'] });
    await waitFor(async () => {
      await node.orchestrator.execute(client, { args: [1, -5, 6] });
      await new Promise((r) => setTimeout(r, 200));
      return (await node.orchestrator.call(client, 'poly-client', 'root_count')).value === 2;
    }, 'poly-client to receive two roots from the device', 15_000);
    const roots = [(await node.orchestrator.call(client, 'poly-client', 'root1')).value, (await node.orchestrator.call(client, 'poly-client', 'root2')).value];
    expect(roots).to.deep.equal([3, 2]);
    device.off('message', onRequest);
  });

  it('bridges nothing a deployment is not granted: a module may not publish to the device outside its grants', async () => {
    const heard: string[] = [];
    device.on('message', (topic) => heard.push(topic));
    await device.subscribeAsync('poly/request');
    const rogue = await deploy('rogue-client', 'poly-client', 'solve', { subscribe: ['poly/roots'], publish: [] });
    const denied = await rejectionOf(node.orchestrator.execute(rogue, { args: [1, 0, -4] }));
    expect(denied.code).to.equal('ERR_TOPIC_DENIED');
    // A request the device does see afterwards proves the path was open all along.
    const allowed = await deploy('allowed-client', 'poly-client', 'solve', { subscribe: ['poly/roots'], publish: ['poly/request'] });
    await node.orchestrator.execute(allowed, { args: [2, 0, -8] });
    await waitFor(() => heard.includes('poly/request'), 'the granted request at the device');
    expect(heard.filter((t) => t === 'poly/request')).to.have.length(1);
  });
});
