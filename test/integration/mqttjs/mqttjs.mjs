// MQTT.js against iothub, run by test/integration/transport_test.go:
//
//   node mqttjs.mjs URL [CA_FILE]
//
// URL is ws://host:port/mqtt or wss://…; CA_FILE is the PEM that signed the
// server certificate (wss). For MQTT 3.1.1 and 5.0 in turn it connects,
// subscribes, publishes at QoS 0, 1 and 2 and checks each arrives, then
// checks a retained message reaches a later subscriber. It prints one "ok"
// line per check and "PASS" at the end; any failure, or 30 seconds passing,
// exits 1.
import fs from 'node:fs';
import mqtt from 'mqtt';

const [url, caFile] = process.argv.slice(2);
if (!url) {
  console.error('usage: node mqttjs.mjs URL [CA_FILE]');
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error('FAIL: timed out after 30s');
  process.exit(1);
}, 30000);

const run = Date.now().toString(36);

function connect(protocolVersion, clientId) {
  const opts = { protocolVersion, clientId, clean: true, reconnectPeriod: 0, connectTimeout: 10000 };
  if (caFile) {
    opts.ca = fs.readFileSync(caFile);
  }
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, opts);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
    c.once('close', () => reject(new Error(`${clientId}: connection closed`)));
  });
}

function nextMessage(c, topic) {
  return new Promise((resolve) => {
    const on = (t, payload, packet) => {
      if (t === topic) {
        c.removeListener('message', on);
        resolve({ payload: payload.toString(), packet });
      }
    };
    c.on('message', on);
  });
}

async function check(version) {
  const base = `js/${run}/v${version}`;
  const sub = await connect(version, `js-sub-${version}-${run}`);
  const pub = await connect(version, `js-pub-${version}-${run}`);
  console.log(`ok connect v${version}`);
  const granted = await sub.subscribeAsync(`${base}/+`, { qos: 2 });
  if (granted[0].qos !== 2) throw new Error(`granted qos ${granted[0].qos}`);
  console.log(`ok subscribe v${version}`);
  for (const qos of [0, 1, 2]) {
    const topic = `${base}/q${qos}`;
    const got = nextMessage(sub, topic);
    await pub.publishAsync(topic, `hello ${qos}`, { qos });
    const m = await got;
    if (m.payload !== `hello ${qos}` || m.packet.qos !== qos) {
      throw new Error(`qos ${qos}: got ${JSON.stringify(m.payload)} at qos ${m.packet.qos}`);
    }
    console.log(`ok qos${qos} v${version}`);
  }
  const retainedTopic = `js/${run}/retained/v${version}`;
  await pub.publishAsync(retainedTopic, 'kept', { qos: 1, retain: true });
  const late = await connect(version, `js-late-${version}-${run}`);
  const got = nextMessage(late, retainedTopic);
  await late.subscribeAsync(retainedTopic, { qos: 1 });
  const m = await got;
  if (m.payload !== 'kept' || !m.packet.retain) throw new Error(`retained: ${JSON.stringify(m.payload)} retain=${m.packet.retain}`);
  console.log(`ok retained v${version}`);
  await pub.publishAsync(retainedTopic, '', { qos: 1, retain: true }); // clear it
  await Promise.all([sub.endAsync(), pub.endAsync(), late.endAsync()]);
}

try {
  await check(4);
  await check(5);
  clearTimeout(timer);
  console.log('PASS');
  process.exit(0);
} catch (err) {
  console.error(`FAIL: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
}
