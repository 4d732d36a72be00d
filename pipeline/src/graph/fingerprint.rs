//! The fingerprint of a graph's shape: the one place its text format is defined. `pipeline!`
//! evaluates it at compile time (the const fns below, called from generated code) and the runtime
//! evaluates it from a [`GraphSignature`](super::GraphSignature), so the two cannot drift.

/// A 64-bit FNV-1a hash over the text
/// `input NAME: TYPE\n` per input, then `node ID = KIND(IN,IN) if (COND,COND) -> TYPE\n` per node
/// (a node mapped over a list writes its list input `each IN` and its type `Vec<ITEM_TYPE>`),
/// fed piece by piece (hashing pieces in turn equals hashing their concatenation).
///
/// ```
/// use pipeline::graph::Fingerprint;
///
/// const F: u64 = Fingerprint::new()
///     .input("x", "u64")
///     .node("double", "double", &["x"], &[], "u64")
///     .finish();
/// assert_eq!(F, Fingerprint::new().input("x", "u64").node("double", "double", &["x"], &[], "u64").finish());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

/// The FNV-1a 64 offset basis: the hash of nothing.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint::new()
    }
}

impl Fingerprint {
    /// The fingerprint of an empty graph.
    pub const fn new() -> Self {
        Fingerprint(FNV_OFFSET)
    }

    /// Adds a pipeline input with its type as written.
    pub const fn input(self, name: &str, type_name: &str) -> Self {
        self.text("input ")
            .text(name)
            .text(": ")
            .text(type_name)
            .text("\n")
    }

    /// Adds a node: its id, the fn it runs, the inputs and nodes it reads (in argument order),
    /// those its condition reads, and its output type as written.
    pub const fn node(
        self,
        id: &str,
        kind: &str,
        inputs: &[&str],
        condition_inputs: &[&str],
        output_type: &str,
    ) -> Self {
        self.call(id, kind, inputs, condition_inputs)
            .text(output_type)
            .text("\n")
    }

    /// Adds the version of the node added last (`#[node(version = "..")]`): nothing when it is
    /// empty, so the fingerprints of graphs without versions do not change.
    pub const fn version(self, version: &str) -> Self {
        match version.is_empty() {
            true => self,
            false => self.text("version ").text(version).text("\n"),
        }
    }

    /// Adds a node mapped over a list (`each`): its inputs list the mapped one as `each NAME`,
    /// and its output type is the `Vec` of `item_output_type`, what one item's call returns.
    pub const fn mapped_node(
        self,
        id: &str,
        kind: &str,
        inputs: &[&str],
        condition_inputs: &[&str],
        item_output_type: &str,
    ) -> Self {
        self.call(id, kind, inputs, condition_inputs)
            .text("Vec<")
            .text(item_output_type)
            .text(">\n")
    }

    /// A node's line up to its output type: `node ID = KIND(IN,IN) if (COND,COND) -> `.
    const fn call(self, id: &str, kind: &str, inputs: &[&str], condition_inputs: &[&str]) -> Self {
        self.text("node ")
            .text(id)
            .text(" = ")
            .text(kind)
            .text("(")
            .list(inputs)
            .text(") if (")
            .list(condition_inputs)
            .text(") -> ")
    }

    /// The hash.
    pub const fn finish(self) -> u64 {
        self.0
    }

    const fn list(mut self, items: &[&str]) -> Self {
        let mut i = 0;
        while i < items.len() {
            if i > 0 {
                self = self.text(",");
            }
            self = self.text(items[i]);
            i += 1;
        }
        self
    }

    const fn text(self, text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut hash = self.0;
        let mut i = 0;
        while i < bytes.len() {
            hash = (hash ^ bytes[i] as u64).wrapping_mul(FNV_PRIME);
            i += 1;
        }
        Fingerprint(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fnv1a64(bytes: &[u8]) -> u64 {
        bytes.iter().fold(FNV_OFFSET, |hash, &b| {
            (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME)
        })
    }

    #[test]
    fn hashes_the_documented_text() {
        let text = "input x: u64\nnode a = f(x) if () -> u64\nnode b = g(x,a) if (a) -> String\n";
        let fingerprint = Fingerprint::new()
            .input("x", "u64")
            .node("a", "f", &["x"], &[], "u64")
            .node("b", "g", &["x", "a"], &["a"], "String")
            .finish();
        assert_eq!(fingerprint, fnv1a64(text.as_bytes()));
    }
}
