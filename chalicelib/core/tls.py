"""A cluster's credentials, kept in one secret: its own CA, one certificate for its
nodes (scheduler and workers: server and client auth), one for clients (the owner, the
notebook: client auth only, so peers refuse it from anything that listens, such as a
fake scheduler), and the Jupyter token.

The CA's private key is discarded once both certificates are signed: nobody, Daskyard
included, can mint another certificate for the cluster. Certificates name no IP (a
task's address is known only once it runs); like distributed's own temporary
certificates they carry the name `dask-internal`, and distributed turns hostname checks
off: the cluster's own CA is what is checked, in both directions."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

# Keys of the secret's JSON; ECS `secrets` name them after the ARN (`...:node_cert::`).
FIELDS = ("ca", "node_cert", "node_key", "client_cert", "client_key", "jupyter_token")
# A certificate valid from a little before now: task clocks may run behind the Lambda's.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, repr=False)
class ClusterTls:
    """PEM strings. `repr` shows no key: an object logged by mistake leaks nothing."""

    ca: str
    node_cert: str
    node_key: str
    client_cert: str
    client_key: str
    jupyter_token: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClusterTls:
        data = json.loads(text)
        # Every PEM must be there; the token only where the secret carries one.
        return cls(**{f: str(data[f] if f != "jupyter_token" else data.get(f, ""))
                      for f in FIELDS})

    def __repr__(self) -> str:
        return "ClusterTls(<PEM material>)"


def generate(cluster: str, valid_for: timedelta, now: datetime | None = None) -> ClusterTls:
    """A new CA for `cluster` and the node and client certificates it signs, each valid
    for `valid_for` from now. EC P-256: small, and fast to make in a Lambda."""
    from cryptography import x509  # only GenerateSecurityKey pays for importing it
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    start = (now or datetime.now(UTC)) - CLOCK_SKEW
    end = start + CLOCK_SKEW + valid_for

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Daskyard"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name(f"daskyard {cluster} CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=False, content_commitment=False, key_encipherment=False,
              data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
              encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(common: str, usages: list[x509.ObjectIdentifier]) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(common)).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName("dask-internal")]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                    critical=False)
                .sign(ca_key, hashes.SHA256()))
        return pem(cert), pem_key(key)

    node_cert, node_key = leaf(f"daskyard {cluster} node", [ExtendedKeyUsageOID.SERVER_AUTH,
                                                            ExtendedKeyUsageOID.CLIENT_AUTH])
    client_cert, client_key = leaf(f"daskyard {cluster} client",
                                   [ExtendedKeyUsageOID.CLIENT_AUTH])
    return ClusterTls(ca=pem(ca), node_cert=node_cert, node_key=node_key,
                      client_cert=client_cert, client_key=client_key)
