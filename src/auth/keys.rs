//! The signing key and the keys tokens are verified with (API.md "Keys"): the current key
//! pair, plus the public keys of earlier pairs (`JWT_PREVIOUS_PUBLIC_KEY_FILES`), so a key
//! rotation logs nobody out. With an asymmetric algorithm every key has a `kid`, its RFC
//! 7638 thumbprint, and is published as a JWK; with HS256 the shared secret never is.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::config::{Config, ConfigError, JwtAlgorithm};

/// A key tokens may be verified with.
struct Verifier {
    /// RFC 7638 thumbprint; `None` for HS256.
    kid: Option<String>,
    key: DecodingKey,
    jwk: Option<Jwk>,
}

/// The configured keys; read once, at start.
pub struct SigningKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// The current key first, then the previous ones.
    verifiers: Vec<Verifier>,
    /// For server-side MACs (cursors), derived from the signing key material.
    mac_key: Vec<u8>,
}

impl SigningKeys {
    /// Reads the key files (or takes the secret). Development without `JWT_SECRET_KEY` gets
    /// a random secret, with a warning.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        if config.jwt_algorithm == JwtAlgorithm::HS256 {
            if !config.jwt_previous_public_key_files.is_empty() {
                return Err(ConfigError::new(
                    "JWT_PREVIOUS_PUBLIC_KEY_FILES",
                    "needs an asymmetric JWT_ALGORITHM (RS256, ES256 or EdDSA)",
                ));
            }
            let secret = match &config.jwt_secret_key {
                Some(secret) => secret.0.as_bytes().to_vec(),
                None => {
                    tracing::warn!(
                        "JWT_SECRET_KEY is not set: using a random secret; tokens will not survive a restart"
                    );
                    let mut secret = vec![0u8; 32];
                    rand::fill(&mut secret[..]);
                    secret
                }
            };
            return Ok(Self {
                algorithm: Algorithm::HS256,
                encoding: EncodingKey::from_secret(&secret),
                verifiers: vec![Verifier {
                    kid: None,
                    key: DecodingKey::from_secret(&secret),
                    jwk: None,
                }],
                mac_key: derive_mac_key(&secret),
            });
        }
        let algorithm = config.jwt_algorithm;
        let private = read(config.jwt_private_key_file.as_ref(), "JWT_PRIVATE_KEY_FILE")?;
        let public = read(config.jwt_public_key_file.as_ref(), "JWT_PUBLIC_KEY_FILE")?;
        let encoding = private_key(algorithm, &private)?;
        let mut verifiers = vec![public_key(algorithm, &public, "JWT_PUBLIC_KEY_FILE")?];
        for path in &config.jwt_previous_public_key_files {
            let pem = read(Some(path), "JWT_PREVIOUS_PUBLIC_KEY_FILES")?;
            let previous = public_key(algorithm, &pem, "JWT_PREVIOUS_PUBLIC_KEY_FILES")?;
            // The same key twice would make `kid` ambiguous to nobody, but say so.
            if verifiers.iter().any(|v| v.kid == previous.kid) {
                return Err(ConfigError::new(
                    "JWT_PREVIOUS_PUBLIC_KEY_FILES",
                    format!("{} repeats a key already configured", path.display()),
                ));
            }
            verifiers.push(previous);
        }
        Ok(Self {
            algorithm: jwt_algorithm(algorithm),
            encoding,
            verifiers,
            mac_key: derive_mac_key(&private),
        })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The `kid` new tokens carry (none with HS256).
    pub fn kid(&self) -> Option<&str> {
        self.verifiers[0].kid.as_deref()
    }

    /// The key a token with this `kid` header is verified with: without one, the current
    /// key only; with one, the key it names, and none when it names no key of ours.
    pub fn verifier(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            None => Some(&self.verifiers[0].key),
            Some(kid) => self
                .verifiers
                .iter()
                .find(|v| v.kid.as_deref() == Some(kid))
                .map(|v| &v.key),
        }
    }

    /// The JWK Set published at `/.well-known/jwks.json`: every public key, current first;
    /// empty with HS256.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self
                .verifiers
                .iter()
                .filter_map(|v| v.jwk.clone())
                .collect(),
        }
    }

    /// Key material for MACs the server keeps to itself.
    pub fn mac_key(&self) -> &[u8] {
        &self.mac_key
    }
}

fn jwt_algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

fn read(path: Option<&std::path::PathBuf>, variable: &'static str) -> Result<Vec<u8>, ConfigError> {
    let path = path.ok_or_else(|| ConfigError::new(variable, "is required"))?;
    std::fs::read(path).map_err(|error| {
        ConfigError::new(variable, format!("cannot read {}: {error}", path.display()))
    })
}

/// Names the accepted encodings: `openssl ecparam -genkey` writes SEC1 (`BEGIN EC PRIVATE
/// KEY`), which jsonwebtoken refuses.
fn forms(algorithm: JwtAlgorithm) -> (&'static str, &'static str) {
    match algorithm {
        JwtAlgorithm::RS256 => (
            "PKCS#8 (BEGIN PRIVATE KEY) or PKCS#1 (BEGIN RSA PRIVATE KEY)",
            "SPKI (BEGIN PUBLIC KEY) or PKCS#1 (BEGIN RSA PUBLIC KEY)",
        ),
        _ => ("PKCS#8 (BEGIN PRIVATE KEY)", "SPKI (BEGIN PUBLIC KEY)"),
    }
}

fn private_key(algorithm: JwtAlgorithm, pem: &[u8]) -> Result<EncodingKey, ConfigError> {
    let bad = |e: jsonwebtoken::errors::Error| {
        ConfigError::new(
            "JWT_PRIVATE_KEY_FILE",
            format!(
                "not an {algorithm} PEM private key ({e}); expected {}",
                forms(algorithm).0
            ),
        )
    };
    match algorithm {
        JwtAlgorithm::RS256 => {
            let key = EncodingKey::from_rsa_pem(pem).map_err(bad)?;
            check_rsa_key_size(&key)?;
            Ok(key)
        }
        JwtAlgorithm::ES256 => EncodingKey::from_ec_pem(pem).map_err(bad),
        JwtAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem).map_err(bad),
        JwtAlgorithm::HS256 => unreachable!("BUG: HS256 has no key files"),
    }
}

/// A public key, its JWK and its thumbprint.
fn public_key(
    algorithm: JwtAlgorithm,
    pem: &[u8],
    variable: &'static str,
) -> Result<Verifier, ConfigError> {
    let bad = |reason: String| {
        ConfigError::new(
            variable,
            format!(
                "not an {algorithm} PEM public key ({reason}); expected {}",
                forms(algorithm).1
            ),
        )
    };
    let key = match algorithm {
        JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
        JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        JwtAlgorithm::HS256 => unreachable!("BUG: HS256 has no key files"),
    }
    .map_err(|e| bad(e.to_string()))?;
    let parameters =
        jwk_parameters(algorithm, key.as_bytes()).ok_or_else(|| bad("unreadable key".into()))?;
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(match algorithm {
                JwtAlgorithm::RS256 => KeyAlgorithm::RS256,
                JwtAlgorithm::ES256 => KeyAlgorithm::ES256,
                _ => KeyAlgorithm::EdDSA,
            }),
            ..Default::default()
        },
        algorithm: parameters,
    };
    let kid = jwk.thumbprint(ThumbprintHash::SHA256);
    jwk.common.key_id = Some(kid.clone());
    Ok(Verifier {
        kid: Some(kid),
        key,
        jwk: Some(jwk),
    })
}

/// The JWK members of a public key, from the bytes jsonwebtoken keeps: an RSA key's PKCS#1
/// DER, a P-256 point (`04 ‖ x ‖ y`), an Ed25519 key's 32 bytes.
fn jwk_parameters(algorithm: JwtAlgorithm, bytes: &[u8]) -> Option<AlgorithmParameters> {
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    match algorithm {
        JwtAlgorithm::RS256 => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::traits::PublicKeyParts;
            let key = rsa::RsaPublicKey::from_pkcs1_der(bytes).ok()?;
            Some(AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: b64(&key.n().to_bytes_be()),
                e: b64(&key.e().to_bytes_be()),
            }))
        }
        JwtAlgorithm::ES256 => {
            let point = bytes.strip_prefix(&[0x04])?;
            (point.len() == 64).then(|| {
                AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: b64(&point[..32]),
                    y: b64(&point[32..]),
                })
            })
        }
        JwtAlgorithm::EdDSA => (bytes.len() == 32).then(|| {
            AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: b64(bytes),
            })
        }),
        JwtAlgorithm::HS256 => None,
    }
}

/// RFC 7518 §3.3: RS256 keys MUST have at least 2048 bits; jsonwebtoken signs with smaller
/// ones without complaint.
fn check_rsa_key_size(key: &EncodingKey) -> Result<(), ConfigError> {
    const MIN_BITS: usize = 2048;
    let bits = Jwk::from_encoding_key(key, Algorithm::RS256)
        .ok()
        .and_then(|jwk| match jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => URL_SAFE_NO_PAD.decode(rsa.n).ok(),
            _ => None,
        })
        .map(|modulus| {
            let significant: Vec<u8> = modulus.into_iter().skip_while(|b| *b == 0).collect();
            significant.first().map_or(0, |top| {
                significant.len() * 8 - top.leading_zeros() as usize
            })
        })
        .ok_or_else(|| ConfigError::new("JWT_PRIVATE_KEY_FILE", "not a usable RSA private key"))?;
    if bits < MIN_BITS {
        return Err(ConfigError::new(
            "JWT_PRIVATE_KEY_FILE",
            format!("RSA key has {bits} bits; RS256 needs at least {MIN_BITS}"),
        ));
    }
    Ok(())
}

/// A key for server-side MACs (pagination cursors), derived from the signing key material
/// under its own label, so a MAC computed with it can never double as a token signature.
fn derive_mac_key(signing_key: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(signing_key)
        .expect("BUG: HMAC accepts keys of any length");
    mac.update(b"authql cursor MAC key v1");
    mac.finalize().into_bytes().to_vec()
}
