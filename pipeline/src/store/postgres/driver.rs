//! [`DriverError`]: a driver or pool error that says what the server said.

/// A driver or pool error whose message says what the server said (tokio-postgres prints only
/// "db error" for an error the server sent), with the original as its source.
#[derive(Debug)]
pub(crate) struct DriverError {
    message: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

impl DriverError {
    /// Boxes `error` with a message that includes what its sources say.
    pub(crate) fn boxed(
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Box<dyn std::error::Error + Send + Sync> {
        let mut message = error.to_string();
        let mut next = error.source();
        while let Some(source) = next {
            let text = match source.downcast_ref::<tokio_postgres::error::DbError>() {
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => source.to_string(),
            };
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            next = source.source();
        }
        if let Some(db) = (&error as &dyn std::error::Error)
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(tokio_postgres::Error::as_db_error)
        {
            message = format!("{} ({})", db.message(), db.code().code());
        }
        Box::new(DriverError {
            message,
            source: Box::new(error),
        })
    }
}
