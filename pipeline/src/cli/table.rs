//! Plain-text tables for the command line (times are written as `text` writes them).

use std::fmt;

/// Left-aligned columns separated by two spaces.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.into());
    }

    /// The header with `more` columns after it.
    pub fn with<const N: usize>(mut self, more: [&str; N]) -> Self {
        self.rows[0].extend(more.iter().map(|h| h.to_string()));
        self
    }

    /// A row of `first` then `rest` (for a table made with [`with`](Table::with)).
    pub fn row_with<const A: usize, const B: usize>(
        &mut self,
        first: [String; A],
        rest: [String; B],
    ) {
        self.rows.push(first.into_iter().chain(rest).collect());
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
                }
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align() {
        let mut t = Table::new(["A", "LONGER"]);
        t.row(["xxxx".into(), "y".into()]);
        assert_eq!(t.to_string(), "A     LONGER\nxxxx  y\n");
    }
}
