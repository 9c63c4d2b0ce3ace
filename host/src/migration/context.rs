//! The plugin context of a migration: the domain (and the old one when it
//! changes), each side's layout, stack name and app directory, and the
//! target version the operator named. Built once from the definition and
//! the recipe's main mount, and passed to every plugin call whose answer
//! depends on it (contract 0.2; a 0.1 plugin reads it through `setting()`).

use super::definition::{Migration, Side};
use super::layout::Project;
use crate::plugin::{Context, LayoutKind, SideContext};

/// `mount`: the recipe's main volume mount (the app's directory inside its
/// container, e.g. Nextcloud's /var/www/html).
pub fn of(mig: &Migration, mount: Option<&str>) -> Context {
    Context {
        domain: mig.domain.clone(),
        // Only a real change: the same name twice is no move of domain.
        old_domain: mig.old_domain.clone().filter(|old| *old != mig.domain),
        source: side(&mig.source, mount),
        destination: side(&mig.destination, mount),
        // Only a target the operator named: the detected version is in the
        // plugin's canonical form (28.0.4.1), which is not what the app
        // reports (status.php's versionstring says 28.0.4).
        target_version: mig.target_version.clone(),
    }
}

fn side(def: &Side, mount: Option<&str>) -> SideContext {
    let layout = if def.stack.is_some() {
        LayoutKind::Stack
    } else if def.compose.is_some() {
        LayoutKind::Compose
    } else {
        LayoutKind::Directory
    };
    // The app's directory as the app itself sees it: the recipe's mount in
    // a container, the root in a plain install.
    let app_dir = match (Project::of(def), mount) {
        (Some(_), Some(m)) => m.to_string(),
        _ => def.root.clone(),
    };
    SideContext {
        layout,
        stack: def.stack.clone(),
        app_dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mig() -> Migration {
        super::super::definition::parse(
            "m.toml",
            r#"app = "nextcloud"
domain = "cloud.example.net"

[source]
host = "ssh://root@127.0.0.2:22"
root = "/srv/nextcloud"

[destination]
host = "ssh://root@127.0.0.3:22"
stack = "cloud_example_net"
root = "/var/lib/docker/volumes/cloud_example_net_html/_data"
"#,
        )
        .expect("definition")
    }

    #[test]
    fn each_side_says_its_layout_stack_and_app_dir() {
        let ctx = of(&mig(), Some("/var/www/html"));
        assert_eq!(ctx.domain, "cloud.example.net");
        assert_eq!(ctx.source.layout, LayoutKind::Directory);
        assert_eq!(ctx.source.app_dir, "/srv/nextcloud");
        assert_eq!(ctx.source.stack, None);
        assert_eq!(ctx.destination.layout, LayoutKind::Stack);
        assert_eq!(ctx.destination.stack.as_deref(), Some("cloud_example_net"));
        assert_eq!(ctx.destination.app_dir, "/var/www/html");
        assert_eq!((ctx.old_domain, ctx.target_version), (None, None));
        // Without a recipe mount a container's app dir is its root.
        let ctx = of(&mig(), None);
        assert!(ctx.destination.app_dir.ends_with("/_data"));
    }

    #[test]
    fn the_old_domain_is_there_only_when_it_differs() {
        let mut m = mig();
        m.old_domain = Some("nc.example.org".into());
        m.target_version = Some("29.0.1".into());
        let ctx = of(&m, None);
        assert_eq!(ctx.old_domain.as_deref(), Some("nc.example.org"));
        assert_eq!(ctx.target_version.as_deref(), Some("29.0.1"));
        m.old_domain = Some("cloud.example.net".into());
        assert_eq!(of(&m, None).old_domain, None);
    }
}
