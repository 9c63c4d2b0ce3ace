//! `manual`: a person makes the change in a control panel. The caller
//! prints `ChangeSet::manual_instructions` and then polls the
//! authoritative servers until the change is visible.

use super::{BoxFut, Provider};
use crate::change::ChangeSet;
use crate::error::Result;
use crate::record::Rrset;

pub struct Manual;

impl Provider for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }
    fn min_ttl<'a>(&'a self, _zone: &'a str) -> BoxFut<'a, Result<u32>> {
        Box::pin(async { Ok(1) })
    }
    fn list<'a>(&'a self, _zone: &'a str) -> BoxFut<'a, Result<Option<Vec<Rrset>>>> {
        Box::pin(async { Ok(None) })
    }
    fn apply<'a>(&'a self, _set: &'a ChangeSet) -> BoxFut<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn is_manual(&self) -> bool {
        true
    }
}
