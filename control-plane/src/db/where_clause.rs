//! [`Where`]: list queries with optional filters.

use crate::error::DomainResult;
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

/// A query built from optional conditions: appends ` AND …` conditions
/// whose `?` becomes the next `$n` placeholder, collecting the binds.
pub struct Where {
    sql: String,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Where {
    pub fn new(sql: &str) -> Where {
        Where {
            sql: sql.to_string(),
            binds: Vec::new(),
        }
    }

    fn next(&self) -> usize {
        self.binds.len() + 1
    }

    /// Appends a condition without a value.
    pub fn raw(&mut self, cond: &str) {
        self.sql.push_str(cond);
    }

    /// Appends a condition whose every `?` is `value`.
    pub fn text(&mut self, cond: &str, value: String) {
        let n = self.next();
        self.sql.push_str(&cond.replace("?", &format!("${n}")));
        self.binds.push(Bind::Text(value));
    }

    pub fn int(&mut self, cond: &str, value: i64) {
        let n = self.next();
        self.sql.push_str(&cond.replace("?", &format!("${n}")));
        self.binds.push(Bind::Int(value));
    }

    pub fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut parts = Vec::new();
        for v in values {
            parts.push(format!("${}", self.next()));
            self.binds.push(Bind::Text(v.clone()));
        }
        self.sql
            .push_str(&format!(" AND {column} IN ({})", parts.join(", ")));
    }

    async fn fetch(self, conn: &mut AnyConnection, tail: &str) -> DomainResult<Vec<AnyRow>> {
        let sql = format!("{}{tail}", self.sql);
        let mut q = sqlx::query(&sql);
        for b in self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        Ok(q.fetch_all(&mut *conn).await?)
    }

    /// A page of a list whose time-ordered ids sort newest first: the
    /// `limit` rows after the id `starting_after` (older ones), by
    /// `id_column` descending, each mapped, and whether more follow.
    pub async fn page<T>(
        mut self,
        conn: &mut AnyConnection,
        id_column: &str,
        starting_after: Option<&str>,
        limit: i64,
        each: impl Fn(&AnyRow) -> DomainResult<T>,
    ) -> DomainResult<(Vec<T>, bool)> {
        if let Some(after) = starting_after {
            self.text(&format!(" AND {id_column} < ?"), after.to_string());
        }
        let tail = format!(
            " ORDER BY {id_column} DESC LIMIT {}",
            limit.saturating_add(1)
        );
        let rows = self.fetch(conn, &tail).await?;
        let limit = usize::try_from(limit).unwrap_or(0);
        let data = rows
            .iter()
            .take(limit)
            .map(each)
            .collect::<DomainResult<Vec<T>>>()?;
        Ok((data, rows.len() > limit))
    }
}
