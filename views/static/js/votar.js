// The vote page: the voter's and the vote's ids, the CPF mask and check digits, the vote sent
// as JSON to the API with its captcha token (captcha.js) and its errors in Portuguese, then the
// confirmation (votar-confirmacao.js). Without these scripts the form still posts to
// /paredoes/{id}/votar.
"use strict";

(function () {
  const VOTER_KEY = "paredao.voter_id";

  // --- ids --------------------------------------------------------------------------------

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
    return format(window.Paredao.toHex(bytes));
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

  // --- voting: the captcha and the confirmation --------------------------------------------

  const captcha = window.Paredao.voteCaptcha({
    paredaoId,
    required: requireCaptcha,
    box: document.getElementById("captcha"),
    status: document.getElementById("captcha-status"),
    progress: document.getElementById("captcha-progress"),
    messages,
  });
  captcha.restart();
  const confirmed = window.Paredao.voteConfirmation({
    paredaoId,
    showPartial,
    messages,
    errorMessage,
    confirmation,
    form,
    errorBox,
  });

  // --- sending the vote ---------------------------------------------------------------------

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
        body.captcha_token = await captcha.token();
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
        await confirmed.show(chosen.dataset.name, mode, accepted);
        if (accepted.status === "queued") confirmed.followQueued(accepted.vote_id);
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
      if (spentCaptcha && confirmation.hidden) captcha.restart();
    }
  });

  document.getElementById("vote-again").addEventListener("click", () => {
    confirmation.hidden = true;
    form.hidden = false;
    voteIdInput.value = uuidv7();
    if (selectedMode() === "unico") cpfInput.value = "";
    captcha.restart();
    const checked = form.querySelector('input[name="nominee_id"]:checked');
    (checked || button).focus();
  });
})();
