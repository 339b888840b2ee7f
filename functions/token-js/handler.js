// token-js: issues session tokens: a UUID, 32 random bytes (base64url), a short code from
// Math.random and a SHA-256 fingerprint binding them to the user. Every clone of a snapshot must
// issue different ones (the e2e tests compare clones).
//
// Request:  {"user": "alice"}
// Response: {"user", "id" (crypto.randomUUID), "token" (crypto.randomBytes), "code" (Math.random,
//            6 digits), "random" (the Math.random double), "fingerprint"}
'use strict';

const crypto = require('node:crypto');

module.exports.handle = (request) => {
  const user = typeof request.user === 'string' ? request.user : 'anonymous';
  const id = crypto.randomUUID();
  const token = crypto.randomBytes(32).toString('base64url');
  const random = Math.random();
  const code = String(Math.floor(random * 1e6)).padStart(6, '0');
  const fingerprint = crypto.createHash('sha256').update(`${user}:${id}:${token}`).digest('hex');
  return { user, id, token, code, random, fingerprint };
};
