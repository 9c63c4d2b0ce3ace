//! What a database needs besides its own contents: PostgreSQL's roles (the
//! database's owner and its objects' owners), MariaDB's accounts with their
//! password hashes and grants (kept outside the database, so a dump of it
//! alone would leave the app unable to log in).

use crate::engine::Engine;
use crate::sql::{dollar_quote, ident, literal};

/// PostgreSQL: the database's owner (run in the admin database).
pub fn pg_owner_sql(db: &str) -> String {
    format!(
        "select pg_get_userbyid(datdba) from pg_database where datname = {}",
        literal(Engine::Postgresql, db)
    )
}

/// PostgreSQL: the owners of the database's objects (run in the database).
pub const PG_OBJECT_OWNERS_SQL: &str = "select distinct pg_get_userbyid(relowner) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname not in ('pg_catalog','information_schema','pg_toast')";

/// PostgreSQL: create `role` (able to log in, no password: that stays in
/// the app's config) unless it exists. Two moves onto one server can both
/// find it missing; the one that loses the race to create it takes the
/// other's (roles are cluster-wide, the check and the create are not one
/// step).
pub fn pg_create_role(role: &str) -> String {
    let e = Engine::Postgresql;
    let body = format!(
        "BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {}) THEN BEGIN CREATE ROLE {} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END; END IF; END",
        literal(e, role),
        ident(e, role)
    );
    format!("DO {};", dollar_quote(&body))
}

/// The names in a one-column answer, in order, once each.
pub fn names(answer: &str, into: &mut Vec<String>) {
    for r in answer.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !into.iter().any(|x| x == r) {
            into.push(r.to_string());
        }
    }
}

/// MariaDB: the accounts holding privileges on the database, each as the
/// server quotes it (`'user'@'host'`).
pub fn maria_grantees_sql(db: &str) -> String {
    format!(
        "select distinct grantee from information_schema.schema_privileges where table_schema = {}",
        literal(Engine::Mariadb, db)
    )
}

/// MariaDB: the statements reading an account (its grantee is the server's
/// own quoting, taken as is).
pub fn maria_show_create(grantee: &str) -> String {
    format!("SHOW CREATE USER {grantee}")
}

pub fn maria_show_grants(grantee: &str) -> String {
    format!("SHOW GRANTS FOR {grantee}")
}

/// MariaDB: the statements recreating an account from its `SHOW CREATE
/// USER` and `SHOW GRANTS` answers (password hash included), its grants on
/// `src` moved to `dst` when the database changes name.
pub fn maria_recreate(create: &str, grants: &str, src: &str, dst: &str) -> String {
    let mut out = String::new();
    if let Some(c) = create.lines().next() {
        out.push_str(&c.replacen("CREATE USER ", "CREATE USER IF NOT EXISTS ", 1));
        out.push_str(";\n");
    }
    let e = Engine::Mariadb;
    for line in grants.lines().filter(|l| l.starts_with("GRANT ")) {
        if src == dst {
            out.push_str(line);
        } else {
            out.push_str(&line.replace(
                &format!("{}.", ident(e, src)),
                &format!("{}.", ident(e, dst)),
            ));
        }
        out.push_str(";\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_creation_survives_dollar_quotes_in_names() {
        let s = pg_create_role("evil$$; DROP ROLE x; $$");
        assert!(s.starts_with("DO $m$BEGIN"), "{s}");
        assert!(s.contains("rolname = 'evil$$; DROP ROLE x; $$'"), "{s}");
        assert!(
            s.contains("CREATE ROLE \"evil$$; DROP ROLE x; $$\" LOGIN"),
            "{s}"
        );
        let t = pg_create_role("$m$");
        assert!(t.starts_with("DO $m1$"), "{t}");
    }

    #[test]
    fn accounts_keep_their_hash_and_move_their_grants() {
        let s = maria_recreate(
            "CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*ABC'",
            "GRANT USAGE ON *.* TO `app`@`%`\nGRANT ALL PRIVILEGES ON `old`.* TO `app`@`%`\n",
            "old",
            "new",
        );
        assert_eq!(
            s,
            "CREATE USER IF NOT EXISTS `app`@`%` IDENTIFIED BY PASSWORD '*ABC';\nGRANT USAGE ON *.* TO `app`@`%`;\nGRANT ALL PRIVILEGES ON `new`.* TO `app`@`%`;\n"
        );
    }

    #[test]
    fn names_are_kept_once_in_order() {
        let mut v = vec!["a".to_string()];
        names("b\n a\n\nc\nb\n", &mut v);
        assert_eq!(v, ["a", "b", "c"]);
    }
}
