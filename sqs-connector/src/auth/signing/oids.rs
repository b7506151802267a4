//! The object identifiers the signer dispatches on, and readable names for error messages.
//!
//! OIDs are compared as dotted strings, the form `ObjectIdentifier`'s `Display` writes, so the
//! different ASN.1 crates (`pkcs8`, `sec1`, `x509-parser`) can share these constants.

pub(crate) const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub(crate) const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub(crate) const OID_P256: &str = "1.2.840.10045.3.1.7";
pub(crate) const OID_P384: &str = "1.3.132.0.34";
pub(crate) const OID_PBES2: &str = "1.2.840.113549.1.5.13";

/// The usual name of a named-curve OID, e.g. `P-521`, or the OID itself.
pub(crate) fn curve_name(oid: &str) -> String {
    match oid {
        OID_P256 => "P-256".to_owned(),
        OID_P384 => "P-384".to_owned(),
        "1.3.132.0.35" => "P-521".to_owned(),
        "1.3.132.0.10" => "secp256k1".to_owned(),
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1".to_owned(),
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1".to_owned(),
        "1.3.36.3.3.2.8.1.1.13" => "brainpoolP512r1".to_owned(),
        other => format!("with OID {other}"),
    }
}

/// The usual name of a key or encryption algorithm OID, or the OID itself.
pub(crate) fn algorithm_name(oid: &str) -> String {
    let name = match oid {
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.1" => "DSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        OID_PBES2 => "PBES2",
        "1.2.840.113549.1.5.3" => "PBES1 pbeWithMD5AndDES-CBC",
        "1.2.840.113549.1.5.10" => "PBES1 pbeWithSHA1AndDES-CBC",
        "1.2.840.113549.1.12.1.3" => "PKCS#12 pbeWithSHAAnd3-KeyTripleDES-CBC",
        "1.2.840.113549.1.12.1.6" => "PKCS#12 pbeWithSHAAnd40BitRC2-CBC",
        "1.2.840.113549.3.7" => "DES-EDE3-CBC",
        "1.3.14.3.2.7" => "DES-CBC",
        _ => return format!("with OID {oid}"),
    };
    format!("{name} ({oid})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_constants_match_their_display_form() {
        // OIDs are compared as dotted strings, the form `ObjectIdentifier`'s `Display` writes.
        for dotted in [OID_RSA_ENCRYPTION, OID_EC_PUBLIC_KEY, OID_P256, OID_P384] {
            let parsed = pkcs8::ObjectIdentifier::new(dotted).map(|o| o.to_string());
            assert_eq!(parsed.as_deref(), Ok(dotted));
        }
    }

    #[test]
    fn names_curves_and_algorithms() {
        assert_eq!(curve_name(OID_P256), "P-256");
        assert_eq!(curve_name("1.3.132.0.35"), "P-521");
        assert_eq!(curve_name("1.2.3"), "with OID 1.2.3");
        assert_eq!(algorithm_name("1.3.101.112"), "Ed25519 (1.3.101.112)");
        assert_eq!(algorithm_name("1.2.3"), "with OID 1.2.3");
    }
}
