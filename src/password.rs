//! Passwords kat generates per environment (Grafana's admin, a blueprint's in-cluster database):
//! from the operating system's random source, letters and digits only so they survive shells,
//! URLs and YAML unquoted.

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// 24 of 62 symbols: about 143 bits.
const LENGTH: usize = 24;

pub fn generate() -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(LENGTH);
    let mut buf = [0u8; 64];
    while out.len() < LENGTH {
        getrandom::fill(&mut buf)?;
        // Bytes of 248 and above are dropped so that every symbol is equally likely (248 = 4 × 62).
        out.extend(
            buf.iter()
                .filter(|b| (**b as usize) < ALPHABET.len() * 4)
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .take(LENGTH - out.len()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), LENGTH);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }
}
