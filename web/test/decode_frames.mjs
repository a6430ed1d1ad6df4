// Cross-check helper for stream/internal/wire/crosscheck_test.go:
//
//   node web/test/decode_frames.mjs IN.json OUT.json
//
// IN holds {"maxFrame": n, "messages": [{"hex": "…", "frames": [vector frame, …]}]}
// produced by the Go encoder. For each message this writes to OUT what the
// JS codec decoded (as vector JSON) and the hex the JS encoder produced from
// the Go side's frame objects, so the Go test can compare both ways, field by
// field. Run without arguments (as the test runner does) it does nothing.
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeMessage, encodeFrames } from '../wire.js';
import { fromHex, toHex, toNative, toVector } from './vectorjson.mjs';

const [inPath, outPath] = process.argv.slice(2);
if (inPath && outPath) {
  const input = JSON.parse(readFileSync(inPath, 'utf8'));
  const results = input.messages.map((/** @type {any} */ m) => {
    /** @type {{decoded?: any[], encoded?: string, error?: string}} */
    const r = {};
    try {
      r.decoded = decodeMessage(fromHex(m.hex), input.maxFrame).map(toVector);
    } catch (err) {
      r.error = `decode: ${err}`;
    }
    try {
      r.encoded = toHex(encodeFrames(m.frames.map(toNative)));
    } catch (err) {
      r.error = (r.error ? r.error + '; ' : '') + `encode: ${err}`;
    }
    return r;
  });
  writeFileSync(outPath, JSON.stringify({ results }));
}
