//! Questions plugins ask of the migration's [`Context`], answered in one
//! place so every plugin reads it the same way.

use crate::{Context, LayoutKind, Side, SideContext};

impl Context {
    /// The old and the new domain, when the domain changes with the move.
    pub fn domain_change(&self) -> Option<(&str, &str)> {
        let old = self.old_domain.as_deref()?;
        (old != self.domain).then_some((old, self.domain.as_str()))
    }

    pub fn side(&self, side: Side) -> &SideContext {
        match side {
            Side::Source => &self.source,
            Side::Destination => &self.destination,
        }
    }
}

impl SideContext {
    /// The app runs from an image (compose, stack, the Discourse launcher
    /// or Mailu's setup): what the image's build did is done already.
    pub fn runs_in_containers(&self) -> bool {
        !matches!(self.layout, LayoutKind::Directory)
    }

    /// The swarm stack's name, for a Co-op Cloud (`stack`) side.
    pub fn stack_name(&self) -> Option<&str> {
        match self.layout {
            LayoutKind::Stack => self.stack.as_deref().filter(|s| !s.is_empty()),
            _ => None,
        }
    }
}
