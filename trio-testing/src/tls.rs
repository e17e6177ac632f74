//! `TestCa`: a throwaway certificate authority (made with `rcgen`) so TLS code can be
//! tested without certificate files: it issues server certificates for any names and
//! builds a rustls client config that trusts exactly it. Configs use rustls's *ring*
//! provider explicitly, so they work whatever other providers the build enables.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A certificate authority made up for one test.
///
/// ```
/// let ca = trio_testing::TestCa::new();
/// let server_config = ca.issue_cert(&["localhost", "127.0.0.1"]);
/// let client_config = ca.client_config();
/// assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// # let _ = (server_config, client_config);
/// ```
pub struct TestCa {
    key: KeyPair,
    cert: Certificate,
}

impl TestCa {
    /// A new CA with a fresh key (ECDSA P-256).
    ///
    /// # Panics
    /// If key generation fails (it does not, with the ring backend).
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("TestCa: generating the CA key failed");
        let mut params = CertificateParams::default();
        // A distinct name per CA: verifiers pick trust anchors by subject name, so two
        // CAs with one name would report a bad signature instead of an unknown issuer.
        params.distinguished_name.push(
            DnType::CommonName,
            format!("trio-testing throwaway CA {}", unique_id()),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .expect("TestCa: self-signing the CA certificate failed");
        TestCa { key, cert }
    }

    /// A rustls server config presenting a fresh certificate for `names`, signed by this
    /// CA. Names that parse as IP addresses become IP-address SANs, the rest DNS names.
    ///
    /// # Panics
    /// If a name is not a valid DNS name or IP address (the message names it).
    pub fn issue_cert(&self, names: &[&str]) -> Arc<ServerConfig> {
        let (cert, key) = self.issue(names);
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("TestCa: rustls rejected the issued certificate");
        Arc::new(config)
    }

    /// A rustls client config that trusts this CA (and nothing else).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.cert_der())
            .expect("TestCa: rustls rejected the CA certificate");
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// The CA certificate in PEM, for peers that read files (`curl --cacert`,
    /// `openssl s_client -CAfile`).
    pub fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate in DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// Issues a certificate for `names` as `(certificate PEM, private key PEM)` (PKCS#8),
    /// for peers that are not rustls (`openssl s_server -cert .. -key ..`).
    ///
    /// # Panics
    /// As [`issue_cert`](Self::issue_cert).
    pub fn issue_leaf(&self, names: &[&str]) -> (String, String) {
        let (cert, key) = self.issue(names);
        (cert.pem(), key.serialize_pem())
    }

    fn issue(&self, names: &[&str]) -> (Certificate, KeyPair) {
        let key = KeyPair::generate().expect("TestCa: generating a key failed");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("trio test"),
        );
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => {
                    // rcgen takes any ASCII; check it is a name a TLS client can ask for.
                    if let Err(e) = DnsName::try_from(*name) {
                        panic!("TestCa: {name:?} is neither a DNS name nor an IP address: {e}");
                    }
                    SanType::DnsName(name.to_string().try_into().unwrap_or_else(|e| {
                        panic!("TestCa: {name:?} is neither a DNS name nor an IP address: {e}")
                    }))
                }
            })
            .collect();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("TestCa: signing a certificate failed");
        (cert, key)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A number no other `TestCa` of this machine is likely to share.
fn unique_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::client::WebPkiServerVerifier;
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::RootCertStore;

    use super::*;

    fn verify(ca: &TestCa, cert_pem: &str, name: &str) -> std::result::Result<(), rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).expect("CA accepted");
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .expect("verifier");
        let der = pem_to_der(cert_pem);
        let name = ServerName::try_from(name.to_owned()).expect("valid name");
        verifier
            .verify_server_cert(&CertificateDer::from(der), &[], &name, &[], UnixTime::now())
            .map(drop)
    }

    /// Decodes the one PEM block of `pem` (base64 between the armour lines).
    fn pem_to_der(pem: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let body: Vec<u8> = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .flat_map(|l| l.trim().bytes())
            .filter(|&b| b != b'=')
            .map(|b| ALPHABET.iter().position(|&a| a == b).expect("base64") as u8)
            .collect();
        body.chunks(4)
            .flat_map(|c| {
                let v =
                    c.iter().fold(0u32, |acc, &x| (acc << 6) | u32::from(x)) << (6 * (4 - c.len()));
                let bytes = v.to_be_bytes();
                bytes[1..c.len()].to_vec()
            })
            .collect()
    }

    #[test]
    fn issued_certificates_verify_for_their_dns_and_ip_names_only() {
        let ca = TestCa::new();
        let (cert, key) = ca.issue_leaf(&["localhost", "127.0.0.1", "::1"]);
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        verify(&ca, &cert, "localhost").expect("DNS SAN");
        verify(&ca, &cert, "127.0.0.1").expect("IPv4 SAN");
        verify(&ca, &cert, "::1").expect("IPv6 SAN");
        assert!(verify(&ca, &cert, "example.com").is_err());
        assert!(
            verify(&TestCa::new(), &cert, "localhost").is_err(),
            "other CA"
        );
    }

    #[test]
    #[should_panic(expected = "is neither a DNS name nor an IP address")]
    fn an_invalid_name_is_a_named_mistake() {
        TestCa::new().issue_cert(&["not a name!"]);
    }
}
