// The production dashboard: refreshes its numbers every few seconds from a JSON endpoint
// under /producao (the session cookie authenticates it). When a refresh fails, the last
// numbers stay on screen with their age, and the failure is said plainly.
"use strict";

(function () {
  const root = document.getElementById("painel");
  if (!root) return;
  const paredaoId = root.dataset.paredaoId;
  const period = Math.max(1, Number(root.dataset.refreshSeconds) || 5) * 1000;
  const line = document.getElementById("atualizacao");
  const asOfText = line.querySelector("[data-as-of-text]");
  const ageText = line.querySelector("[data-age]");
  let asOf = Date.parse(root.dataset.asOf);
  let failure = null; // why the last refresh failed, or null

  function age() {
    const seconds = Math.max(0, Math.round((window.Paredao.serverNow() - asOf) / 1000));
    return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  }

  function showAge() {
    asOfText.textContent = window.Paredao.brasiliaTime(asOf);
    asOfText.setAttribute("datetime", new Date(asOf).toISOString());
    if (failure) {
      line.dataset.refreshState = "stale";
      ageText.textContent = `(há ${age()}). Falha ao atualizar: ${failure}. Tentando de novo…`;
    } else {
      line.dataset.refreshState = "ok";
      ageText.textContent = `(há ${age()}), atualizados a cada ${period / 1000} s.`;
    }
  }

  function apply(numbers) {
    root.querySelector("[data-total-votes]").textContent = numbers.total_votes_text;
    const status = root.querySelector("[data-status]");
    status.textContent = numbers.status_label;
    status.className = `status status--${numbers.status}`;
    for (const nominee of numbers.nominees) {
      const row = root.querySelector(`tr[data-candidate-id="${nominee.candidate_id}"]`);
      if (!row) continue;
      for (const [key, text] of Object.entries(nominee.text)) {
        const cell = row.querySelector(`[data-cell="${key}"]`);
        if (!cell) continue;
        const target = cell.querySelector("strong") || cell;
        if (target.textContent !== text) target.textContent = text;
      }
    }
    root.querySelector("[data-chart]").innerHTML = numbers.chart_svg; // rendered by our server
    asOf = Date.parse(numbers.as_of);
    root.dataset.asOf = numbers.as_of;
  }

  async function refresh() {
    try {
      const response = await fetch(`/producao/paredoes/${paredaoId}/dados`, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (response.status === 401) {
        failure = "a sessão expirou; entre de novo em /producao/login";
      } else if (!response.ok) {
        failure = `o servidor respondeu ${response.status}`;
      } else {
        apply(await response.json());
        failure = null;
      }
    } catch (error) {
      failure = "sem conexão com o servidor";
    }
    showAge();
  }

  showAge();
  setInterval(showAge, 1000);
  setInterval(refresh, period);
})();
