//! Applies every migration to empty SQLite and PostgreSQL databases and
//! compares a normalized description of the result with the checked-in
//! snapshots in tests/schema/. Regenerate them with `UPDATE_SCHEMA=1`.

use db::sqlx::{self, Row};
use db::{Db, DbKind};
use testkit::postgres::PgTestServer;

async fn describe_sqlite(db: &Db) -> Vec<String> {
    let pool = db.pool();
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect();
    let mut lines = Vec::new();
    for table in tables {
        lines.push(format!("table {table}"));
        let columns = sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid")
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
        for column in columns {
            let (name, kind, not_null, pk): (String, String, i64, i64) =
                (column.get(0), column.get(1), column.get(2), column.get(3));
            let null = if not_null != 0 || pk != 0 { "not null" } else { "null" };
            let key = if pk != 0 { format!(" pk{pk}") } else { String::new() };
            lines.push(format!("  column {name} {} {null}{key}", kind.to_lowercase()));
        }
        let indexes = sqlx::query("SELECT name, \"unique\", origin FROM pragma_index_list($1) ORDER BY name")
            .bind(&table)
            .fetch_all(pool)
            .await
            .unwrap();
        let mut described = Vec::new();
        for index in indexes {
            let (name, unique, origin): (String, i64, String) = (index.get(0), index.get(1), index.get(2));
            let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&name)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            // Automatic indexes have generated names; describe them by what they cover.
            let label = if name.starts_with("sqlite_autoindex") { format!("({origin})") } else { name };
            let unique = if unique != 0 { "unique " } else { "" };
            described.push(format!("  {unique}index {label} on ({})", columns.join(", ")));
        }
        described.sort();
        lines.extend(described);
        let foreign_keys = sqlx::query(
            "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list($1) ORDER BY \"from\"",
        )
        .bind(&table)
        .fetch_all(pool)
        .await
        .unwrap();
        for key in foreign_keys {
            let (from, target, to, on_delete): (String, String, String, String) =
                (key.get(0), key.get(1), key.get(2), key.get(3));
            lines.push(format!("  foreign key {from} -> {target} ({to}) on delete {}", on_delete.to_lowercase()));
        }
    }
    lines
}

async fn describe_postgres(db: &Db) -> Vec<String> {
    let pool = db.pool();
    let columns = sqlx::query(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_nullable::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND c.table_name <> '_sqlx_migrations' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let indexes = sqlx::query(
        "SELECT tablename::text, indexname::text, indexdef FROM pg_indexes \
         WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY tablename, indexname",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let constraints = sqlx::query(
        "SELECT cl.relname::text, pg_get_constraintdef(co.oid) FROM pg_constraint co \
         JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace \
         WHERE n.nspname = 'public' AND co.contype = 'f' ORDER BY cl.relname, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut tables = Vec::new();
    for column in &columns {
        let table: String = column.get(0);
        if table != current {
            tables.push(table.clone());
            current = table;
        }
    }
    for table in tables {
        lines.push(format!("table {table}"));
        for column in columns.iter().filter(|row| row.get::<String, _>(0) == table) {
            let (name, kind, nullable): (String, String, String) = (column.get(1), column.get(2), column.get(3));
            let null = if nullable == "YES" { "null" } else { "not null" };
            lines.push(format!("  column {name} {kind} {null}"));
        }
        for index in indexes.iter().filter(|row| row.get::<String, _>(0) == table) {
            let (name, definition): (String, String) = (index.get(1), index.get(2));
            lines.push(format!("  index {name}: {definition}"));
        }
        for constraint in constraints.iter().filter(|row| row.get::<String, _>(0) == table) {
            lines.push(format!("  {}", constraint.get::<String, _>(1).to_lowercase()));
        }
    }
    lines
}

fn compare(kind: &str, lines: Vec<String>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/schema/{kind}.txt"));
    let actual = lines.join("\n") + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the {kind} schema differs from {}; run with UPDATE_SCHEMA=1 to accept:\n{actual}",
        path.display()
    );
}

#[tokio::test]
async fn sqlite_schema_matches_snapshot() {
    let path = std::env::temp_dir().join(format!("db-schema-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let db = Db::open_sqlite(&path).await.unwrap();
    assert_eq!(db.kind(), DbKind::Sqlite);
    let description = describe_sqlite(&db).await;
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    compare("sqlite", description);
}

#[tokio::test]
async fn postgres_schema_matches_snapshot() {
    let server = PgTestServer::shared();
    let db = Db::connect(&server.create_database()).await.unwrap();
    assert_eq!(db.kind(), DbKind::Postgres);
    compare("postgres", describe_postgres(&db).await);
}

#[tokio::test]
async fn migrations_apply_once_and_reopen_cleanly() {
    let url = PgTestServer::shared().create_database();
    let first = Db::connect(&url).await.unwrap();
    first.close().await;
    let again = Db::connect(&url).await.unwrap();
    let applied: i64 =
        sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(again.pool()).await.unwrap().get(0);
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations")).unwrap().count();
    assert_eq!(applied, files as i64);
}

#[tokio::test]
async fn rejects_unknown_urls() {
    assert!(matches!(Db::connect("mysql://localhost/x").await, Err(db::DbError::UnsupportedUrl)));
}
