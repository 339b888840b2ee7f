// snapfaas-agent (Node.js): the guest agent of the `nodejs` runtime image. A small JS loop over the
// C++ addon snapfaas_agent.node (guest/node/addon.cpp), which holds the ring window, the doorbells
// and the ring server shared with the CPython agent (guest/agent/). Each request's slot is lent
// to JS as an ArrayBuffer over the window itself: the payload is decoded from it and the response
// encoded into it, one copy each way.
//
// Handler convention: /srv/handler.js with `module.exports.handle = (request) => result`; a
// returned Promise (or any thenable) is awaited; the result must be JSON-serializable (undefined
// answers null). Responses: {"ok":true,"result":...,"duration_ns":N}, or the errors of
// ipc/error_type.h written by guest/agent/error_json.h: function_error {"exception": error.name,
// "traceback": error.stack} when handle throws, rejects or returns what JSON cannot hold;
// bad_request {"exception"} when the payload is not UTF-8 JSON; response_too_large {size, limit}.
// An optional `module.exports.onRestore = () => ...` runs (awaited) after each restore.
//
// Snapshot points: base (1) once Node and V8 are up and the window is mapped, before anything of
// the function is loaded; diff (2) after the handler module was required. Whenever a restore
// record was applied (after a snapshot point or a WAIT: guest/agent/restore_watcher.h refreshed the
// kernel CRNG and the clock), the generators a clone would otherwise share with its siblings are
// reseeded (reseed()) before anything else runs.
// Options: the same as the CPython agent's (guest/agent/main.cpp), plus --addon PATH.
'use strict';

const path = require('node:path');
const crypto = require('node:crypto');
const { parseArgs } = require('node:util');

// ipc::ResponseStatus (ipc/channel_layout.h) and ipc::AgentFatal (ipc/guest_abi.h).
const kOk = 0;
const kUsage = 2, kImport = 7, kRingCorrupt = 8;
const kMaxErrorMessage = 1000;

// --- Math.random: V8 keeps its state per context, seeded once per isolate, so every clone of a
// snapshot would return the same sequence. It is replaced before any function code runs (so a
// reference a handler keeps is this function too) by xoshiro128** over 4 words reseeded from fresh
// entropy after every restore; 53 random bits per double as V8's own.
const randomState = new Uint32Array(4);
function rotl(x, k) { return (x << k) | (x >>> (32 - k)); }
function next32() {
  const s = randomState;
  const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
  const t = s[1] << 9;
  s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
  s[2] ^= t; s[3] = rotl(s[3], 11);
  return result;
}
function seedRandom(bytes) {
  randomState.set(new Uint32Array(bytes.buffer, bytes.byteOffset, 4));
  if ((randomState[0] | randomState[1] | randomState[2] | randomState[3]) === 0) randomState[0] = 1;
}
seedRandom(crypto.randomBytes(16));
Object.defineProperty(Math, 'random', {
  value: function random() { return ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992; },
  writable: true, configurable: true, enumerable: false,
});

// Node fills two caches from OpenSSL's DRBG: randomUUID's batch of 128 UUIDs (shared with
// webcrypto's randomUUID) and randomInt's 6 KiB of bytes. A clone must not hand out what its
// snapshot held, so after a restore each cache that was ever filled is cycled once (refilled from
// the reseeded DRBG). Cycling touches pages a restored guest faults in one by one, so it is done
// only for a cache something used: these wrappers, installed before any function code runs (a
// reference a handler keeps is the wrapper too), note the first use.
const cacheUsed = { uuid: false, int: false };
function noteUse(object, name, cache) {
  const original = object[name];
  const wrapper = { [name](...args) { cacheUsed[cache] = true; return Reflect.apply(original, this, args); } }[name];
  Object.defineProperty(object, name, { value: wrapper, writable: true, configurable: true, enumerable: true });
  return original;
}
const nodeRandomUUID = noteUse(crypto, 'randomUUID', 'uuid');
noteUse(Object.getPrototypeOf(crypto.webcrypto), 'randomUUID', 'uuid');
const nodeRandomInt = noteUse(crypto, 'randomInt', 'int');

// Reseeds every generator a clone shares with its siblings: OpenSSL's DRBG (crypto.randomBytes and
// everything else of node:crypto), the caches Node fills from it (above), and Math.random.
function reseed(native) {
  const entropy = native.freshEntropy(64);
  native.reseedOpenssl(entropy.subarray(0, 48));
  seedRandom(entropy.subarray(48, 64));
  if (cacheUsed.uuid) for (let i = 0; i < 128; ++i) nodeRandomUUID();
  if (cacheUsed.int) for (let i = 0; i < 1024; ++i) nodeRandomInt(0, 0xffffffffffff);
  entropy.fill(0);
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      'window-file': { type: 'string', default: '/dev/mem' },
      'window-offset': { type: 'string', default: String(0xC0000000) },
      'channel-region': { type: 'boolean', default: false },
      'doorbell': { type: 'string', default: 'port' },
      'module-dir': { type: 'string', default: '/srv' },
      'module': { type: 'string', default: 'handler' },
      'function': { type: 'string', default: 'handle' },
      'appfs': { type: 'string', default: '/dev/vdb' },
      'spin-us': { type: 'string', default: '50' },
      'addon': { type: 'string', default: path.join(__dirname, 'snapfaas_agent.node') },
      'verbose': { type: 'boolean', short: 'v', default: false },
    },
  });
  if (values.doorbell !== 'port' && values.doorbell !== 'futex') throw new Error('--doorbell: port or futex');
  return values;
}

function log(level, text) { process.stderr.write(`snapfaas-agent: ${level}: ${text}\n`); }

function cut(text) { return text.length > kMaxErrorMessage ? text.slice(0, kMaxErrorMessage) : text; }
function errorName(e) {
  if (e instanceof Error || (e && typeof e.name === 'string')) return String(e.name || 'Error');
  return 'Error';
}
function errorMessage(e) {
  try {
    return cut(e instanceof Error || (e && typeof e.message === 'string') ? String(e.message) : String(e));
  } catch {
    return '<unprintable>';
  }
}

function loadHandler(dir, module, name) {
  const file = path.join(dir, module + '.js');
  let exported;
  try {
    exported = require(file);
  } catch (e) {
    const err = new Error(`require ${file}: ${errorName(e)}: ${errorMessage(e)}`);
    err.fatal = kImport;
    throw err;
  }
  const handle = exported && exported[name];
  if (typeof handle !== 'function') {
    const err = new Error(`${module}.${name} is missing or not a function (module.exports.${name} = (request) => result)`);
    err.fatal = kImport;
    throw err;
  }
  const onRestore = typeof exported.onRestore === 'function' ? exported.onRestore : null;
  return { handle, onRestore };
}

// After a restore: the generators, then the function's own onRestore (its failure is logged; the
// function keeps serving).
async function restored(native, fn) {
  reseed(native);
  if (fn && fn.onRestore) {
    try {
      await fn.onRestore();
    } catch (e) {
      log('error', `onRestore: ${errorName(e)}: ${errorMessage(e)}`);
    }
  }
}

function stackOf(e) {
  try {
    return e instanceof Error && typeof e.stack === 'string' ? e.stack : '';
  } catch {
    return '';
  }
}

const kPrefix = Buffer.from('{"ok":true,"result":');
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Writes the success response into `slot`; false when it does not fit (nothing is truncated: the
// caller then writes an error response over it).
function writeResult(slot, body, durationNs) {
  if (kPrefix.length > slot.length) return -1;
  slot.set(kPrefix, 0);
  let at = kPrefix.length;
  const b = encoder.encodeInto(body, slot.subarray(at));
  if (b.read < body.length) return -1;
  at += b.written;
  const suffix = `,"duration_ns":${durationNs}}`;
  const s = encoder.encodeInto(suffix, slot.subarray(at));
  if (s.read < suffix.length) return -1;
  return at + s.written;
}

async function serve(native, fn) {
  const slots = [];
  const slotView = (i) => (slots[i] ??= new Uint8Array(native.slotBuffer(i)));
  for (;;) {
    const request = native.next();
    if (request.restored) await restored(native, fn);
    if (request.exit !== undefined) return request.exit;
    const slot = slotView(request.slot);
    let payload;
    try {
      payload = JSON.parse(decoder.decode(slot.subarray(0, request.length)));
    } catch (e) {
      if (!native.badRequest(errorName(e), errorMessage(e))) return kRingCorrupt;
      continue;
    }
    const start = process.hrtime.bigint();
    let result, failure, failed = false;
    try {
      result = fn.handle(payload);
      if (result !== null && typeof result === 'object' && typeof result.then === 'function') result = await result;
    } catch (e) {
      failed = true;
      failure = e;
    }
    const duration = Number(process.hrtime.bigint() - start);
    let body;
    if (!failed) {
      try {
        body = JSON.stringify(result === undefined ? null : result);
        if (body === undefined) body = 'null';  // a function or a symbol: as undefined
      } catch (e) {
        failed = true;
        failure = e;
      }
    }
    let ok;
    if (failed) {
      ok = native.functionError(errorName(failure), errorMessage(failure), stackOf(failure), duration);
    } else {
      const length = writeResult(slot, body, duration);
      if (length >= 0) {
        ok = native.finish(kOk, length, duration);
      } else {
        const size = kPrefix.length + Buffer.byteLength(body) + `,"duration_ns":${duration}}`.length;
        ok = native.tooLarge(size, duration);
      }
    }
    if (!ok) return kRingCorrupt;
  }
}

async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    log('error', `usage: ${e.message}`);
    return kUsage;
  }
  const native = require(options.addon);
  let opened = false;
  try {
    const futex = options.doorbell === 'futex';
    native.open({
      windowFile: options['window-file'], windowOffset: Number(options['window-offset']),
      channelRegion: options['channel-region'], futex, spinUs: Number(options['spin-us']),
      verbose: options.verbose,
    });
    opened = true;
    if (native.snapshotPoint(1)) reseed(native);  // restored from the base: a diff being built
    // Everything before this point is the runtime base snapshot, shared by all functions; the app
    // image is attached per function, so it is mounted only now.
    if (!futex && options.appfs !== '' && require('node:fs').existsSync(options.appfs)) {
      native.mountAppfs(options.appfs, options['module-dir'], 2000);
    }
    const fn = loadHandler(options['module-dir'], options.module, options.function);
    const resumedRestored = native.snapshotPoint(2);
    const resumed = process.hrtime.bigint();
    if (resumedRestored) await restored(native, fn);  // restored from the function's diff: a clone
    const reseeded = process.hrtime.bigint();
    // A restored agent serves another channel than the one it was snapshotted with: map it anew.
    native.remap();
    if (options.verbose) {
      const ms = (a, b) => (Number(b - a) / 1e6).toFixed(2);
      log('debug', `after the diff point: reseed ${ms(resumed, reseeded)} ms, remap ${ms(reseeded, process.hrtime.bigint())} ms`);
    }
    return await serve(native, fn);
  } catch (e) {
    const code = typeof e.fatal === 'number' ? e.fatal : kImport;
    log('error', e.message);
    if (opened) native.fatal(code);
    return code;
  }
}

main().then((code) => process.exit(code), (e) => {
  log('error', `agent loop: ${e && e.stack}`);
  process.exit(kRingCorrupt);
});
