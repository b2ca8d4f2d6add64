// Bytes as hexadecimal and back, for the pages (receipt ids, proofs) and the captcha worker
// alike: loaded by a <script> tag on a page and by importScripts in the worker.
"use strict";

(function () {
  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function fromHex(hex) {
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
    return bytes;
  }

  self.Paredao = Object.assign(self.Paredao || {}, { toHex, fromHex });
})();
