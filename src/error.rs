//! Turning low-level failures into words an operator understands.

/// A database failure as shown on screen: never raw SQL.
pub fn describe_sql(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            "the database cannot be reached; onecard keeps trying".to_string()
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => "that already exists".to_string(),
        sqlx::Error::Database(d) => format!("the database refused the change: {}", d.message()),
        other => format!("database error: {other}"),
    }
}
