use pipeline::prelude::*;

struct Loader;

impl Loader {
    #[node]
    async fn load(&self, path: String) -> String {
        path
    }
}

fn main() {}
