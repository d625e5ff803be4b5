//! Random secrets.

use rand::{Rng, distr::Alphanumeric};

/// A random alphanumeric string of `len` characters from the OS-seeded CSPRNG.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
