// Runs ../playback-token.js in Node inside a minimal stand-in for the
// CloudFront Functions runtime (cloudfront-js-2.0): the `cloudfront` module
// with an in-memory key-value store, a `crypto` module limited to what that
// runtime offers (createHash, createHmac), Buffer, and the viewer-request
// event shape.
//
// Usage: node run.mjs CASES.json
//   CASES.json: { "store": { "<kvs key>": "<value>" },
//                 "cases": [ { "name", "uri", "ip", "headers": { "<name>": "<value>" } } ] }
// Prints a JSON array, one entry per case:
//   { "name", "status" (null when the request goes on), "uri", "headers" }
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nodeCrypto from 'node:crypto';
import vm from 'node:vm';

// CloudFront refuses function code over 10 KB.
const MAX_FUNCTION_BYTES = 10240;
const IMPORT_LINE = "import cf from 'cloudfront';";

const here = dirname(fileURLToPath(import.meta.url));
const source = readFileSync(join(here, '..', 'playback-token.js'), 'utf8');
if (Buffer.byteLength(source) > MAX_FUNCTION_BYTES) {
  throw new Error(`playback-token.js is ${Buffer.byteLength(source)} bytes; CloudFront allows ${MAX_FUNCTION_BYTES}`);
}
if (!source.includes(IMPORT_LINE)) {
  throw new Error('playback-token.js no longer imports the cloudfront module the way this harness expects');
}
// A vm script cannot `import`; the module arrives as a global instead.
const script = source.replace(IMPORT_LINE, '') + '\n;exported.handler = handler;\n';

function loadFunction(store) {
  const exported = {};
  const keyValueStore = {
    async get(key) {
      if (!Object.prototype.hasOwnProperty.call(store, key)) {
        throw new Error('key not found');
      }
      return store[key];
    },
    async exists(key) {
      return Object.prototype.hasOwnProperty.call(store, key);
    },
  };
  const runtimeCrypto = { createHash: nodeCrypto.createHash, createHmac: nodeCrypto.createHmac };
  const context = {
    exported,
    cf: { kvs: () => keyValueStore },
    require(name) {
      if (name !== 'crypto') {
        throw new Error(`module ${name} is not available in CloudFront Functions`);
      }
      return runtimeCrypto;
    },
    Buffer,
    console,
  };
  vm.runInNewContext(script, context, { filename: 'playback-token.js' });
  return exported.handler;
}

function viewerRequest(testCase) {
  const headers = {};
  for (const [name, value] of Object.entries(testCase.headers || {})) {
    headers[name.toLowerCase()] = { value };
  }
  return {
    version: '1.0',
    context: { eventType: 'viewer-request', distributionDomainName: 'd111111abcdef8.cloudfront.net' },
    viewer: { ip: testCase.ip },
    request: { method: 'GET', uri: testCase.uri, querystring: {}, headers, cookies: {} },
  };
}

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const handler = loadFunction(input.store);
const results = [];
for (const testCase of input.cases) {
  const result = await handler(viewerRequest(testCase));
  const headers = {};
  for (const [name, header] of Object.entries(result.headers || {})) {
    headers[name] = header.value;
  }
  const answered = result.statusCode !== undefined;
  results.push({
    name: testCase.name,
    status: answered ? result.statusCode : null,
    uri: answered ? null : result.uri,
    headers,
  });
}
process.stdout.write(JSON.stringify(results));
