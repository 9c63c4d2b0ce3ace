//! The database engines moved by dump and load.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    Postgresql,
    Mariadb,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}`: expected postgres or mariadb")]
pub struct UnknownEngine {
    pub given: String,
}

impl Engine {
    /// Every spelling used by recipes, definitions and the command line.
    /// Other engines (sqlite, redis) are not moved by dump and load: None.
    pub fn parse(name: &str) -> Option<Engine> {
        match name.trim().to_ascii_lowercase().as_str() {
            "postgresql" | "postgres" | "pg" => Some(Engine::Postgresql),
            "mariadb" | "mysql" => Some(Engine::Mariadb),
            _ => None,
        }
    }

    /// The canonical name (what recipes and plans write).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgresql",
            Engine::Mariadb => "mariadb",
        }
    }

    /// A database that always exists, for statements about the server.
    pub fn admin_db(self) -> &'static str {
        match self {
            Engine::Postgresql => "postgres",
            Engine::Mariadb => "information_schema",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = UnknownEngine;
    fn from_str(s: &str) -> Result<Engine, UnknownEngine> {
        Engine::parse(s).ok_or_else(|| UnknownEngine {
            given: s.to_string(),
        })
    }
}

impl Serialize for Engine {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Engine, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses() {
        for s in ["postgres", "postgresql", "pg", "PostgreSQL"] {
            assert_eq!(s.parse::<Engine>(), Ok(Engine::Postgresql), "{s}");
        }
        for s in ["mariadb", "mysql", "MySQL"] {
            assert_eq!(s.parse::<Engine>(), Ok(Engine::Mariadb), "{s}");
        }
        let e = "sqlite".parse::<Engine>().unwrap_err();
        assert_eq!(e.to_string(), "`sqlite`: expected postgres or mariadb");
        assert_eq!(Engine::parse("redis"), None);
    }

    #[test]
    fn serde_writes_the_canonical_name_and_reads_any() {
        assert_eq!(
            serde_json::to_string(&Engine::Postgresql).unwrap(),
            "\"postgresql\""
        );
        let e: Engine = serde_json::from_str("\"mysql\"").unwrap();
        assert_eq!(e, Engine::Mariadb);
        assert!(serde_json::from_str::<Engine>("\"oracle\"").is_err());
    }
}
