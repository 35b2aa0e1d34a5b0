// CloudFront Function (runtime cloudfront-js-2.0), viewer-request event.
//
// A viewer asks for /t/<token>/live/<stream>/<file>. The token is an HS256
// JWT (header kid; claims sub = path scope, exp, iat, optional nbf and ip) issued by the
// relay. When it verifies, the request goes on as /live/<stream>/<file>, so
// every viewer of a stream shares one cache entry. The token travels on in
// the x-playback-token header and the origin verifies it again; the
// x-playback-verified header (part of the cache key) keeps token-checked
// copies apart from those fetched without a token. Both headers are removed
// from every incoming request first, so a viewer cannot set them.
//
// Secrets come from the KeyValueStore associated with this function: one
// entry per key id, "playback-key:<kid>" -> secret text (the HMAC key is
// the text's UTF-8 bytes). See docs/design/playback-tokens.md.
//
// With an on_play webhook the origin gates media with session tokens
// (claim ses, docs/design/on-play-sessions.md). The entry "on-play-sessions"
// in the store says so here too: then every file but index.m3u8 (where a
// session starts) needs a session token, so no other token reads cached media.
import cf from 'cloudfront';

const crypto = require('crypto');

const kvs = cf.kvs();
const KEY_PREFIX = 'playback-key:';
const SESSIONS_FLAG = 'on-play-sessions';
const SESSION_START = /(^|\/)index\.m3u8$/;
const TOKEN_HEADER = 'x-playback-token';
const VERIFIED_HEADER = 'x-playback-verified';
const LEEWAY_SECONDS = 5;
// The relay's auth.token_max_lifetime_secs: change both together.
const MAX_LIFETIME_SECONDS = 86400;
const MAX_TOKEN_LENGTH = 1024;
const TOKEN_PATH = /^\/t\/([^\/]*)\/(.+)$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const PLAIN_PATH = /^[A-Za-z0-9._~\/-]+$/;

async function handler(event) {
  const request = event.request;
  delete request.headers[TOKEN_HEADER];
  delete request.headers[VERIFIED_HEADER];
  const match = request.uri.match(TOKEN_PATH);
  if (!match) {
    return request;
  }
  const token = match[1];
  const path = match[2];
  const status = token === '' ? 401 : await check(token, path, event.viewer.ip);
  if (status !== 0) {
    return {
      statusCode: status,
      statusDescription: status === 401 ? 'Unauthorized' : 'Forbidden',
      headers: { 'cache-control': { value: 'no-store' } },
    };
  }
  request.uri = '/' + path;
  request.headers[TOKEN_HEADER] = { value: token };
  request.headers[VERIFIED_HEADER] = { value: '1' };
  return request;
}

// 0 when the token allows this path for this viewer; otherwise the status
// to answer: 401 when a new token would help (expired), 403 for the rest.
async function check(token, path, viewerIp) {
  if (token.length > MAX_TOKEN_LENGTH) {
    return 403;
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !BASE64URL.test(parts[0]) || !BASE64URL.test(parts[1]) || !BASE64URL.test(parts[2])) {
    return 403;
  }
  const header = parseJson(parts[0]);
  const claims = parseJson(parts[1]);
  if (header === null || claims === null || header.alg !== 'HS256') {
    return 403;
  }
  if (typeof header.kid !== 'string' || !KEY_ID.test(header.kid)) {
    return 403;
  }
  let secret;
  try {
    secret = await kvs.get(KEY_PREFIX + header.kid);
  } catch (missing) {
    return 403;
  }
  if (!sameText(sign(secret, parts[0] + '.' + parts[1]), parts[2])) {
    return 403;
  }
  if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || typeof claims.iat !== 'number') {
    return 403;
  }
  const now = Math.floor(Date.now() / 1000);
  if (claims.exp + LEEWAY_SECONDS < now) {
    return 401;
  }
  const notBefore = claims.nbf === undefined ? 0 : claims.nbf;
  if (typeof notBefore !== 'number' || notBefore > now + LEEWAY_SECONDS || claims.iat > now + LEEWAY_SECONDS) {
    return 403;
  }
  if (claims.exp - claims.iat > MAX_LIFETIME_SECONDS) {
    return 403;
  }
  if (!covers(claims.sub, path)) {
    return 403;
  }
  if (claims.ip !== undefined) {
    const bound = canonicalIp(claims.ip);
    if (bound === '' || bound !== canonicalIp(viewerIp)) {
      return 403;
    }
  }
  if (claims.ses !== true && !SESSION_START.test(path) && (await sessionsRequired())) {
    return 401;
  }
  return 0;
}

async function sessionsRequired() {
  try {
    return await kvs.exists(SESSIONS_FLAG);
  } catch (unreadable) {
    return true;
  }
}

function parseJson(part) {
  if (part.length % 4 === 1) {
    return null;
  }
  let base64 = part.replace(/-/g, '+').replace(/_/g, '/');
  while (base64.length % 4 !== 0) {
    base64 += '=';
  }
  try {
    const value = JSON.parse(Buffer.from(base64, 'base64').toString('utf8'));
    return value !== null && typeof value === 'object' ? value : null;
  } catch (malformed) {
    return null;
  }
}

function sign(secret, message) {
  const digest = crypto.createHmac('sha256', secret).update(message).digest('base64');
  return digest.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Compares every character, so timing does not reveal how much matched.
function sameText(a, b) {
  if (a.length !== b.length) {
    return false;
  }
  let difference = 0;
  for (let i = 0; i < a.length; i++) {
    difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  }
  return difference === 0;
}

// The scope covers the path when it equals it or is a whole-segment prefix:
// live/main/ covers live/main/seg1.m4s but not live/main2/seg1.m4s. Paths
// with anything but plain characters, empty or dot segments are refused, so
// the edge and the origin cannot read one path two ways.
function covers(scope, path) {
  if (!PLAIN_PATH.test(path)) {
    return false;
  }
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    if (segments[i] === '' || segments[i] === '.' || segments[i] === '..') {
      return false;
    }
  }
  const prefix = scope.replace(/^\/+/, '').replace(/\/+$/, '');
  return prefix !== '' && (path === prefix || path.indexOf(prefix + '/') === 0);
}

// One spelling per address: IPv6 expanded to eight lower-case groups without
// leading zeros, IPv4-mapped IPv6 as dotted IPv4. '' when unparsable.
function canonicalIp(text) {
  if (typeof text !== 'string') {
    return '';
  }
  let ip = text.toLowerCase();
  if (ip.indexOf(':') < 0) {
    return /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) ? ip : '';
  }
  const lastColon = ip.lastIndexOf(':');
  const dotted = ip.slice(lastColon + 1);
  if (dotted.indexOf('.') >= 0) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(dotted)) {
      return '';
    }
    const octets = dotted.split('.').map(Number);
    const high = ((octets[0] << 8) | octets[1]).toString(16);
    const low = ((octets[2] << 8) | octets[3]).toString(16);
    ip = ip.slice(0, lastColon + 1) + high + ':' + low;
  }
  const halves = ip.split('::');
  if (halves.length > 2) {
    return '';
  }
  const head = halves[0] === '' ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) {
    return '';
  }
  const groups = head.concat(new Array(missing).fill('0'), tail);
  const words = [];
  for (let i = 0; i < groups.length; i++) {
    if (!/^[0-9a-f]{1,4}$/.test(groups[i])) {
      return '';
    }
    words.push(parseInt(groups[i], 16));
  }
  const mapped = words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0;
  if (mapped && words[5] === 0xffff) {
    return [words[6] >> 8, words[6] & 255, words[7] >> 8, words[7] & 255].join('.');
  }
  return words.map((word) => word.toString(16)).join(':');
}
