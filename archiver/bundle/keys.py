"""The key that signs bundles, and signatures as the WACZ Signing and Verification
specification writes them (its "anonymous signature": the signer's public key travels in the
bundle, and whoever checks it compares that key with one they got from the signer).

``archiver keys init`` makes one ECDSA P-256 key (the curve authsign and browsertrix sign
with), stored as PKCS#8 PEM, mode 0600, in ``data_dir/keys/``, beside its public half. A
signature is ECDSA with SHA-256 over the text of the package digest (``sha256:…``), DER,
base64, as authsign writes it; the public key is its SubjectPublicKeyInfo, base64. Checking
also takes the raw ``r‖s`` signatures WebCrypto makes (ArchiveWeb.page), any ECDSA curve and
Ed25519, so bundles signed by other tools can be checked too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import ArchiverError
from ..store import private

KEY_FOLDER = "keys"
PRIVATE_NAME = "signing-key.pem"
PUBLIC_NAME = "signing-key.pub.pem"


@dataclass(frozen=True)
class PublicKey:
    """A public key as SubjectPublicKeyInfo bytes, with the ways it is shown."""

    spki: bytes

    @property
    def fingerprint(self) -> str:
        """``SHA256:`` and the hex SHA-256 of the key: what a signer reads out to a checker."""
        return "SHA256:" + hashlib.sha256(self.spki).hexdigest()

    @property
    def base64(self) -> str:
        return base64.b64encode(self.spki).decode("ascii")

    @property
    def pem(self) -> str:
        key = serialization.load_der_public_key(self.spki)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def algorithm(self) -> str:
        key = serialization.load_der_public_key(self.spki)
        if isinstance(key, ec.EllipticCurvePublicKey):
            return f"ECDSA {key.curve.name}"
        return type(key).__name__.replace("PublicKey", "").lstrip("_") or "unknown"


def key_paths(data_dir: Path) -> tuple[Path, Path]:
    folder = data_dir / KEY_FOLDER
    return folder / PRIVATE_NAME, folder / PUBLIC_NAME


def init_key(data_dir: Path) -> PublicKey:
    """Make this archiver's signing key; refuse when there is one (it is never replaced:
    bundles signed with it would no longer check against the key people were given)."""
    private_path, public_path = key_paths(data_dir)
    if private_path.exists():
        raise ArchiverError(
            f"{private_path}: a signing key exists already (archiver keys show prints it); "
            "move it away first to make a new one"
        )
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = _public_of(key)
    try:
        private.make_dirs(private_path.parent)
        private.write_new(private_path, pem)
        public_path.unlink(missing_ok=True)
        private.write_new(public_path, public.pem.encode("ascii"))
    except FileExistsError:
        raise ArchiverError(f"{private_path}: a signing key exists already") from None
    return public


def load_private_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    path = key_paths(data_dir)[0]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArchiverError(
            f"no signing key in {path.parent}: make one with `archiver keys init`"
        ) from None
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ArchiverError(f"{path}: not an ECDSA key")
    return key


def own_public_key(data_dir: Path) -> PublicKey | None:
    """This archiver's public key, or None before ``archiver keys init``."""
    private_path, public_path = key_paths(data_dir)
    if public_path.is_file():
        return read_public_key(public_path)
    if private_path.is_file():
        return _public_of(load_private_key(data_dir))
    return None


def read_public_key(path: Path) -> PublicKey:
    """A public key from a PEM file (as ``archiver keys show`` prints it)."""
    try:
        data = path.read_bytes()[:100_000]
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ArchiverError(f"{path}: not a PEM public key ({exc})") from None
    except OSError as exc:
        raise ArchiverError(f"{path}: {exc.strerror or exc}") from None
    return PublicKey(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _public_of(key: ec.EllipticCurvePrivateKey) -> PublicKey:
    return PublicKey(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def sign_text(key: ec.EllipticCurvePrivateKey, text: str) -> tuple[str, PublicKey]:
    """The base64 DER signature of ``text`` (ECDSA, SHA-256) and the key that checks it."""
    signature = key.sign(text.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode("ascii"), _public_of(key)


def check_signature(text: str, signature: str, public_key: str) -> tuple[PublicKey | None, str]:
    """Check a base64 ``signature`` of ``text`` by the base64 SubjectPublicKeyInfo
    ``public_key``: the key, and "" when it holds, else what is wrong."""
    try:
        spki = base64.b64decode(public_key, validate=True)
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None, "the signature or public key is not base64"
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, UnsupportedAlgorithm) as exc:
        return None, f"the public key does not load ({exc})"
    public = PublicKey(spki)
    data = text.encode("utf-8")
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            for candidate in _der_forms(raw, key.curve.key_size):
                try:
                    key.verify(candidate, data, ec.ECDSA(hashes.SHA256()))
                    return public, ""
                except InvalidSignature:
                    continue
            return public, "the signature does not match the package digest"
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(raw, data)
            return public, ""
    except InvalidSignature:
        return public, "the signature does not match the package digest"
    return public, f"a {public.algorithm} key, which archiver cannot check"


def _der_forms(raw: bytes, bits: int) -> list[bytes]:
    """The signature as given (DER) and, when it has the length of a raw ``r‖s`` pair (as
    WebCrypto writes it), that pair in DER."""
    forms = [raw]
    size = (bits + 7) // 8
    if len(raw) == 2 * size:
        r, s = int.from_bytes(raw[:size], "big"), int.from_bytes(raw[size:], "big")
        forms.append(encode_dss_signature(r, s))
    return forms
