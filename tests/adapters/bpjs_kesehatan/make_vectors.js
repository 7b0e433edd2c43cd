// Generates the cross-check vectors in tests/fixtures/bpjs_kesehatan/ with the reference implementations:
// lz-string 1.5.0 (JavaScript, the library BPJS's clients use) and Node's own crypto. Run once, from this folder:
//   (cd /tmp && npm install lz-string@1.5.0) && NODE_PATH=/tmp/node_modules node make_vectors.js
// The Python halves (the adapter's decompressor and decryption, the mock's compressor and encryption) are
// tested against what this writes; nothing in the test suite runs Node.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const LZString = require("lz-string");

const FIXTURES = path.join(__dirname, "..", "..", "fixtures", "bpjs_kesehatan");

// A deterministic text that walks many code points (ASCII, Latin-1, other BMP), to grow the dictionary far.
function varied(length) {
  let seed = 12345;
  let out = "";
  const ranges = [[0x20, 0x7e], [0xa0, 0xff], [0x100, 0x17f], [0x3040, 0x309f], [0x0e00, 0x0e5b]];
  for (let i = 0; i < length; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const [lo, hi] = ranges[seed % ranges.length];
    out += String.fromCharCode(lo + (Math.floor(seed / 7) % (hi - lo + 1)));
  }
  return out;
}

const texts = [
  ["ascii", "Hello, world! Cek kepesertaan BPJS."],
  ["single-char", "a"],
  ["empty", ""],
  ["json", JSON.stringify({metaData: {code: "200", message: "OK"}, peserta: {nama: "BUDI", noKartu: "0001234567890"}})],
  ["indonesian", "Peserta AKTIF, hak kelas III \u2014 Puskesmas Cibeunying; biaya Rp\u00a0150.000,00; caf\u00e9 \u00e0 la Garut"],
  ["kwkwk", "a".repeat(40)],
  ["long-repetitive", "{\"kode\":\"0\",\"keterangan\":\"AKTIF\"},".repeat(300)],
  ["bmp-scripts", "\u65e5\u672c\u8a9e\u30c6\u30ad\u30b9\u30c8 \u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"],
  ["non-bmp", "emoji \ud83d\ude00\ud83c\udf89 and music \ud834\udd1e, twice \ud83d\ude00\ud83c\udf89"],
  ["long-varied", varied(5000)],
];

const vectors = texts.map(([name, text]) => ({name, text, compressed: LZString.compressToEncodedURIComponent(text)}));
for (const v of vectors) {
  if (LZString.decompressFromEncodedURIComponent(v.compressed) !== v.text) throw new Error("round trip failed: " + v.name);
}
fs.writeFileSync(path.join(FIXTURES, "lzstring_vectors.json"), JSON.stringify({
  generator: "lz-string " + require("lz-string/package.json").version + " compressToEncodedURIComponent (Node " + process.version + ")",
  vectors,
}, null, 1) + "\n");

// Replies as BPJS sends them, for the check-vector credentials of docs/agencies.md.
const CONS_ID = "1234", SECRET = "pwd", TIMESTAMP = "433223232";
const key = crypto.createHash("sha256").update(CONS_ID + SECRET + TIMESTAMP).digest();
function encrypt(plain) {
  const cipher = crypto.createCipheriv("aes-256-cbc", key, key.subarray(0, 16));
  return Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]).toString("base64");
}
for (const name of ["peserta_active", "peserta_deceased", "peserta_cob", "peserta_lapsed"]) {
  const document = JSON.parse(fs.readFileSync(path.join(FIXTURES, name + ".json"), "utf8"));
  const envelope = {
    metaData: {code: "200", message: "OK"},
    response: encrypt(LZString.compressToEncodedURIComponent(JSON.stringify(document))),
  };
  fs.writeFileSync(path.join(FIXTURES, "envelope_" + name + ".json"), JSON.stringify(envelope) + "\n");
}
