// gzip-js: compresses text with zlib (gzip, deflate or brotli) and checks the round trip.
//
// Request:  {"text": "...", "repeat": 1, "format": "gzip"|"deflate"|"brotli", "level": 6}
// Response: {"format", "input_bytes", "compressed_bytes", "ratio", "sha256" (of the input),
//            "base64" (the compressed bytes, only when at most 4 KiB), "round_trip": true}
// The compression runs on libuv's thread pool (zlib's async API, awaited); the round trip
// decompresses synchronously and compares.
'use strict';

const crypto = require('node:crypto');
const util = require('node:util');
const zlib = require('node:zlib');

const formats = {
  gzip: { compress: util.promisify(zlib.gzip), decompress: zlib.gunzipSync, level: zlib.constants.Z_DEFAULT_COMPRESSION },
  deflate: { compress: util.promisify(zlib.deflate), decompress: zlib.inflateSync, level: zlib.constants.Z_DEFAULT_COMPRESSION },
  brotli: { compress: util.promisify(zlib.brotliCompress), decompress: zlib.brotliDecompressSync },
};

module.exports.handle = async (request) => {
  const text = typeof request.text === 'string' ? request.text : JSON.stringify(request);
  const repeat = Number.isInteger(request.repeat) && request.repeat > 0 ? Math.min(request.repeat, 10000) : 1;
  const format = formats[request.format ?? 'gzip'];
  if (!format) throw new RangeError(`unknown format '${request.format}' (gzip, deflate, brotli)`);
  const input = Buffer.from(text.repeat(repeat), 'utf8');
  const options = {};
  if (Number.isInteger(request.level)) {
    if (format === formats.brotli) options.params = { [zlib.constants.BROTLI_PARAM_QUALITY]: request.level };
    else options.level = request.level;
  }
  const compressed = await format.compress(input, options);
  const round_trip = format.decompress(compressed).equals(input);
  return {
    format: request.format ?? 'gzip',
    input_bytes: input.length,
    compressed_bytes: compressed.length,
    ratio: input.length === 0 ? 0 : Number((compressed.length / input.length).toFixed(4)),
    sha256: crypto.createHash('sha256').update(input).digest('hex'),
    ...(compressed.length <= 4096 ? { base64: compressed.toString('base64') } : {}),
    round_trip,
  };
};
