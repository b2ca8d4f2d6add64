"""What the outside sees of certificates, inclusion proofs and the audit log."""

from datetime import datetime

from pydantic import BaseModel, Field

from model.audit import AuditEntry

HEX_HASH = r"^[0-9a-f]{64}$"


class CertificatePublic(BaseModel):
    payload: str = Field(
        description="The signed JSON text: paredao_id, closed_at, tree_size, root, algorithm, "
        "totals and outcome. Verify the signature over its UTF-8 bytes, then parse it."
    )
    signature: str = Field(description="Ed25519 signature of the payload, base64url unpadded.")
    key_id: str = Field(description="The `kid` of the verifying key in GET /certificate-keys.")


class JWKPublic(BaseModel):
    kty: str = Field(examples=["OKP"])
    crv: str = Field(examples=["Ed25519"])
    kid: str
    x: str = Field(description="The public key, base64url unpadded (RFC 8037).")


class JWKSetPublic(BaseModel):
    keys: list[JWKPublic]


class ProofPublic(BaseModel):
    leaf_index: int = Field(description="The vote's place among the counted votes, from 0.")
    tree_size: int
    leaf: str = Field(description='The leaf input: "{paredao_id}:{vote_id}:{nominee_id}:{mode}".')
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3.1 audit path, leaf first (hex).")
    root: str = Field(pattern=HEX_HASH)


class AuditItemPublic(BaseModel):
    seq: int
    at: datetime
    actor: str = Field(description="`admin:` or `session:` and a fingerprint, never a secret.")
    action: str = Field(examples=["paredao.close"])
    target: str = Field(examples=["paredao:12"])
    request_id: str | None
    prev_hash: str = Field(pattern=HEX_HASH)
    hash: str = Field(
        pattern=HEX_HASH,
        description='SHA-256(prev_hash + "\\n" + the item without hash and prev_hash as JSON, '
        "sorted keys, separators , and :, non-ASCII kept), in hex.",
    )

    @classmethod
    def build(cls, entry: AuditEntry) -> "AuditItemPublic":
        return cls.model_validate(entry.model_dump())


class AuditPublic(BaseModel):
    items: list[AuditItemPublic]
    total: int
    limit: int
    offset: int
