// The vote page's confirmation: the receipt, the partial results read again until they include
// the vote (or said to come before it), and, on the Kafka path, the queued vote followed until
// it is counted or refused.
"use strict";

(function () {
  // A partial computed before the vote was accepted cannot include it: NGINX micro-caches the
  // results for ~1 s (and may answer the previous entry once more while it refreshes), the API
  // for about as long. Such a partial is read again after the cache window; if none newer comes,
  // the page says the vote is in the next partial instead of presenting it as counted there.
  const PARTIAL_RETRY_MS = 1100;
  const PARTIAL_RETRIES = 6;

  function percentText(value) {
    if (value === null || value === undefined) return "–";
    return value.toLocaleString("pt-BR", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + "%";
  }

  function includesVote(results, acceptedAt) {
    return Date.parse(results.as_of) > Date.parse(acceptedAt);
  }

  function pause(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /**
   * The confirmation of one vote page. `confirmation` is its section, shown in place of `form`;
   * `errorMessage(code, detail, retryAfter, status)` words a refusal as the vote form does.
   * `show(name, mode, accepted)` presents an accepted vote; `followQueued(voteId)` follows one
   * the Kafka path queued.
   */
  function voteConfirmation({ paredaoId, showPartial, messages, errorMessage, confirmation, form, errorBox }) {
    let shownCount = 0; // which confirmation a pending read belongs to

    function readResults() {
      return window.Paredao.fetchJSON(`/paredoes/${paredaoId}/results`);
    }

    // On the Kafka path a 202 means the vote is in the queue: follow it until it is decided.
    async function followQueued(voteId) {
      const line = confirmation.querySelector("[data-vote-status]");
      line.hidden = false;
      line.textContent = messages.queued;
      for (let attempt = 0; attempt < 60 && !confirmation.hidden; attempt += 1) {
        await pause(attempt < 10 ? 500 : 2000);
        try {
          const vote = await window.Paredao.fetchJSON(`/paredoes/${paredaoId}/votes/${voteId}`);
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

    function showBars(list, nominees) {
      const template = document.getElementById("bar-template");
      nominees.forEach((nominee, i) => {
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
    }

    function showReceipt(voteId) {
      // The vote_id is the voter's receipt: with it, the vote is checked against the certificate.
      const receipt = confirmation.querySelector("[data-receipt]");
      receipt.querySelector("[data-receipt-id]").textContent = voteId;
      receipt.querySelector("[data-receipt-link]").href =
        `/paredoes/${paredaoId}/verificar?voto=${encodeURIComponent(voteId)}`;
      receipt.hidden = false;
    }

    async function show(name, mode, accepted) {
      const shown = ++shownCount;
      const current = () => shown === shownCount && !confirmation.hidden;
      form.hidden = true;
      errorBox.hidden = true;
      confirmation.hidden = false;
      showReceipt(accepted.vote_id);
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
          await pause(PARTIAL_RETRY_MS);
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
        showBars(list, results.nominees);
        const count = results.total_votes;
        const votes = `${count.toLocaleString("pt-BR")} ${count === 1 ? "voto" : "votos"}`;
        const time = window.Paredao.brasiliaTime(Date.parse(results.as_of));
        asOf.textContent = includesVote(results, accepted.accepted_at)
          ? `Parcial das ${time}, com ${votes}.`
          : `Parcial das ${time}, com ${votes}, anterior ao seu voto: ele entra na próxima parcial.`;
      } catch (error) {
        if (current()) asOf.textContent = "Não foi possível carregar a parcial agora; seu voto está registrado.";
      }
    }

    return { show, followQueued };
  }

  window.Paredao.voteConfirmation = voteConfirmation;
})();
