//! The digest of a fn's code, for the cache keys of `#[node(cache)]` and `#[hashed]`: its
//! signature and body as tokens, so whitespace and comments do not count.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use sha2::{Digest, Sha256};

/// The digest (32 hex digits) of `item`'s signature and body. Attributes are left out: a
/// `#[node(...)]` option or a doc comment does not change what the fn computes (a node's
/// `version` is a part of the key of its own).
pub fn fn_digest(item: &syn::ItemFn) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, item.sig.to_token_stream());
    hasher.update(b"\x1e");
    feed(&mut hasher, item.block.to_token_stream());
    hex(&hasher.finalize()[..16])
}

/// Feeds each token, kind and text, one separator apart: how tokens were spaced or split over
/// lines never counts (`a+b` and `a + b` are the same tokens), and no two token sequences feed
/// the same bytes.
fn feed(hasher: &mut Sha256, tokens: TokenStream) {
    for token in tokens {
        match token {
            TokenTree::Group(group) => {
                let (open, close): (&[u8], &[u8]) = match group.delimiter() {
                    Delimiter::Parenthesis => (b"(", b")"),
                    Delimiter::Brace => (b"{", b"}"),
                    Delimiter::Bracket => (b"[", b"]"),
                    Delimiter::None => (b"\x02", b"\x03"),
                };
                hasher.update(open);
                feed(hasher, group.stream());
                hasher.update(close);
            }
            TokenTree::Ident(ident) => {
                hasher.update(b"i");
                hasher.update(ident.to_string().as_bytes());
            }
            TokenTree::Punct(punct) => {
                hasher.update(b"p");
                let mut buf = [0u8; 4];
                hasher.update(punct.as_char().encode_utf8(&mut buf).as_bytes());
            }
            TokenTree::Literal(literal) => {
                hasher.update(b"l");
                hasher.update(literal.to_string().as_bytes());
            }
        }
        hasher.update(b"\x1f");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
