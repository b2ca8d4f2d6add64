// The proof-of-work captcha, solved off the page's thread: find n in [0, maxnumber] with
// hex(SHA-256(salt + n)) == challenge. Reports progress; answers {type: "solved", number}.
"use strict";

const BATCH = 500; // digests in flight at once: crypto.subtle is asynchronous
const REPORT_EVERY = 2000;

importScripts("bytes.js"); // Paredao.fromHex

function equal(buffer, expected) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length !== expected.length) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== expected[i]) return false;
  return true;
}

self.onmessage = async (event) => {
  const { algorithm, challenge, salt, maxnumber } = event.data;
  if (algorithm !== "SHA-256" || !/^[0-9a-f]{64}$/.test(challenge)) {
    self.postMessage({ type: "error", message: `desafio inesperado (${algorithm})` });
    return;
  }
  const expected = self.Paredao.fromHex(challenge);
  const encoder = new TextEncoder();
  let reported = 0;
  for (let start = 0; start <= maxnumber; start += BATCH) {
    const end = Math.min(start + BATCH - 1, maxnumber);
    const digests = [];
    for (let n = start; n <= end; n++) {
      digests.push(crypto.subtle.digest("SHA-256", encoder.encode(salt + String(n))));
    }
    const results = await Promise.all(digests);
    for (let i = 0; i < results.length; i++) {
      if (equal(results[i], expected)) {
        self.postMessage({ type: "solved", number: start + i });
        return;
      }
    }
    if (end + 1 - reported >= REPORT_EVERY) {
      reported = end + 1;
      self.postMessage({ type: "progress", tried: end + 1, total: maxnumber + 1 });
    }
  }
  self.postMessage({ type: "error", message: "nenhuma solução encontrada" });
};
