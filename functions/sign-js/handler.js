// sign-js: signs and verifies URLs the way object stores do (canonical query + HMAC-SHA256), with
// node:url and node:crypto.
//
// Request:  {"url": "https://host/path?b=2&a=1", "key": "secret", "expires": 1700000000}   → sign
//           {"url": "<a signed URL>", "key": "secret", "now": 1600000000}                 → verify
//           (a URL carrying a "signature" parameter is verified, any other is signed)
// Response: sign:   {"signed_url", "canonical", "signature"}
//           verify: {"valid": bool, "expired": bool, "reason"?: "..."}
'use strict';

const crypto = require('node:crypto');

function canonical(url) {
  const params = [...url.searchParams].filter(([k]) => k !== 'signature');
  params.sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return `${url.protocol}//${url.host.toLowerCase()}${url.pathname}?${query}`;
}

function hmac(key, text) {
  return crypto.createHmac('sha256', key).update(text).digest('base64url');
}

module.exports.handle = (request) => {
  if (typeof request.url !== 'string' || typeof request.key !== 'string' || request.key === '') {
    throw new TypeError('request needs "url" and a non-empty "key" (strings)');
  }
  const url = new URL(request.url);  // throws TypeError [ERR_INVALID_URL] on a bad URL
  const given = url.searchParams.get('signature');
  if (given === null) {
    const expires = Number.isInteger(request.expires) ? request.expires : Math.floor(Date.now() / 1000) + 3600;
    url.searchParams.set('expires', String(expires));
    const text = canonical(url);
    const signature = hmac(request.key, text);
    url.searchParams.set('signature', signature);
    return { signed_url: url.toString(), canonical: text, signature };
  }
  const expected = Buffer.from(hmac(request.key, canonical(url)));
  const actual = Buffer.from(given);
  const valid = expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
  const now = Number.isInteger(request.now) ? request.now : Math.floor(Date.now() / 1000);
  const expired = Number(url.searchParams.get('expires')) < now;
  return valid && !expired ? { valid: true, expired: false }
    : { valid, expired, reason: !valid ? 'signature mismatch' : 'expired' };
};
