// The vote page's proof-of-work captcha: a challenge from the API solved in a Web Worker
// (captcha-worker.js), its progress in the captcha box, and a fresh one solved before an unused
// token expires. The token is the base64 JSON the API's captcha check reads.
"use strict";

(function () {
  /**
   * The captcha of one vote page. `required` says whether the paredão asks for it; `box`,
   * `status` and `progress` are the captcha box and its line and bar; `messages` the page's
   * Portuguese messages. `restart()` starts a fresh challenge (one per vote); `token()` waits
   * for the current one and, when it failed, tries a fresh one once.
   */
  function voteCaptcha({ paredaoId, required, box, status, progress, messages }) {
    let current = null; // the promise of a captcha token, one per vote
    let refresh = null; // the timer that replaces an unused token before it expires

    function show(state, text, percent) {
      box.dataset.state = state;
      status.textContent = text;
      if (percent !== undefined) progress.value = percent;
    }

    function solveInWorker(challenge) {
      return new Promise((resolve, reject) => {
        const worker = new Worker("/static/js/captcha-worker.js");
        worker.onmessage = (event) => {
          const message = event.data;
          if (message.type === "progress") {
            const percent = Math.min(99, Math.floor((100 * message.tried) / message.total));
            show("solving", `Verificação anti-robô: calculando… ${percent}%`, percent);
            return;
          }
          worker.terminate();
          if (message.type === "solved") resolve(message.number);
          else reject(new Error(message.message));
        };
        worker.onerror = (event) => {
          worker.terminate();
          reject(new Error(event.message || "falha no worker"));
        };
        worker.postMessage(challenge);
      });
    }

    async function solve() {
      const c = await window.Paredao.fetchJSON(
        `/captcha/challenge?paredao_id=${encodeURIComponent(paredaoId)}`,
      ).catch((error) => {
        throw error.status ? new Error(`desafio indisponível (HTTP ${error.status})`) : error;
      });
      const number = await solveInWorker(c);
      // A challenge is short-lived: solve a fresh one before this one expires unused.
      clearTimeout(refresh);
      refresh = setTimeout(restart, Math.max(5, (c.expires_in_s || 120) - 20) * 1000);
      return btoa(
        JSON.stringify({
          algorithm: c.algorithm,
          challenge: c.challenge,
          number,
          salt: c.salt,
          signature: c.signature,
        }),
      );
    }

    /** Start solving a fresh challenge; the vote waits for it if it is not done yet. */
    function start() {
      if (!required) return null;
      if (!window.Worker || !window.crypto || !crypto.subtle) {
        show("error", messages.captcha_unsupported, 0);
        return Promise.reject(new Error("unsupported"));
      }
      show("solving", "Verificação anti-robô: calculando… 0%", 0);
      const promise = solve();
      promise.then(
        () => show("done", "Verificação anti-robô concluída ✓", 100),
        (error) =>
          show("error", `Verificação anti-robô falhou (${error.message}). Toque em Votar para tentar de novo.`, 0),
      );
      return promise;
    }

    function restart() {
      current = start();
      if (current) current.catch(() => {}); // shown in the captcha box; the vote retries
    }

    async function token() {
      try {
        return await current;
      } catch (error) {
        current = start(); // a failed or unsupported check is tried again
        return current;
      }
    }

    return { restart, token };
  }

  window.Paredao.voteCaptcha = voteCaptcha;
})();
