"""Check that your vote is inside a paredão's certified count, trusting nothing of the server's.

    python -m tools.verify_receipt BASE_URL PAREDAO_ID VOTE_ID

With your vote_id (the receipt the vote page showed), it fetches the paredão's certificate,
the server's verifying keys and your vote's inclusion proof, then checks, with the standard
library and the `cryptography` package only:

1. the certificate's Ed25519 signature over its payload, with the key its `key_id` names;
2. that the proof's root and tree size are the certificate's;
3. the proof itself, by RFC 9162 §2.1.3.2: your vote's leaf, hashed up the audit path,
   gives that root;
4. that the leaf is your vote: this paredão and this vote_id.

It prints what it checked and exits 0, or names the check that failed and exits 1. This file
is meant to be read: copy it and run it anywhere.
"""

import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

Fetch = Callable[[str], Any]


class ReceiptFailed(Exception):
    """A check that did not pass, and which."""


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, audit_path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether `leaf` (its input, not its hash) is leaf `leaf_index` of the
    tree of `tree_size` leaves whose root is `root`."""
    if not 0 <= leaf_index < tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = _sha256(b"\x00" + leaf)
    for p in audit_path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signature_verifies(payload: str, signature: str, jwk: dict[str, str]) -> bool:
    """Whether `signature` is the Ed25519 (RFC 8037 JWK) key's signature of `payload`."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64url(jwk["x"]))
        key.verify(_b64url(signature), payload.encode())
    except (InvalidSignature, ValueError, KeyError):
        return False
    return True


def check_receipt(fetch: Fetch, paredao_id: int, vote_id: str) -> list[str]:
    """Every check of the module doc, in order; the lines saying what passed, or
    `ReceiptFailed` naming the first that did not."""
    certificate = fetch(f"/paredoes/{paredao_id}/certificate")
    keys = {k["kid"]: k for k in fetch("/certificate-keys")["keys"]}
    jwk = keys.get(certificate["key_id"])
    if jwk is None:
        raise ReceiptFailed(f"the server publishes no key {certificate['key_id']!r}")
    if not signature_verifies(certificate["payload"], certificate["signature"], jwk):
        raise ReceiptFailed("the certificate's signature does not verify")
    payload = json.loads(certificate["payload"])
    if payload.get("algorithm") != "rfc9162-sha256" or payload["paredao_id"] != paredao_id:
        raise ReceiptFailed("the certificate is not an rfc9162-sha256 one of this paredão")
    lines = [
        f"certificate signed by key {certificate['key_id']}: {payload['tree_size']} counted "
        f"votes, root {payload['root']}, outcome {payload['outcome']}"
    ]
    proof = fetch(f"/paredoes/{paredao_id}/votes/{vote_id}/proof")
    if proof["root"] != payload["root"] or proof["tree_size"] != payload["tree_size"]:
        raise ReceiptFailed("the proof is for another tree than the certificate's")
    leaf: str = proof["leaf"]
    pid, leaf_vote, nominee, mode = leaf.split(":")
    if int(pid) != paredao_id or leaf_vote != vote_id.lower():
        raise ReceiptFailed(f"the proof's leaf {leaf!r} is not this vote")
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    root = bytes.fromhex(payload["root"])
    if not verify_inclusion(proof["leaf_index"], proof["tree_size"], leaf.encode(), path, root):
        raise ReceiptFailed("the inclusion proof does not lead to the certificate's root")
    lines.append(
        f"vote {vote_id} (nominee {nominee}, {mode}) is leaf {proof['leaf_index']} of "
        f"{proof['tree_size']}: counted"
    )
    return lines


def http_fetch(base_url: str) -> Fetch:
    """GET a path of the server (http or https only) as JSON; an error is a failed check."""
    if not base_url.startswith(("http://", "https://")):
        raise ReceiptFailed(f"BASE_URL must start with http:// or https://, not {base_url!r}")

    def fetch(path: str) -> Any:
        url = base_url.rstrip("/") + path
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (http(s) only)
                return json.load(answer)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise ReceiptFailed(f"GET {path} answered {exc.code}: {body}") from None
        except urllib.error.URLError as exc:
            raise ReceiptFailed(f"cannot reach {url}: {exc.reason}") from None

    return fetch


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or not args[1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    base_url, paredao_id, vote_id = args[0], int(args[1]), args[2]
    try:
        fetch = http_fetch(base_url)
        for line in check_receipt(fetch, paredao_id, vote_id):
            print(f"ok: {line}")
    except ReceiptFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
