"""The pure parts of results anyone can check: RFC 9162's tree built by chunks, the
certificate's keys and signature, and the audit chain."""

from datetime import UTC, datetime

import pytest

from model.audit import GENESIS, chain_hash, first_break
from model.certificate import CertificateKeys
from model.keys import Keys
from model.merkle import ChunkedTree, chunk_path, leaf_hash, levels_of, path_of, root_of
from tests.controllers.test_certificates import mth
from tools.verify_receipt import verify_inclusion


class TestTree:
    @pytest.mark.parametrize("chunk_size", [1, 2, 4, 8])
    def test_chunks_give_rfc_9162s_root_and_paths(self, chunk_size: int) -> None:
        for n in range(0, 70):
            leaves = [f"leaf {i}".encode() for i in range(n)]
            tree = ChunkedTree(chunk_size=chunk_size)
            for first in range(0, n, chunk_size):
                tree.add_chunk(b"", leaves[first : first + chunk_size])
            assert tree.root == mth(leaves) == root_of([leaf_hash(x) for x in leaves]), n
            levels = levels_of(tree.chunk_roots)
            for i in range(n):
                c, j = divmod(i, chunk_size)
                path = chunk_path(leaves[c * chunk_size : (c + 1) * chunk_size], j, c, levels)
                assert path == path_of(i, [leaf_hash(x) for x in leaves])
                assert verify_inclusion(i, n, leaves[i], path, tree.root)
                if n > 1:
                    assert not verify_inclusion((i + 1) % n, n, leaves[i], path, tree.root)

    def test_only_the_last_chunk_may_be_short(self) -> None:
        tree = ChunkedTree(chunk_size=4)
        tree.add_chunk(b"", [b"a", b"b"])
        with pytest.raises(ValueError, match="last"):
            tree.add_chunk(b"", [b"c"])
        with pytest.raises(ValueError, match="1 to 4"):
            ChunkedTree(chunk_size=4).add_chunk(b"", [b"x"] * 5)


class TestKeys:
    def test_sign_and_verify_by_kid(self) -> None:
        keys = CertificateKeys.from_seeds(Keys.derive(b"s" * 32, [b"o" * 32]).certificate_seeds)
        assert len(keys.verifying) == 2 and next(iter(keys.verifying)) == keys.signing_kid
        jwk = keys.verifying[keys.signing_kid]
        assert (jwk["kty"], jwk["crv"], len(jwk["x"])) == ("OKP", "Ed25519", 43)
        signature = keys.sign('{"a":1}')
        assert keys.verifies('{"a":1}', signature, keys.signing_kid)
        assert not keys.verifies('{"a":2}', signature, keys.signing_kid)
        other = next(k for k in keys.verifying if k != keys.signing_kid)
        assert not keys.verifies('{"a":1}', signature, other)
        assert not keys.verifies('{"a":1}', signature, "no-such-kid")
        assert not keys.verifies('{"a":1}', "not base64!", keys.signing_kid)

    def test_the_same_secret_gives_the_same_key(self) -> None:
        one = CertificateKeys.from_seeds(Keys.derive(b"s" * 32).certificate_seeds)
        two = CertificateKeys.from_seeds(Keys.derive(b"s" * 32).certificate_seeds)
        assert one.signing_kid == two.signing_kid and one.sign("x") == two.sign("x")


class TestAuditChain:
    def chain(self, n: int) -> list[dict[str, object]]:
        entries, prev = [], GENESIS
        for seq in range(1, n + 1):
            entry: dict[str, object] = {
                "seq": seq,
                "at": datetime(2026, 11, 21, 22, seq, tzinfo=UTC),
                "actor": "admin:0123456789abcdef",
                "action": "paredao.open",
                "target": f"paredao:{seq}",
                "request_id": None,
            }
            entry["prev_hash"], entry["hash"] = prev, chain_hash(prev, entry)
            prev = str(entry["hash"])
            entries.append(entry)
        return entries

    def test_a_whole_chain_verifies(self) -> None:
        assert first_break(self.chain(5)) is None

    def test_a_changed_removed_or_relinked_entry_is_named(self) -> None:
        changed = self.chain(5)
        changed[2]["target"] = "paredao:99"
        assert first_break(changed) == (3, "its hash does not match its contents")
        removed = self.chain(5)
        del removed[1]
        broken = first_break(removed)
        assert broken is not None and broken[0] == 3 and "missing" in broken[1]
        relinked = self.chain(5)
        relinked[3]["prev_hash"] = GENESIS
        assert first_break(relinked) == (4, "its prev_hash is not the previous entry's hash")


class TestReceiptCommandLine:
    def test_it_says_how_to_call_it_and_what_failed(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from tools.verify_receipt import main

        assert main(["http://127.0.0.1:9"]) == 2
        assert (
            "python -m tools.verify_receipt BASE_URL PAREDAO_ID VOTE_ID" in capsys.readouterr().err
        )
        assert main(["file:///etc/passwd", "1", "x"]) == 1
        assert "must start with http" in capsys.readouterr().err
        assert main(["http://127.0.0.1:9", "1", "x"]) == 1  # nothing listens on port 9
        assert (
            "FAILED: cannot reach http://127.0.0.1:9/paredoes/1/certificate"
            in capsys.readouterr().err
        )
