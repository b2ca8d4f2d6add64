// The vote page: CPF mask and check digits, the proof-of-work captcha in a Web Worker, the
// vote sent as JSON to the API, its errors in Portuguese, and the confirmation with the
// partial results. Without this script the form still posts to /paredoes/{id}/votar.
"use strict";

(function () {
  const VOTER_KEY = "paredao.voter_id";

  // --- ids --------------------------------------------------------------------------------

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function format(h) {
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits; time-ordered. */
  function uuidv7() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    let ms = Date.now();
    for (let i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x70; // version 7
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // variant 10
    return format(hex(bytes));
  }

  /** This browser's voter id, kept in localStorage (the torcida limit counts per voter). */
  let memoryVoterId = null;
  function voterId() {
    try {
      let id = window.localStorage.getItem(VOTER_KEY);
      if (!id) {
        id = uuidv7();
        window.localStorage.setItem(VOTER_KEY, id);
      }
      return id;
    } catch (error) {
      // Storage refused (private mode, blocked cookies): one id for as long as the page lives.
      memoryVoterId = memoryVoterId || uuidv7();
      return memoryVoterId;
    }
  }

  // --- CPF --------------------------------------------------------------------------------

  function cpfDigits(text) {
    return text.replace(/\D/g, "").slice(0, 11);
  }

  /** 000.000.000-00, as far as the digits go. */
  function maskCpf(digits) {
    let out = digits.slice(0, 3);
    if (digits.length > 3) out += "." + digits.slice(3, 6);
    if (digits.length > 6) out += "." + digits.slice(6, 9);
    if (digits.length > 9) out += "-" + digits.slice(9, 11);
    return out;
  }

  function checkDigit(digits) {
    let sum = 0;
    for (let i = 0; i < digits.length; i++) sum += Number(digits[i]) * (digits.length + 1 - i);
    const rest = (sum * 10) % 11;
    return rest === 10 ? 0 : rest;
  }

  /** The same rule as the server (model/cpf.py): 11 digits, not all equal, check digits. */
  function cpfValid(digits) {
    if (!/^\d{11}$/.test(digits) || /^(\d)\1{10}$/.test(digits)) return false;
    return (
      checkDigit(digits.slice(0, 9)) === Number(digits[9]) &&
      checkDigit(digits.slice(0, 10)) === Number(digits[10])
    );
  }

  // --- the page ---------------------------------------------------------------------------

  const root = document.getElementById("votacao");
  const form = document.getElementById("vote-form");
  if (!root || !form) return;

  const paredaoId = root.dataset.paredaoId;
  const requireCaptcha = root.dataset.requireCaptcha === "true";
  const showPartial = root.dataset.showPartial === "true";
  const messages = JSON.parse(document.getElementById("vote-messages").textContent);
  const errorBox = document.getElementById("vote-error");
  const button = document.getElementById("vote-button");
  const cpfField = document.getElementById("cpf-field");
  const cpfInput = document.getElementById("cpf");
  const cpfError = document.getElementById("cpf-erro");
  const voteIdInput = document.getElementById("vote_id");
  const confirmation = document.getElementById("confirmacao");
  const captchaBox = document.getElementById("captcha");
  const captchaStatus = document.getElementById("captcha-status");
  const captchaProgress = document.getElementById("captcha-progress");

  form.noValidate = true; // this script checks the form, with messages in Portuguese
  document.getElementById("voter_id").value = voterId();
  voteIdInput.value = uuidv7();

  /** The Portuguese message of an API error, as the server words it (vote_error_message). */
  function errorMessage(code, detail, retryAfter, status) {
    let key = code;
    if (code === "voting_not_open" && typeof detail === "string") {
      for (const window of ["closed", "scheduled"]) {
        if (detail.includes(" " + window)) key = `${code}:${window}`;
      }
    }
    const message = messages[key] || messages.unknown.replace("{status}", code || status);
    return message.replace("{s}", retryAfter || "alguns");
  }

  function showError(text, focus) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    (focus || errorBox).focus();
  }

  function hideError() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    cpfError.hidden = true;
    cpfInput.removeAttribute("aria-invalid");
  }

  function selectedMode() {
    const checked = form.querySelector('input[name="mode"]:checked');
    return checked ? checked.value : "torcida";
  }

  function syncMode() {
    cpfField.hidden = selectedMode() !== "unico";
  }

  for (const radio of form.querySelectorAll('input[name="mode"]')) {
    radio.addEventListener("change", syncMode);
  }
  syncMode();

  cpfInput.addEventListener("input", () => {
    cpfInput.value = maskCpf(cpfDigits(cpfInput.value));
  });
  cpfInput.addEventListener("blur", () => {
    const digits = cpfDigits(cpfInput.value);
    if (digits.length === 11 && !cpfValid(digits)) showCpfError(messages.invalid_cpf);
    else if (cpfError.textContent === messages.invalid_cpf) cpfError.hidden = true;
  });

  function showCpfError(text) {
    cpfError.textContent = text;
    cpfError.hidden = false;
    cpfInput.setAttribute("aria-invalid", "true");
  }

  // --- the captcha ------------------------------------------------------------------------

  let captcha = null; // the promise of a captcha token, one per vote
  let captchaRefresh = null; // the timer that replaces an unused token before it expires

  function setCaptcha(state, text, percent) {
    captchaBox.dataset.state = state;
    captchaStatus.textContent = text;
    if (percent !== undefined) captchaProgress.value = percent;
  }

  function solveInWorker(challenge) {
    return new Promise((resolve, reject) => {
      const worker = new Worker("/static/js/captcha-worker.js");
      worker.onmessage = (event) => {
        const message = event.data;
        if (message.type === "progress") {
          const percent = Math.min(99, Math.floor((100 * message.tried) / message.total));
          setCaptcha("solving", `Verificação anti-robô: calculando… ${percent}%`, percent);
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

  async function solveCaptcha() {
    const response = await fetch(`/captcha/challenge?paredao_id=${encodeURIComponent(paredaoId)}`, {
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`desafio indisponível (HTTP ${response.status})`);
    const c = await response.json();
    const number = await solveInWorker(c);
    // A challenge is short-lived: solve a fresh one before this one expires unused.
    clearTimeout(captchaRefresh);
    captchaRefresh = setTimeout(() => {
      captcha = startCaptcha();
      if (captcha) captcha.catch(() => {});
    }, Math.max(5, (c.expires_in_s || 120) - 20) * 1000);
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
  function startCaptcha() {
    if (!requireCaptcha) return null;
    if (!window.Worker || !window.crypto || !crypto.subtle) {
      setCaptcha("error", messages.captcha_unsupported, 0);
      return Promise.reject(new Error("unsupported"));
    }
    setCaptcha("solving", "Verificação anti-robô: calculando… 0%", 0);
    const promise = solveCaptcha();
    promise.then(
      () => setCaptcha("done", "Verificação anti-robô concluída ✓", 100),
      (error) =>
        setCaptcha("error", `Verificação anti-robô falhou (${error.message}). Toque em Votar para tentar de novo.`, 0),
    );
    return promise;
  }

  captcha = startCaptcha();
  if (captcha) captcha.catch(() => {}); // shown in the captcha box; the vote retries

  // --- voting -----------------------------------------------------------------------------

  function busy(text) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    button.textContent = text;
  }

  function idle() {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = "Votar";
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    hideError();
    const chosen = form.querySelector('input[name="nominee_id"]:checked');
    if (!chosen) {
      showError(messages.nominee_missing, form.querySelector('input[name="nominee_id"]'));
      return;
    }
    const mode = selectedMode();
    const body = {
      nominee_id: Number(chosen.value),
      mode,
      voter_id: voterId(),
      vote_id: voteIdInput.value,
    };
    if (mode === "unico") {
      const digits = cpfDigits(cpfInput.value);
      if (!digits || !cpfValid(digits)) {
        const text = digits ? messages.invalid_cpf : messages.cpf_missing;
        showCpfError(text);
        showError(text, cpfInput);
        return;
      }
      body.cpf = maskCpf(digits);
    }

    let spentCaptcha = false;
    try {
      if (requireCaptcha) {
        busy("Aguardando a verificação anti-robô…");
        try {
          body.captcha_token = await captcha;
        } catch (error) {
          captcha = startCaptcha(); // a failed or unsupported check is tried again
          body.captcha_token = await captcha;
        }
      }
      busy("Enviando seu voto…");
      spentCaptcha = requireCaptcha;
      const response = await fetch(`/paredoes/${paredaoId}/votes`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      if (response.status === 202) {
        const accepted = await response.json();
        await showConfirmation(chosen.dataset.name, mode, accepted);
        if (accepted.status === "queued") followQueuedVote(accepted.vote_id);
        return;
      }
      let error = {};
      try {
        error = await response.json();
      } catch (parseError) {
        error = {};
      }
      showError(errorMessage(error.error, error.detail, response.headers.get("Retry-After"), response.status));
    } catch (error) {
      showError(error instanceof TypeError ? messages.network : messages.captcha_failed);
    } finally {
      idle();
      // A token sent with a refused vote may be spent: the next try gets a fresh one.
      if (spentCaptcha && confirmation.hidden) {
        captcha = startCaptcha();
        captcha.catch(() => {});
      }
    }
  });

  // --- the confirmation -------------------------------------------------------------------

  function percentText(value) {
    if (value === null || value === undefined) return "–";
    return value.toLocaleString("pt-BR", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + "%";
  }

  // On the Kafka path a 202 means the vote is in the queue: follow it until it is decided.
  async function followQueuedVote(voteId) {
    const line = confirmation.querySelector("[data-vote-status]");
    line.hidden = false;
    line.textContent = messages.queued;
    for (let attempt = 0; attempt < 60 && !confirmation.hidden; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, attempt < 10 ? 500 : 2000));
      try {
        const response = await fetch(`/paredoes/${paredaoId}/votes/${voteId}`, {
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (!response.ok) continue;
        const vote = await response.json();
        if (vote.status === "counted") {
          line.textContent = messages.counted;
          return;
        }
        if (vote.status === "refused") {
          const reason = errorMessage(vote.reason, vote.detail, null, 409);
          line.textContent = messages.refused.replace("{reason}", reason);
          line.classList.add("notice--error");
          return;
        }
      } catch (error) {
        // a failed look is tried again
      }
    }
    line.textContent = messages.still_queued;
  }

  // A partial computed before the vote was accepted cannot include it: NGINX micro-caches the
  // results for ~1 s (and may answer the previous entry once more while it refreshes), the API
  // for about as long. Such a partial is read again after the cache window; if none newer comes,
  // the page says the vote is in the next partial instead of presenting it as counted there.
  const PARTIAL_RETRY_MS = 1100;
  const PARTIAL_RETRIES = 6;
  let confirmationShown = 0; // which confirmation a pending read belongs to

  async function readResults() {
    const response = await fetch(`/paredoes/${paredaoId}/results`, {
      headers: { Accept: "application/json" },
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  function includesVote(results, acceptedAt) {
    return Date.parse(results.as_of) > Date.parse(acceptedAt);
  }

  async function showConfirmation(name, mode, accepted) {
    const shown = ++confirmationShown;
    const current = () => shown === confirmationShown && !confirmation.hidden;
    form.hidden = true;
    errorBox.hidden = true;
    confirmation.hidden = false;
    // The vote_id is the voter's receipt: with it, the vote is checked against the certificate.
    const receipt = confirmation.querySelector("[data-receipt]");
    receipt.querySelector("[data-receipt-id]").textContent = accepted.vote_id;
    receipt.querySelector("[data-receipt-link]").href =
      `/paredoes/${paredaoId}/verificar?voto=${encodeURIComponent(accepted.vote_id)}`;
    receipt.hidden = false;
    const taken = accepted.status === "queued" ? "recebido" : "registrado";
    confirmation.querySelector("[data-vote-status]").hidden = true;
    confirmation.querySelector("[data-confirmation-title]").textContent = `Seu voto para ${name} foi ${taken}`;
    confirmation.querySelector("[data-confirmation-mode]").textContent =
      mode === "unico" ? "Voto único registrado." : "Voto da torcida registrado.";
    confirmation.focus();
    const partial = confirmation.querySelector("[data-partial-results]");
    const hiddenNote = confirmation.querySelector("[data-results-hidden]");
    const list = confirmation.querySelector("[data-results]");
    const asOf = confirmation.querySelector("[data-results-as-of]");
    list.replaceChildren();
    asOf.textContent = "Carregando a parcial…";
    partial.hidden = !showPartial;
    hiddenNote.hidden = showPartial;
    if (!showPartial) return;
    try {
      let results = await readResults();
      for (let attempt = 0; attempt < PARTIAL_RETRIES && !includesVote(results, accepted.accepted_at); attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, PARTIAL_RETRY_MS));
        if (!current()) return;
        results = await readResults();
      }
      if (!current()) return;
      const hidden = results.nominees.every((n) => n.percent.final === null);
      if (hidden && results.status === "open" && results.total_votes > 0) {
        partial.hidden = true;
        hiddenNote.hidden = false;
        return;
      }
      const template = document.getElementById("bar-template");
      results.nominees.forEach((nominee, i) => {
        const item = template.content.firstElementChild.cloneNode(true);
        const value = nominee.percent.final;
        item.dataset.candidateId = nominee.candidate_id;
        item.querySelector(".bars__name").textContent = nominee.name;
        const valueEl = item.querySelector(".bars__value");
        valueEl.textContent = percentText(value);
        valueEl.dataset.percent = value === null ? "" : String(value);
        const fill = item.querySelector(".bars__fill");
        fill.setAttribute("width", String(value || 0));
        fill.classList.add(`bars__fill--c${i % 4}`);
        list.append(item);
      });
      const count = results.total_votes;
      const votes = `${count.toLocaleString("pt-BR")} ${count === 1 ? "voto" : "votos"}`;
      const time = new Date(results.as_of).toLocaleTimeString("pt-BR", { timeZone: "America/Sao_Paulo" });
      asOf.textContent = includesVote(results, accepted.accepted_at)
        ? `Parcial das ${time}, com ${votes}.`
        : `Parcial das ${time}, com ${votes}, anterior ao seu voto: ele entra na próxima parcial.`;
    } catch (error) {
      if (current()) asOf.textContent = "Não foi possível carregar a parcial agora; seu voto está registrado.";
    }
  }

  document.getElementById("vote-again").addEventListener("click", () => {
    confirmation.hidden = true;
    form.hidden = false;
    voteIdInput.value = uuidv7();
    if (selectedMode() === "unico") cpfInput.value = "";
    captcha = startCaptcha();
    if (captcha) captcha.catch(() => {});
    const checked = form.querySelector('input[name="nominee_id"]:checked');
    (checked || button).focus();
  });
})();
