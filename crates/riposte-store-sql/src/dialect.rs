//! What a SQL dialect provides, and nothing more: a pool, write transactions
//! locked as the dialect needs, statements run with dialect-neutral values,
//! rows read back into dialect-neutral values, error classification, the
//! few statements that truly differ, and the backend-only parts (migrations,
//! leader locks, the writability probe). Every workflow is written once, in
//! this crate's trait files, over these primitives.

use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

use async_trait::async_trait;
use riposte_store::{Leadership, StoreError, from_millis};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use uuid::Uuid;

/// Where a statement runs: on the pool (one statement, autocommit) or in an
/// open write transaction.
pub enum On<'a, Tx> {
    Pool,
    Tx(&'a mut Tx),
}

#[async_trait]
pub trait Dialect: Send + Sync + Sized + 'static {
    /// A row as the driver returns it.
    type Row: Row;
    /// An open write transaction (rolled back when dropped).
    type Tx: Send;

    /// The column a job's caller-scoped idempotency key is written to.
    const KEY_COLUMN: &'static str;
    /// The condition (one `?`, the key) that finds a caller's key, however
    /// the schema kept it.
    const KEY_MATCH: &'static str;
    /// What follows a job insert: how a concurrent duplicate key is met.
    const ON_KEY_CONFLICT: &'static str;
    /// What follows a read of a row the transaction will change: a row lock
    /// where the dialect needs one to order writers.
    const FOR_UPDATE: &'static str;
    /// What follows the pick, in a one-statement claim, of a job row
    /// (aliased `j`): skip the rows another claim holds, where the dialect
    /// has several writers at once.
    const SKIP_CLAIMED: &'static str;
    /// A one-statement claim of the oldest claimable job (one `?` each for
    /// owner, lease end and time, returning the job), where the dialect has
    /// one; otherwise claim_next picks and then claims.
    const CLAIM_NEXT: Option<&'static str>;
    /// A statement (one `?`, the job id) run in every transaction that
    /// records a job event, telling other nodes once it commits; None where
    /// no other node can share the ledger's change signal (SQLite: other
    /// processes on the file are left to the waiters' safety net).
    const NOTIFY_JOB: Option<&'static str> = None;

    /// Starts relaying other nodes' job changes into `changes` (a task that
    /// listens on its own connection); nothing where there is no such signal.
    fn relay_job_changes(&self, _changes: riposte_store::JobChanges) {}

    /// Lower-cases a search text as the dialect's `lower()` does.
    fn fold_case(text: &str) -> String;

    /// Opens a write transaction; `appends_audit` says it will append to the
    /// audit chain, whose lock must then be taken before anything else.
    async fn begin(&self, appends_audit: bool) -> Result<Self::Tx, sqlx::Error>;
    async fn commit(&self, tx: Self::Tx) -> Result<(), sqlx::Error>;
    /// Runs a statement; the count of rows it changed.
    async fn execute(&self, on: On<'_, Self::Tx>, query: &Query) -> Result<u64, sqlx::Error>;
    /// Runs a statement; the rows it returned.
    async fn fetch(
        &self,
        on: On<'_, Self::Tx>,
        query: &Query,
    ) -> Result<Vec<Self::Row>, sqlx::Error>;

    /// Whether `e` says the ledger cannot be written (read-only, full).
    fn unwritable(&self, e: &sqlx::Error) -> bool;
    /// `message` with what must never be shown (a password) removed.
    fn scrub(&self, message: String) -> String {
        message
    }
    /// A driver error as the store reports it: Unwritable when the ledger
    /// cannot be written, else Backend; naming the ledger, never a password.
    fn error(&self, e: sqlx::Error) -> StoreError {
        let message = self.scrub(e.to_string());
        let location = self.location().to_string();
        if self.unwritable(&e) {
            StoreError::Unwritable { location, message }
        } else {
            StoreError::Backend(format!("{location}: {message}"))
        }
    }
    /// What errors name: the file, or the server without the password.
    fn location(&self) -> &str;
    /// [`riposte_store::JobStore::check_writable`].
    async fn check_writable(&self) -> Result<(), StoreError>;
    /// [`riposte_store::LeaderLock::try_lead`].
    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError>;
}

/// A value bound to a statement; each dialect encodes it in its own column
/// types (text or uuid, text or jsonb, integer or boolean).
#[derive(Debug, Clone)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Uuid(Option<Uuid>),
    Json(Option<serde_json::Value>),
}

impl Value {
    /// `value` as JSON (jsonb where the dialect has it).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Value, StoreError> {
        serde_json::to_value(value)
            .map(|v| Value::Json(Some(v)))
            .map_err(crate::encode_error)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<Uuid> for Value {
    fn from(v: Uuid) -> Self {
        Value::Uuid(Some(v))
    }
}
impl From<Option<Uuid>> for Value {
    fn from(v: Option<Uuid>) -> Self {
        Value::Uuid(v)
    }
}

/// A statement with `?` placeholders and its values, built like sqlx's
/// `QueryBuilder`; a dialect that numbers its placeholders renumbers them.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: Cow<'static, str>,
    pub args: Vec<Value>,
}

/// A statement to run (its values follow with [`Query::bind`]).
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl Query {
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Appends SQL text (a constant of this crate, never a value).
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn push_bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.sql.to_mut().push('?');
        self.args.push(value.into());
        self
    }
}

/// A row's columns as dialect-neutral values; errors are the driver's words.
pub trait Row: Send + Sync {
    fn text(&self, col: &str) -> Result<Option<String>, String>;
    fn int(&self, col: &str) -> Result<Option<i64>, String>;
    fn flag(&self, col: &str) -> Result<bool, String>;
    fn uuid(&self, col: &str) -> Result<Option<Uuid>, String>;
    fn json(&self, col: &str) -> Result<Option<serde_json::Value>, String>;
}

/// Reads one record's columns, naming the record and the column in every
/// error (a row that does not decode is [`StoreError::Corrupt`]).
pub struct Fields<'r, R: Row> {
    row: &'r R,
    what: Cow<'r, str>,
}

impl<'r, R: Row> Fields<'r, R> {
    pub fn new(row: &'r R, what: impl Into<Cow<'r, str>>) -> Self {
        Fields {
            row,
            what: what.into(),
        }
    }

    pub fn corrupt(&self, col: &str, e: &dyn Display) -> StoreError {
        StoreError::Corrupt(format!("{}: {col}: {e}", self.what))
    }

    fn required<T>(&self, col: &str, v: Option<T>) -> Result<T, StoreError> {
        v.ok_or_else(|| self.corrupt(col, &"empty where a value is required"))
    }

    pub fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.row.text(col).map_err(|e| self.corrupt(col, &e))
    }

    pub fn text(&self, col: &str) -> Result<String, StoreError> {
        self.required(col, self.opt_text(col)?)
    }

    pub fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.row.int(col).map_err(|e| self.corrupt(col, &e))
    }

    pub fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.required(col, self.opt_int(col)?)
    }

    pub fn time(&self, col: &str) -> Result<OffsetDateTime, StoreError> {
        self.int(col).map(from_millis)
    }

    pub fn opt_time(&self, col: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(self.opt_int(col)?.map(from_millis))
    }

    pub fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.row.flag(col).map_err(|e| self.corrupt(col, &e))
    }

    pub fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        self.row.uuid(col).map_err(|e| self.corrupt(col, &e))
    }

    pub fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        self.required(col, self.opt_uuid(col)?)
    }

    /// A text column parsed (an action, a role, an outcome...).
    pub fn parse<T: FromStr>(&self, col: &str) -> Result<T, StoreError>
    where
        T::Err: Display,
    {
        self.text(col)?.parse().map_err(|e| self.corrupt(col, &e))
    }

    pub fn opt_parse<T: FromStr>(&self, col: &str) -> Result<Option<T>, StoreError>
    where
        T::Err: Display,
    {
        self.opt_text(col)?
            .map(|v| v.parse().map_err(|e| self.corrupt(col, &e)))
            .transpose()
    }

    /// A JSON column (jsonb, or text holding JSON).
    pub fn opt_json<T: DeserializeOwned>(&self, col: &str) -> Result<Option<T>, StoreError> {
        self.row
            .json(col)
            .map_err(|e| self.corrupt(col, &e))?
            .map(|v| serde_json::from_value(v).map_err(|e| self.corrupt(col, &e)))
            .transpose()
    }

    pub fn json<T: DeserializeOwned>(&self, col: &str) -> Result<T, StoreError> {
        let v = self.opt_json(col)?;
        self.required(col, v)
    }

    /// JSON kept as text in every dialect (byte for byte as written).
    pub fn json_text<T: DeserializeOwned>(&self, col: &str) -> Result<T, StoreError> {
        serde_json::from_str(&self.text(col)?).map_err(|e| self.corrupt(col, &e))
    }
}

/// `%text%` for LIKE, with LIKE's own characters escaped (ESCAPE '\').
pub(crate) fn contains_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}
