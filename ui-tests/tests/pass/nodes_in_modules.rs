use pipeline::prelude::*;

mod io {
    use pipeline::prelude::*;

    #[node]
    pub async fn load(path: String) -> anyhow::Result<Vec<String>> {
        Ok(vec![path])
    }
}

#[node]
async fn count(lines: Vec<String>) -> usize {
    lines.len()
}

pipeline! {
    pub Lines(path: String) -> usize {
        lines = crate::io::load(path);
        n     = count(lines);
        n
    }
}

fn main() {
    let _ = PipelineEngine::new(Lines);
}
