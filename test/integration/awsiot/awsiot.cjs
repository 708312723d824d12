// The AWS IoT device SDK (npm aws-iot-device-sdk: thingShadow and jobs)
// against iothub over mutual TLS, run by test/integration/awsiot_test.go:
//
//   node awsiot.cjs MQTT_PORT API_URL API_KEY CA CERT KEY FIRMWARE_SHA256
//
// It registers the thing (its certificate's fingerprint as credential)
// through the HTTP API, then drives the shadow (update reported, get, a
// delta from a desired change made through the API, a version conflict, a
// named shadow, delete) and a job (notify-next, IN_PROGRESS, firmware
// download over HTTPS with its SHA-256 checked, SUCCEEDED). One "ok" line
// per check, "PASS" at the end; a failure or 60 seconds exits 1.
'use strict';
const awsIot = require('aws-iot-device-sdk');
const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');

const [port, apiURL, apiKey, caFile, certFile, keyFile, firmwareSHA] = process.argv.slice(2);
const thing = 'lock-1';
const ca = fs.readFileSync(caFile);
setTimeout(() => { console.error('FAIL: timed out after 60s'); process.exit(1); }, 60000);

function fail(msg) { console.error('FAIL: ' + msg); process.exit(1); }
function check(cond, msg) { if (!cond) fail(msg); console.log('ok ' + msg); }

// api calls the hub's HTTP API over HTTPS.
function api(method, path, body, raw) {
  return new Promise((resolve, reject) => {
    const req = https.request(apiURL + path, { method, ca, headers: { Authorization: 'Bearer ' + apiKey, 'Content-Type': 'application/json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: raw ? buf : (buf.length ? JSON.parse(buf.toString()) : null) });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    req.end();
  });
}

// download fetches a URL over HTTPS and returns its bytes.
function download(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), sha: res.headers['x-checksum-sha256'] }));
    }).on('error', reject);
  });
}

const deviceOptions = {
  host: 'localhost', port: Number(port), protocol: 'mqtts', clientId: thing,
  caCert: caFile, clientCert: certFile, privateKey: keyFile, enableMetrics: false, reconnectPeriod: 0,
};

// once resolves with the arguments of the next matching event.
function once(emitter, event, match) {
  return new Promise((resolve) => {
    const on = (...args) => {
      if (!match || match(...args)) { emitter.removeListener(event, on); resolve(args); }
    };
    emitter.on(event, on);
  });
}

async function shadowChecks() {
  const shadows = awsIot.thingShadow(deviceOptions);
  await once(shadows, 'connect');
  check(true, 'thingShadow connected over mutual TLS with its registered certificate');

  // Without persistent subscriptions and deltas the SDK learns the version
  // only from its own requests: a desired change made meanwhile through the
  // API makes its next update stale.
  await new Promise((resolve, reject) => shadows.register(thing, { ignoreDeltas: true, persistentSubscribe: false }, (err) => err ? reject(err) : resolve()));
  let token = shadows.update(thing, { state: { reported: { lock_state: 1, battery: 83.4 } } });
  let [, stat, tok, doc] = await once(shadows, 'status');
  check(stat === 'accepted' && tok === token && doc.state.reported.lock_state === 1, 'update reported accepted, clientToken matched');
  token = shadows.get(thing);
  [, stat, tok, doc] = await once(shadows, 'status');
  check(stat === 'accepted' && doc.state.reported.battery === 83.4 && doc.metadata.reported.battery.timestamp > 0, 'get returns the reported state with metadata');
  const v = doc.version;
  let res = await api('POST', `/api/v1/devices/${thing}/shadow`, { state: { desired: { lock_state: 0 } } });
  check(res.status === 200 && res.body.version === v + 1, 'desired changed through the HTTP API');
  shadows.update(thing, { state: { reported: { lock_state: 1 } } });
  [, stat, tok, doc] = await once(shadows, 'status');
  check(stat === 'rejected' && doc.code === 409 && doc.message === 'Version conflict', 'a stale version is rejected with 409 Version conflict');
  shadows.unregister(thing);

  // Registered with deltas: a desired change made through the API reaches
  // the device on /update/delta.
  await new Promise((resolve, reject) => shadows.register(thing, {}, (err) => err ? reject(err) : resolve()));
  const delta = once(shadows, 'delta');
  res = await api('POST', `/api/v1/devices/${thing}/shadow`, { state: { desired: { mode: 'away' } } });
  check(res.status === 200, 'second desired change through the API');
  const [, deltaDoc] = await delta;
  check(deltaDoc.state.mode === 'away' && deltaDoc.state.lock_state === 0 && deltaDoc.version === v + 2, 'delta event carries the unmet desired state');
  token = shadows.update(thing, { state: { reported: { mode: 'away', lock_state: 0 } } });
  [, stat, tok, doc] = await once(shadows, 'status');
  check(stat === 'accepted' && tok === token, 'device reports the desired state');
  res = await api('GET', `/api/v1/devices/${thing}/shadow`);
  check(res.status === 200 && res.body.state.delta === undefined, 'no delta left once reported matches desired');

  // Named shadows: the v1 SDK has no helper, its device client speaks the topics.
  const named = `$aws/things/${thing}/shadow/name/config`;
  await new Promise((resolve, reject) => shadows.subscribe([named + '/update/accepted', named + '/get/accepted'], { qos: 1 }, (err) => err ? reject(err) : resolve()));
  const namedAcc = once(shadows, 'message', (t) => t === named + '/update/accepted');
  shadows.publish(named + '/update', JSON.stringify({ state: { desired: { interval: 60 } }, clientToken: 'n1' }), { qos: 1 });
  const [, payload] = await namedAcc;
  check(JSON.parse(payload.toString()).clientToken === 'n1', 'named shadow updated over its topics');
  res = await api('GET', `/api/v1/devices/${thing}/shadows`);
  check(res.status === 200 && res.body.data.includes('config'), 'named shadow listed by the API');

  token = shadows.delete(thing);
  [, stat, tok, doc] = await once(shadows, 'status');
  check(stat === 'accepted' && tok === token, 'delete accepted');
  res = await api('GET', `/api/v1/devices/${thing}/shadow`);
  check(res.status === 404, 'deleted shadow is gone');
  await new Promise((resolve) => shadows.end(false, resolve));
}

async function jobChecks() {
  const jobs = awsIot.jobs(deviceOptions);
  await once(jobs, 'connect');
  const got = new Promise((resolve, reject) => jobs.subscribeToJobs(thing, 'firmware-update', (err, job) => err ? reject(err) : resolve(job)));
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the SUBSCRIBE go first
  jobs.startJobNotifications(thing, (err) => { if (err) fail('startJobNotifications: ' + err); });
  const res = await api('POST', '/api/v1/jobs', {
    job_id: 'fw-1.2', targets: [thing], in_progress_timeout: '10m',
    document: { operation: 'firmware-update', version: '1.2', url: '${iothub:firmware-url:lock-fw-1.2.bin}', sha256: '${iothub:firmware-sha256:lock-fw-1.2.bin}' },
  });
  check(res.status === 201, 'job created through the API');
  const job = await got;
  check(job.id === 'fw-1.2' && job.status.status === 'QUEUED' && job.document.url.startsWith('https://'), 'jobs client received the job with a signed HTTPS URL');
  await new Promise((resolve, reject) => job.inProgress({ step: 'download' }, (err) => err ? reject(err) : resolve()));
  const fw = await download(job.document.url);
  const sum = crypto.createHash('sha256').update(fw.body).digest('hex');
  check(fw.status === 200 && sum === job.document.sha256 && sum === firmwareSHA && fw.sha === sum, 'firmware downloaded, SHA-256 matches the job document');
  const bad = await download(job.document.url.replace(/sig=[0-9a-f]/, 'sig=x'));
  check(bad.status === 403, 'a tampered URL is refused');
  await new Promise((resolve, reject) => job.succeeded({ step: 'done' }, (err) => err ? reject(err) : resolve()));
  for (let i = 0; ; i++) {
    const r = await api('GET', '/api/v1/jobs/fw-1.2');
    if (r.body.status === 'COMPLETED' && r.body.executions.SUCCEEDED === 1) break;
    if (i > 100) fail('job not COMPLETED: ' + JSON.stringify(r.body));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const ex = await api('GET', `/api/v1/devices/${thing}/jobs`);
  check(ex.body.data[0].status === 'SUCCEEDED' && ex.body.data[0].status_details.step === 'done', 'execution went IN_PROGRESS then SUCCEEDED; job COMPLETED');
  await new Promise((resolve) => jobs.end(false, resolve));
}

(async () => {
  const fingerprint = new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
  let res = await api('POST', '/api/v1/devices', { id: thing, cert_fingerprint: fingerprint, groups: ['fleet'] });
  check(res.status === 201, 'thing registered with its certificate fingerprint');
  res = await api('PUT', '/api/v1/firmware/lock-fw-1.2.bin', fs.readFileSync(process.env.FIRMWARE_FILE));
  check(res.status === 201 && res.body.sha256 === firmwareSHA, 'firmware uploaded');
  await shadowChecks();
  await jobChecks();
  console.log('PASS');
  process.exit(0);
})().catch((e) => fail(e.stack || String(e)));
