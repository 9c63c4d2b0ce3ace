//! TOML files people write (recipes, migration files): parse errors carry
//! the line and column, so a message can point at the mistake.

/// Where a TOML document went wrong and what was expected.
#[derive(Debug)]
pub struct Located {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Deserialize `text`; on error, the 1-based line and column of the problem.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Located> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_col(text, span.start))
            .unwrap_or((1, 1));
        Located {
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
