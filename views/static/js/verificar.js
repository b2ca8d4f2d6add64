// Verifying a vote's receipt in the browser, as tools/verify_receipt.py does, with WebCrypto
// only: the certificate's Ed25519 signature with the published key, then the vote's RFC 9162
// inclusion proof (§2.1.3.2) up to the certificate's root. Nothing here trusts the server's
// word: every check is computed on this page.
"use strict";

(function () {
  const page = document.getElementById("verificacao");
  if (!page) return;
  const paredaoId = Number(page.dataset.paredaoId);
  const form = document.getElementById("verificar-form");
  const input = document.getElementById("voto");
  const steps = document.getElementById("verificacao-passos");
  const { fromHex, toHex } = window.Paredao; // bytes.js

  function say(text, ok) {
    const item = document.createElement("li");
    item.textContent = (ok === true ? "✓ " : ok === false ? "✗ " : "") + text;
    item.className = ok === false ? "alert alert--error" : ok === true ? "alert alert--ok" : "notice";
    item.dataset.check = ok === true ? "ok" : ok === false ? "failed" : "info";
    steps.appendChild(item);
  }

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  }

  async function sha256(...parts) {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.length;
    }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  }

  // RFC 9162 §2.1.3.2, step by step.
  async function verifyInclusion(leafIndex, treeSize, leaf, path, root) {
    if (!(leafIndex >= 0 && leafIndex < treeSize)) return false;
    let fn = leafIndex;
    let sn = treeSize - 1;
    let r = await sha256(new Uint8Array([0]), leaf);
    for (const p of path) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(new Uint8Array([1]), p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await sha256(new Uint8Array([1]), r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && toHex(r) === toHex(root);
  }

  // true, false, or null when this browser has no Ed25519 in WebCrypto.
  async function signatureVerifies(payload, signature, jwk) {
    let key;
    try {
      key = await crypto.subtle.importKey(
        "jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      return null;
    }
    return crypto.subtle.verify(
      { name: "Ed25519" }, key, fromBase64url(signature), new TextEncoder().encode(payload));
  }

  async function getJSON(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    return { status: response.status, body: await response.json() };
  }

  async function check(voteId) {
    steps.replaceChildren();
    if (!window.crypto || !crypto.subtle) {
      say("Este navegador não oferece WebCrypto (a página precisa de HTTPS): use o verificador em Python.", false);
      return;
    }
    const certificate = await getJSON(`/paredoes/${paredaoId}/certificate`);
    if (certificate.status === 409) {
      say("A verificação fica disponível quando a votação for encerrada e o resultado congelado.");
      return;
    }
    if (certificate.status !== 200) {
      say(`O certificado não pôde ser lido agora (${certificate.status}). Tente de novo.`, false);
      return;
    }
    const { payload, signature, key_id: keyId } = certificate.body;
    const keys = (await getJSON("/certificate-keys")).body.keys;
    const jwk = keys.find((k) => k.kid === keyId);
    if (!jwk) {
      say(`O servidor não publica a chave ${keyId} que assinou o certificado.`, false);
      return;
    }
    const signed = await signatureVerifies(payload, signature, jwk);
    if (signed === null) {
      say("Este navegador não verifica Ed25519: a assinatura não foi conferida aqui (use o verificador em Python).");
    } else if (!signed) {
      say("A assinatura do certificado NÃO confere.", false);
      return;
    } else {
      say(`Assinatura do certificado conferida (chave ${keyId}).`, true);
    }
    const stated = JSON.parse(payload);
    const counted = stated.tree_size === 1 ? "1 voto contado" : `${stated.tree_size} votos contados`;
    say(`O certificado resume ${counted} na raiz ${stated.root}.`);
    const proof = await getJSON(`/paredoes/${paredaoId}/votes/${encodeURIComponent(voteId)}/proof`);
    if (proof.status === 404) {
      say("Este voto não está entre os votos contados (comprovante desconhecido ou voto recusado).", false);
      return;
    }
    if (proof.status !== 200) {
      say(`A prova não pôde ser lida (${proof.status}): ${proof.body.detail || ""}`, false);
      return;
    }
    const p = proof.body;
    const [leafParedao, leafVote] = p.leaf.split(":");
    if (Number(leafParedao) !== paredaoId || leafVote !== voteId.toLowerCase()) {
      say("A prova recebida é de outro voto.", false);
      return;
    }
    if (p.root !== stated.root || p.tree_size !== stated.tree_size) {
      say("A prova é de outra árvore que a do certificado.", false);
      return;
    }
    const included = await verifyInclusion(
      p.leaf_index, p.tree_size, new TextEncoder().encode(p.leaf),
      p.audit_path.map(fromHex), fromHex(stated.root));
    if (included) {
      say(`Seu voto (${p.leaf}) é o ${p.leaf_index + 1}º de ${counted}: foi contado.`, true);
    } else {
      say("A prova de inclusão NÃO leva à raiz do certificado.", false);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const voteId = input.value.trim();
    history.replaceState(null, "", `?voto=${encodeURIComponent(voteId)}`);
    check(voteId).catch(() => say("A verificação falhou por um erro de rede. Tente de novo.", false));
  });
  if (input.value.trim()) {
    check(input.value.trim()).catch(() => say("A verificação falhou por um erro de rede. Tente de novo.", false));
  }
})();
